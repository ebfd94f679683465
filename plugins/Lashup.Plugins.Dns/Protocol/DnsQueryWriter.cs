using System.Buffers.Binary;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>Writes queries: for forwarding to upstreams, health checks, and re-encoding a parsed query.</summary>
internal static class DnsQueryWriter
{
    private const int OptRecordSize = 11;

    /// <summary>Writes a query with one question and, when <paramref name="edns"/> is present, an OPT record.</summary>
    /// <param name="destination">The buffer.</param>
    /// <param name="header">Id and flags (opcode, RD, CD, AD); QR and the counts are set here.</param>
    /// <param name="name">The question name, a valid uncompressed wire name, written as given.</param>
    /// <param name="type">QTYPE.</param>
    /// <param name="questionClass">QCLASS.</param>
    /// <param name="edns">The OPT record to send; version, payload size, DO and extended RCODE are written as given.</param>
    /// <param name="written">The length of the query.</param>
    /// <returns>false if the name is invalid or the query does not fit.</returns>
    public static bool TryWrite(Span<byte> destination, DnsHeader header, ReadOnlySpan<byte> name, DnsRecordType type, ushort questionClass, DnsEdns edns, out int written)
    {
        written = 0;
        var nameLength = DnsName.Measure(name);
        if (nameLength < 0 || nameLength != name.Length)
        {
            return false;
        }

        var length = DnsHeader.Size + nameLength + 4 + (edns.IsPresent ? OptRecordSize : 0);
        if (destination.Length < length)
        {
            return false;
        }

        header.IsResponse = false;
        header.QuestionCount = 1;
        header.AnswerCount = 0;
        header.AuthorityCount = 0;
        header.AdditionalCount = (ushort)(edns.IsPresent ? 1 : 0);
        header.TryWrite(destination);
        var position = DnsHeader.Size;
        name.CopyTo(destination[position..]);
        position += nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination[position..], (ushort)type);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(position + 2)..], questionClass);
        position += 4;
        if (edns.IsPresent)
        {
            var opt = destination.Slice(position, OptRecordSize);
            opt[0] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(opt[1..], DnsQueryParser.OptType);
            BinaryPrimitives.WriteUInt16BigEndian(opt[3..], edns.UdpPayloadSize);
            var ttl = ((uint)edns.ExtendedResponseCode << 24) | ((uint)edns.Version << 16) | (edns.DnssecOk ? 0x8000u : 0u);
            BinaryPrimitives.WriteUInt32BigEndian(opt[5..], ttl);
            BinaryPrimitives.WriteUInt16BigEndian(opt[9..], 0);
            position += OptRecordSize;
        }

        written = position;
        return true;
    }

    /// <summary>Re-encodes a parsed query: same header flags, question (lower-cased name) and EDNS; skipped records are not kept.</summary>
    public static bool TryWrite(Span<byte> destination, in DnsQuery query, out int written)
    {
        if (!query.HasQuestion)
        {
            written = 0;
            return false;
        }

        return TryWrite(destination, query.Header, query.Name, query.QuestionType, query.QuestionClass, query.Edns, out written);
    }
}
