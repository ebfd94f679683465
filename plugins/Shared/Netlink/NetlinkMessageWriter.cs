using System.Buffers.Binary;
using System.Text;

namespace Lashup.Netlink;

/// <summary>
/// Builds netlink requests, one or several in one buffer (many messages go out in one <c>sendmsg</c>): each message is
/// an nlmsghdr, the protocol's fixed header (genlmsghdr, ifinfomsg, rtmsg, ...), then attributes (4-byte aligned,
/// nested ones flagged NLA_F_NESTED). Integers go in host byte order except where a method says big-endian. Lengths and
/// sequence numbers are filled in by <see cref="Finish"/>. The buffer never grows past the limit given (a larger
/// request is a bug, reported as <see cref="InvalidOperationException"/>).
/// </summary>
internal sealed class NetlinkMessageWriter
{
    /// <summary>The default limit: one request of a few attributes is far smaller.</summary>
    public const int DefaultMaxLength = 64 * 1024;

    private readonly Stack<int> _nests = new();
    private readonly List<int> _starts = [];
    private readonly int _maxLength;
    private byte[] _buffer = new byte[256];
    private int _length;

    /// <summary>An empty writer; <see cref="Begin"/> starts each message.</summary>
    /// <param name="maxLength">The most bytes all its messages may take.</param>
    public NetlinkMessageWriter(int maxLength = DefaultMaxLength) => _maxLength = maxLength;

    /// <summary>A writer with one message begun (<see cref="Begin"/>).</summary>
    public NetlinkMessageWriter(ushort type, ushort flags, ReadOnlySpan<byte> familyHeader)
        : this() => Begin(type, flags, familyHeader);

    /// <summary>How many messages were begun.</summary>
    public int MessageCount => _starts.Count;

    /// <summary>The bytes written so far.</summary>
    public int Length => _length;

    /// <summary>Where each message starts in <see cref="Finish"/>'s bytes.</summary>
    public IReadOnlyList<int> MessageStarts => _starts;

    /// <summary>Starts a message: its header, then <paramref name="familyHeader"/> (padded to 4).</summary>
    /// <param name="type">The nlmsghdr type (an RTM_* or a generic netlink family id).</param>
    /// <param name="flags">NLM_F_* flags.</param>
    /// <param name="familyHeader">The protocol's fixed header, as it goes on the wire.</param>
    public NetlinkMessageWriter Begin(ushort type, ushort flags, ReadOnlySpan<byte> familyHeader)
    {
        if (_nests.Count > 0)
        {
            throw new InvalidOperationException("a nested attribute was not closed");
        }

        _starts.Add(_length);
        var header = Reserve(NetlinkWire.MessageHeaderLength + familyHeader.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        familyHeader.CopyTo(header[NetlinkWire.MessageHeaderLength..]);
        return this;
    }

    public NetlinkMessageWriter PutU8(ushort type, byte value)
    {
        Attribute(type, 1)[0] = value;
        return this;
    }

    public NetlinkMessageWriter PutU16(ushort type, ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(Attribute(type, 2), value);
        return this;
    }

    /// <summary>A u16 in network byte order (a port: <c>__be16</c>).</summary>
    public NetlinkMessageWriter PutBigEndianU16(ushort type, ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(Attribute(type, 2), value);
        return this;
    }

    public NetlinkMessageWriter PutU32(ushort type, uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Attribute(type, 4), value);
        return this;
    }

    public NetlinkMessageWriter PutBytes(ushort type, ReadOnlySpan<byte> value)
    {
        value.CopyTo(Attribute(type, value.Length));
        return this;
    }

    /// <summary>An ASCII string with its terminating NUL (NLA_NUL_STRING / NLA_STRING).</summary>
    public NetlinkMessageWriter PutString(ushort type, string value)
    {
        var target = Attribute(type, Encoding.ASCII.GetByteCount(value) + 1);
        Encoding.ASCII.GetBytes(value, target);
        target[^1] = 0;
        return this;
    }

    /// <summary>Opens a nested attribute; the attributes put until <see cref="EndNested"/> go inside it.</summary>
    public NetlinkMessageWriter BeginNested(ushort type)
    {
        _nests.Push(_length);
        var header = Reserve(NetlinkWire.AttributeHeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], (ushort)(type | NetlinkWire.NLA_F_NESTED));
        return this;
    }

    public NetlinkMessageWriter EndNested()
    {
        var start = _nests.Pop();
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(start), checked((ushort)(_length - start)));
        return this;
    }

    /// <summary>
    /// The finished messages, numbered <paramref name="firstSequence"/>, <paramref name="firstSequence"/> + 1, ... in
    /// the order they were begun. The writer may be finished again (with other numbers) or added to.
    /// </summary>
    public byte[] Finish(uint firstSequence)
    {
        if (_nests.Count > 0)
        {
            throw new InvalidOperationException("a nested attribute was not closed");
        }

        if (_starts.Count == 0)
        {
            throw new InvalidOperationException("no message was begun");
        }

        for (var i = 0; i < _starts.Count; i++)
        {
            var end = i + 1 < _starts.Count ? _starts[i + 1] : _length;
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_starts[i]), (uint)(end - _starts[i]));
            BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_starts[i] + 8), unchecked(firstSequence + (uint)i));
        }

        return _buffer.AsSpan(0, _length).ToArray();
    }

    private Span<byte> Attribute(ushort type, int valueLength)
    {
        if (_starts.Count == 0)
        {
            throw new InvalidOperationException("an attribute before any message was begun");
        }

        var length = NetlinkWire.AttributeHeaderLength + valueLength;
        var span = Reserve(length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)length));
        BinaryPrimitives.WriteUInt16LittleEndian(span[2..], type);
        return span.Slice(NetlinkWire.AttributeHeaderLength, valueLength);
    }

    /// <summary>Appends <paramref name="length"/> zeroed bytes plus padding to 4; the unpadded part is returned.</summary>
    private Span<byte> Reserve(int length)
    {
        var padded = NetlinkWire.Align(length);
        if (_length + padded > _maxLength)
        {
            throw new InvalidOperationException($"a netlink request over {_maxLength} bytes");
        }

        if (_length + padded > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Min(_maxLength, Math.Max(_buffer.Length * 2, _length + padded)));
        }

        var span = _buffer.AsSpan(_length, padded);
        span.Clear();
        _length += padded;
        return span[..length];
    }
}
