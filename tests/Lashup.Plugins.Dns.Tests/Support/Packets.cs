using System.Buffers.Binary;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Support;

/// <summary>Builds packets octet by octet, so hostile inputs read like the bytes they are.</summary>
internal static class Packets
{
    public static byte[] Header(ushort id = 0x1234, ushort flags = 0x0100, ushort qd = 1, ushort an = 0, ushort ns = 0, ushort ar = 0)
    {
        var header = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), qd);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), an);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(8), ns);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), ar);
        return header;
    }

    public static byte[] Name(string text) => DnsName.FromText(text);

    public static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    public static byte[] U32(uint value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    public static byte[] TypeClass(DnsRecordType type = DnsRecordType.A, ushort questionClass = 1) => [.. U16((ushort)type), .. U16(questionClass)];

    /// <summary>An OPT record: root owner, payload size, TTL from the parts, RDATA as given.</summary>
    public static byte[] Opt(ushort payload = 1232, byte version = 0, bool dnssecOk = false, byte extendedRcode = 0, byte[]? data = null, int? dataLength = null)
    {
        data ??= [];
        var ttl = ((uint)extendedRcode << 24) | ((uint)version << 16) | (dnssecOk ? 0x8000u : 0u);
        return [0, .. U16(41), .. U16(payload), .. U32(ttl), .. U16(dataLength ?? data.Length), .. data];
    }

    public static byte[] Option(ushort code, byte[] data, int? length = null) => [.. U16(code), .. U16(length ?? data.Length), .. data];

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>A plain query for <paramref name="name"/>, with an OPT record when <paramref name="payload"/> is given.</summary>
    public static byte[] Query(string name, DnsRecordType type = DnsRecordType.A, ushort? payload = null, bool dnssecOk = false, ushort id = 0x1234)
    {
        return payload is { } size
            ? Concat(Header(id, ar: 1), Name(name), TypeClass(type), Opt(size, dnssecOk: dnssecOk))
            : Concat(Header(id), Name(name), TypeClass(type));
    }

    public static DnsQuery Parse(byte[] packet)
    {
        Assert.True(DnsQueryParser.TryParse(packet, out var query, out var error), $"parse failed: {error}");
        return query;
    }
}
