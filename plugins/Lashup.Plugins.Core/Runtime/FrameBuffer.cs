using System.Buffers;
using System.Collections.Concurrent;
using Lashup.Plugins.Core.Protocol;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// One stream frame as it arrives: segments of <see cref="StreamLimits.SegmentSize"/> rented one at a time, only when
/// the bytes before them have arrived and only if the connection's <see cref="ByteBudget"/> has room, so a peer that
/// announces 16 MiB and sends nothing costs nothing. Full segments live on the pinned object heap (see
/// <see cref="Segments"/>); a frame's last piece of up to 32 KiB comes from the shared pool. A frame larger than one segment is copied
/// into one plain array to be decoded (AES-GCM needs it whole), each segment going back as it is copied; that array is
/// left to the GC rather than pooled: a pool keeps what it is given, which is how 24 connections once left 385 MiB
/// resident after they closed. Every byte held is on the node's buffered-bytes gauge until <see cref="Clear"/>, which
/// the reader calls on every path (frame done, error, close, shutdown).
/// </summary>
internal sealed class FrameBuffer(NodeStats stats) : IDisposable
{
    private const int Segment = StreamLimits.SegmentSize;
    private readonly List<byte[]> _segments = [];
    private ByteBudget? _budget;
    private byte[]? _whole;
    private int _size;
    private bool _authenticated;

    /// <summary>Bytes of the frame received so far.</summary>
    public int Length { get; private set; }

    /// <summary>Starts a frame of <paramref name="size"/> bytes, its segments charged to <paramref name="budget"/>.</summary>
    public void Start(int size, ByteBudget budget, bool authenticated)
    {
        Clear();
        _size = size;
        _budget = budget;
        _authenticated = authenticated;
    }

    /// <summary>
    /// Room for the next bytes of the frame (up to the end of a segment), renting a segment only when the last one is
    /// full; false if the budget has no room for it.
    /// </summary>
    public bool TryGetMemory(out Memory<byte> memory)
    {
        var index = Length / Segment;
        var offset = Length % Segment;
        var room = Math.Min(Segment, _size - (index * Segment));
        if (index == _segments.Count)
        {
            // The pool rounds up to a power of two: charge what is held, not what was asked.
            var segment = Segments.Rent(room);
            if (!_budget!.TryCharge(segment.Length))
            {
                Segments.Return(segment);
                memory = default;
                return false;
            }

            _segments.Add(segment);
            stats.AddStreamBuffered(_authenticated, segment.Length);
        }

        memory = _segments[index].AsMemory(offset, room - offset);
        return true;
    }

    public void Advance(int count) => Length += count;

    /// <summary>Appends <paramref name="bytes"/>; false if the budget has no room for them.</summary>
    public bool TryWrite(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            if (!TryGetMemory(out var memory))
            {
                return false;
            }

            var count = Math.Min(memory.Length, bytes.Length);
            bytes[..count].CopyTo(memory.Span);
            Advance(count);
            bytes = bytes[count..];
        }

        return true;
    }

    /// <summary>
    /// The whole frame in one piece: the only segment, or a copy of them all. The copy is on the gauge but not charged
    /// to the budget: it exists only while a complete frame is decoded, and the segments it replaces go back as it fills.
    /// </summary>
    public ReadOnlySpan<byte> Frame()
    {
        if (_segments.Count == 1)
        {
            return _segments[0].AsSpan(0, Length);
        }

        if (_whole is null)
        {
            _whole = GC.AllocateUninitializedArray<byte>(Length);
            stats.AddStreamBuffered(_authenticated, _whole.Length);
            var offset = 0;
            foreach (var segment in _segments)
            {
                var count = Math.Min(Segment, Length - offset);
                segment.AsSpan(0, count).CopyTo(_whole.AsSpan(offset));
                offset += count;
                ReturnSegment(segment);
            }

            _segments.Clear();
        }

        return _whole.AsSpan(0, Length);
    }

    /// <summary>Gives back everything held (segments to the pool and their bytes to the budget, the copy to the GC).</summary>
    public void Clear()
    {
        foreach (var segment in _segments)
        {
            ReturnSegment(segment);
        }

        _segments.Clear();
        if (_whole is not null)
        {
            stats.AddStreamBuffered(_authenticated, -_whole.Length);
            _whole = null;
        }

        Length = 0;
        _size = 0;
    }

    public void Dispose() => Clear();

    private void ReturnSegment(byte[] segment)
    {
        _budget!.Release(segment.Length);
        stats.AddStreamBuffered(_authenticated, -segment.Length);
        Segments.Return(segment);
    }

    /// <summary>
    /// Where segments come from. A socket read pins its buffer, and pinned arrays among young objects keep the GC from
    /// compacting around them: with segments from the shared pool (small-object heap), a daemon holding 30 MiB of
    /// frames grew by 36-114 MiB. Full segments are therefore allocated on the pinned object heap, which is never
    /// compacted; up to <see cref="MaxIdle"/> idle ones (4 MiB) are kept for reuse, the rest go back to the GC.
    /// </summary>
    internal static class Segments
    {
        public const int MaxIdle = 64;
        private const int SmallLimit = Segment / 2;
        private static readonly ConcurrentStack<byte[]> Idle = new();
        private static int _idle;

        /// <summary>An array of at least <paramref name="size"/> bytes (at most one segment).</summary>
        public static byte[] Rent(int size)
        {
            if (size <= SmallLimit)
            {
                return ArrayPool<byte>.Shared.Rent(size);
            }

            if (Idle.TryPop(out var segment))
            {
                Interlocked.Decrement(ref _idle);
                return segment;
            }

            return GC.AllocateUninitializedArray<byte>(Segment, pinned: true);
        }

        public static void Return(byte[] segment)
        {
            if (segment.Length != Segment)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }
            else if (Interlocked.Increment(ref _idle) <= MaxIdle)
            {
                Idle.Push(segment);
            }
            else
            {
                Interlocked.Decrement(ref _idle);
            }
        }
    }
}
