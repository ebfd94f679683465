using System.Buffers.Binary;
using System.Text;

namespace Lashup.Netlink;

/// <summary>
/// The attributes of one level of a netlink message, read with every length checked against what is there: an
/// attribute shorter than its header, longer than the bytes left, or a value of the wrong size for its type is a
/// <see cref="NetlinkException"/>, never a read past the end. The NLA_F_NESTED and NLA_F_NET_BYTEORDER bits are not part
/// of the type. Of two attributes of one type the last wins (as the kernel's nla_parse).
/// </summary>
internal sealed class NetlinkAttributes
{
    private readonly Dictionary<ushort, ReadOnlyMemory<byte>> _values;

    private NetlinkAttributes(Dictionary<ushort, ReadOnlyMemory<byte>> values) => _values = values;

    /// <summary>Parses <paramref name="data"/>, which holds attributes only.</summary>
    /// <param name="data">The bytes.</param>
    /// <param name="where">What they belong to, for the error text.</param>
    public static NetlinkAttributes Parse(ReadOnlyMemory<byte> data, string where)
    {
        var values = new Dictionary<ushort, ReadOnlyMemory<byte>>();
        var offset = 0;
        var span = data.Span;
        while (span.Length - offset >= NetlinkWire.AttributeHeaderLength)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            var type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 2)..]) & NetlinkWire.NLA_TYPE_MASK);
            if (length < NetlinkWire.AttributeHeaderLength || length > span.Length - offset)
            {
                throw new NetlinkException($"malformed netlink reply: attribute {type} of {where} says {length} bytes, {span.Length - offset} are left");
            }

            values[type] = data.Slice(offset + NetlinkWire.AttributeHeaderLength, length - NetlinkWire.AttributeHeaderLength);
            offset += Math.Min(NetlinkWire.Align(length), span.Length - offset);
        }

        if (offset != span.Length)
        {
            throw new NetlinkException($"malformed netlink reply: {span.Length - offset} stray byte(s) after the attributes of {where}");
        }

        return new NetlinkAttributes(values);
    }

    public bool Has(ushort type) => _values.ContainsKey(type);

    public ReadOnlyMemory<byte>? Bytes(ushort type) => _values.TryGetValue(type, out var value) ? value : (ReadOnlyMemory<byte>?)null;

    public byte? U8(ushort type) => Fixed(type, 1) is { } v ? v.Span[0] : null;

    public ushort? U16(ushort type) => Fixed(type, 2) is { } v ? BinaryPrimitives.ReadUInt16LittleEndian(v.Span) : null;

    /// <summary>A u16 in network byte order (a port).</summary>
    public ushort? BigEndianU16(ushort type) => Fixed(type, 2) is { } v ? BinaryPrimitives.ReadUInt16BigEndian(v.Span) : null;

    public uint? U32(ushort type) => Fixed(type, 4) is { } v ? BinaryPrimitives.ReadUInt32LittleEndian(v.Span) : null;

    /// <summary>A NUL-terminated ASCII string (the NUL and anything after it dropped).</summary>
    public string? String(ushort type)
    {
        if (!_values.TryGetValue(type, out var value))
        {
            return null;
        }

        var span = value.Span;
        var end = span.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
    }

    /// <summary>The attributes nested in <paramref name="type"/>, or null when it is absent.</summary>
    public NetlinkAttributes? Nested(ushort type, string where) =>
        _values.TryGetValue(type, out var value) ? Parse(value, where) : null;

    private ReadOnlyMemory<byte>? Fixed(ushort type, int size)
    {
        if (!_values.TryGetValue(type, out var value))
        {
            return null;
        }

        return value.Length == size
            ? value
            : throw new NetlinkException($"malformed netlink reply: attribute {type} has {value.Length} bytes, expected {size}");
    }
}
