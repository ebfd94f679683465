using System.Buffers;
using System.Collections.Concurrent;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// One stream frame as it arrives, in pieces taken only when bytes are there to fill them (the reader waits for data
/// without a buffer) and sized by what has arrived: the first piece holds the header and what is waiting (at least
/// <see cref="StreamLimits.MinPieceSize"/>), each next one as much as the frame has received so far or is waiting, up to
/// <see cref="StreamLimits.SegmentSize"/>. So what a frame holds is at most about twice what its sender really sent,
/// whatever its header announced, and a header alone holds nothing. Every piece is charged to the connection's
/// <see cref="ByteBudgets"/> (the shared budget of its kind and its source's share) and is on the node's buffered-bytes
/// gauge until <see cref="Clear"/>, which the reader calls on every path (frame done, error, close, shutdown).
/// Full segments live on the pinned object heap (see <see cref="Segments"/>), smaller pieces come from the shared pool.
/// A plain frame is decoded from its pieces as they are; a sealed one is opened in one piece: in several, they are
/// copied into one array, which takes over their charge (the pieces go back as they are copied), so it is counted as
/// they were. That array is left to the GC rather than pooled: a pool keeps what it is given, which is how 24
/// connections once left 385 MiB resident after they closed.
/// </summary>
internal sealed class FrameBuffer(NodeStats stats) : IDisposable
{
    private readonly List<Piece> _pieces = [];
    private readonly byte[] _header = new byte[FrameCodec.HeaderSize];
    private ByteBudgets _budgets;
    private byte[]? _whole;
    private long _charged;
    private int _size;
    private int _count;
    private bool _authenticated;

    /// <summary>Bytes of the frame received so far, its header included.</summary>
    public int Length { get; private set; }

    /// <summary>Whether the whole frame has arrived.</summary>
    public bool Complete => Length == _size;

    /// <summary>Whether the next bytes need a new piece (the reader then waits for them before taking it).</summary>
    public bool NeedsPiece => _count == 0 || _pieces[_count - 1].Used == _pieces[_count - 1].Capacity;

    /// <summary>Bytes held now (and charged).</summary>
    public long Held => _charged;

    /// <summary>
    /// Starts a frame of <paramref name="size"/> bytes whose <paramref name="header"/> has been read; nothing is taken
    /// until its first body bytes arrive (<see cref="TryGetMemory"/>).
    /// </summary>
    public void Start(int size, ReadOnlySpan<byte> header, ByteBudgets budgets, bool authenticated)
    {
        Clear();
        _size = size;
        _budgets = budgets;
        _authenticated = authenticated;
        header[..FrameCodec.HeaderSize].CopyTo(_header);
        Length = FrameCodec.HeaderSize;
    }

    /// <summary>
    /// Room for the next bytes of the frame: the rest of the last piece, or a new piece sized for
    /// <paramref name="waiting"/> bytes (those the socket has ready) and the bytes received so far. Refused (and nothing
    /// taken) with the reason to close the connection if the budgets have no room for a new piece.
    /// </summary>
    public ConnectionCloseReason TryGetMemory(int waiting, out Memory<byte> memory)
    {
        if (Complete)
        {
            memory = default;
            return ConnectionCloseReason.None;
        }

        if (_count > 0 && _pieces[_count - 1] is { } last && last.Used < last.Capacity)
        {
            memory = last.Array.AsMemory(last.Used, last.Capacity - last.Used);
            return ConnectionCloseReason.None;
        }

        var first = _count == 0;
        var start = first ? 0 : Length;
        var want = Math.Clamp(Math.Max(Length, waiting + (first ? FrameCodec.HeaderSize : 0)), StreamLimits.MinPieceSize, StreamLimits.SegmentSize);
        var array = Segments.Rent(Math.Min(want, _size - start));
        var refusal = _budgets.TryCharge(array.Length);
        if (refusal != ConnectionCloseReason.None)
        {
            Segments.Return(array);
            memory = default;
            return refusal;
        }

        _charged += array.Length;
        stats.AddStreamBuffered(_authenticated, array.Length);
        if (_count == _pieces.Count)
        {
            _pieces.Add(new Piece());
        }

        var piece = _pieces[_count++];
        piece.Array = array;
        piece.Capacity = Math.Min(array.Length, _size - start);
        piece.Used = 0;
        if (first)
        {
            _header.CopyTo(array, 0);
            piece.Used = FrameCodec.HeaderSize;
        }

        memory = array.AsMemory(piece.Used, piece.Capacity - piece.Used);
        return ConnectionCloseReason.None;
    }

    /// <summary><paramref name="count"/> bytes were written into the memory <see cref="TryGetMemory"/> gave.</summary>
    public void Advance(int count)
    {
        _pieces[_count - 1].Used += count;
        Length += count;
    }

    /// <summary>
    /// Appends body bytes (tests; the reader receives into <see cref="TryGetMemory"/>); false if the budgets have no
    /// room or the frame has no room left.
    /// </summary>
    public bool TryWrite(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            if (TryGetMemory(bytes.Length, out var memory) != ConnectionCloseReason.None || memory.IsEmpty)
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

    /// <summary>Decodes the complete frame (see the class summary for how it is read).</summary>
    public DropReason Decode(FrameCodec codec, out Envelope? envelope)
    {
        if (_count == 0)
        {
            return codec.TryDecodeInPlace(_header, out envelope); // a header alone (never valid; decoded to say why)
        }

        if (_count == 1)
        {
            return codec.TryDecodeInPlace(_pieces[0].Array.AsMemory(0, Length), out envelope);
        }

        if (!FrameCodec.IsSealed(_header))
        {
            return codec.TryDecode(Sequence(), out envelope);
        }

        return codec.TryDecodeInPlace(Join(), out envelope);
    }

    /// <summary>The frame's bytes in one array (tests).</summary>
    public byte[] ToArray() => _count == 0 ? [.. _header] : Sequence().ToArray();

    /// <summary>Gives back everything held (pieces to the pool and their bytes to the budgets, the joined copy to the GC).</summary>
    public void Clear()
    {
        for (var i = 0; i < _count; i++)
        {
            Segments.Return(_pieces[i].Array);
            _pieces[i].Array = [];
        }

        _count = 0;
        _whole = null;
        if (_charged > 0)
        {
            _budgets.Release(_charged);
            stats.AddStreamBuffered(_authenticated, -_charged);
            _charged = 0;
        }

        Length = 0;
        _size = 0;
    }

    public void Dispose() => Clear();

    private ReadOnlySequence<byte> Sequence()
    {
        long running = 0;
        for (var i = 0; i < _count; i++)
        {
            var piece = _pieces[i];
            piece.Link(running, i + 1 < _count ? _pieces[i + 1] : null);
            running += piece.Used;
        }

        var last = _pieces[_count - 1];
        return new ReadOnlySequence<byte>(_pieces[0], 0, last, last.Used);
    }

    /// <summary>The pieces copied into one array, which keeps their charge (the pieces go back as they are copied).</summary>
    private Memory<byte> Join()
    {
        _whole = GC.AllocateUninitializedArray<byte>(Length);
        var offset = 0;
        for (var i = 0; i < _count; i++)
        {
            var piece = _pieces[i];
            piece.Array.AsSpan(0, piece.Used).CopyTo(_whole.AsSpan(offset));
            offset += piece.Used;
            Segments.Return(piece.Array);
            piece.Array = [];
        }

        _count = 0;

        // The pieces were charged at their (pooled, rounded-up) lengths: the copy is charged at its own.
        var excess = _charged - _whole.Length;
        if (excess > 0)
        {
            _budgets.Release(excess);
            stats.AddStreamBuffered(_authenticated, -excess);
            _charged -= excess;
        }

        return _whole;
    }

    private sealed class Piece : ReadOnlySequenceSegment<byte>
    {
        public byte[] Array { get; set; } = [];

        public int Capacity { get; set; }

        public int Used { get; set; }

        public void Link(long runningIndex, Piece? next)
        {
            Memory = Array.AsMemory(0, Used);
            RunningIndex = runningIndex;
            Next = next;
        }
    }

    /// <summary>
    /// Where pieces come from. A socket read pins its buffer, and pinned arrays among young objects keep the GC from
    /// compacting around them: with segments from the shared pool (small-object heap), a daemon holding 30 MiB of
    /// frames grew by 36-114 MiB. Full segments are therefore allocated on the pinned object heap, which is never
    /// compacted; up to <see cref="MaxIdle"/> idle ones (4 MiB) are kept for reuse, the rest go back to the GC.
    /// </summary>
    internal static class Segments
    {
        public const int MaxIdle = 64;
        private const int Segment = StreamLimits.SegmentSize;
        private const int SmallLimit = Segment / 2;
        private static readonly ConcurrentStack<byte[]> Idle = new();
        private static int _idle;

        /// <summary>An array of at least <paramref name="size"/> bytes (at most one segment).</summary>
        public static byte[] Rent(int size)
        {
            if (size <= SmallLimit)
            {
                return ArrayPool<byte>.Shared.Rent(Math.Max(1, size));
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
            if (segment.Length == 0)
            {
                return;
            }

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
