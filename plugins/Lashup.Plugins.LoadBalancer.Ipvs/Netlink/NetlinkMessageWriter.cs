using System.Buffers.Binary;
using System.Text;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

/// <summary>
/// Builds one generic netlink request: nlmsghdr, genlmsghdr, then attributes (4-byte aligned, nested ones flagged
/// NLA_F_NESTED). Integers go in host byte order except where a method says big-endian. The length and sequence number
/// are filled in by <see cref="Finish"/>.
/// </summary>
internal sealed class NetlinkMessageWriter
{
    /// <summary>Requests are small (one service and one destination at most); anything larger is a bug.</summary>
    private const int MaxLength = 64 * 1024;

    private readonly Stack<int> _nests = new();
    private byte[] _buffer = new byte[256];
    private int _length;

    /// <param name="family">The generic netlink family id (the nlmsghdr type).</param>
    /// <param name="flags">NLM_F_* flags.</param>
    /// <param name="command">The family's command.</param>
    /// <param name="version">The family's interface version.</param>
    public NetlinkMessageWriter(ushort family, ushort flags, byte command, byte version)
    {
        var header = Reserve(NetlinkWire.MessageHeaderLength + NetlinkWire.GenericHeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], family);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], flags);
        header[16] = command;
        header[17] = version;
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

    /// <summary>The finished message, numbered <paramref name="sequence"/>.</summary>
    public byte[] Finish(uint sequence)
    {
        if (_nests.Count > 0)
        {
            throw new InvalidOperationException("a nested attribute was not closed");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_buffer, (uint)_length);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(8), sequence);
        return _buffer.AsSpan(0, _length).ToArray();
    }

    private Span<byte> Attribute(ushort type, int valueLength)
    {
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
        if (_length + padded > MaxLength)
        {
            throw new InvalidOperationException($"a netlink request over {MaxLength} bytes");
        }

        if (_length + padded > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Min(MaxLength, Math.Max(_buffer.Length * 2, _length + padded)));
        }

        var span = _buffer.AsSpan(_length, padded);
        span.Clear();
        _length += padded;
        return span[..length];
    }
}
