// Why this parser is hand-written: it runs once per query on the server's hot path, and the DNS plugin has to keep up
// with nsd and knot under dnsperf. It reads a span over a pooled receive buffer and allocates nothing: the name goes
// into a buffer inside DnsQuery, EDNS is a few fields, records we do not need are skipped in place. The .NET DNS
// libraries (ARSoft.Tools.Net, DnsClient) build an object graph per message (message, question, name, label strings,
// record lists), which is right for a client and too slow for a server. They are still used, as independent oracles,
// in the tests: queries they encode must parse here to the same question and EDNS, and responses written by
// DnsResponseWriter must parse there to the same records.
//
// Every packet is hostile until proven otherwise: no input throws, nothing is allocated in proportion to the input,
// every count from the header is bounded by the bytes actually present, and compression pointers must point strictly
// before the label run they appear in (see DnsName.Read), so they cannot loop.
using System.Buffers.Binary;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>Parses DNS queries (RFC 1035 §4, EDNS0 per RFC 6891).</summary>
internal static class DnsQueryParser
{
    /// <summary>The OPT pseudo-record type.</summary>
    internal const ushort OptType = 41;

    private const int FixedRecordFields = 10;
    private const int QuestionFields = 4;

    /// <summary>
    /// Parses <paramref name="packet"/> as a query. On failure <paramref name="query"/> still holds what was read
    /// (<see cref="DnsQuery.HasHeader"/>, <see cref="DnsQuery.HasQuestion"/>, and for
    /// <see cref="DnsParseError.BadEdnsVersion"/> the EDNS information) so that the error response can be written;
    /// <see cref="DnsParseErrorExtensions.TryGetResponseCode"/> says which. Trailing octets after the last record are
    /// ignored.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> packet, out DnsQuery query, out DnsParseError error)
    {
        query = default;
        error = Parse(packet, ref query);
        if (error is not DnsParseError.None and not DnsParseError.BadEdnsVersion)
        {
            // A malformed query gets a plain FORMERR: its OPT record, if any, is not to be trusted.
            query.Edns = default;
        }

        return error == DnsParseError.None;
    }

    private static DnsParseError Parse(ReadOnlySpan<byte> packet, ref DnsQuery query)
    {
        if (!DnsHeader.TryRead(packet, out var header))
        {
            return DnsParseError.TruncatedHeader;
        }

        query.Header = header;
        query.HasHeader = true;
        if (header.IsResponse)
        {
            return DnsParseError.NotAQuery;
        }

        if (header.Opcode != DnsOpcode.Query)
        {
            return DnsParseError.OpcodeNotImplemented;
        }

        if (header.QuestionCount != 1)
        {
            return DnsParseError.QuestionCount;
        }

        if (header.AnswerCount != 0)
        {
            return DnsParseError.AnswersInQuery;
        }

        var error = DnsName.Read(packet, DnsHeader.Size, query.NameBuffer, toLower: true, out var nameLength, out var position);
        if (error != DnsParseError.None)
        {
            return error == DnsParseError.TruncatedRecord ? DnsParseError.TruncatedQuestion : error;
        }

        if (packet.Length - position < QuestionFields)
        {
            return DnsParseError.TruncatedQuestion;
        }

        query.SetNameLength(nameLength);
        query.NameHash = DnsName.GetHashCodeOfLowerCase(query.Name);
        query.QuestionType = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(packet[position..]);
        query.QuestionClass = BinaryPrimitives.ReadUInt16BigEndian(packet[(position + 2)..]);
        position += QuestionFields;
        query.QuestionEnd = position;
        query.HasQuestion = true;

        return header.AuthorityCount == 0 && header.AdditionalCount == 0
            ? DnsParseError.None
            : ParseRecords(packet, position, header, ref query);
    }

    /// <summary>Walks the authority and additional sections: skips ordinary records, reads the one OPT record.</summary>
    private static DnsParseError ParseRecords(ReadOnlySpan<byte> packet, int position, DnsHeader header, ref DnsQuery query)
    {
        var total = header.AuthorityCount + header.AdditionalCount;
        var badVersion = false;
        for (var i = 0; i < total; i++)
        {
            // Each record takes at least 11 octets, so a lying count runs out of packet after a few iterations.
            var error = DnsName.Read(packet, position, [], toLower: false, out var ownerLength, out position);
            if (error != DnsParseError.None)
            {
                return error;
            }

            if (packet.Length - position < FixedRecordFields)
            {
                return DnsParseError.TruncatedRecord;
            }

            var fields = packet[position..];
            var type = BinaryPrimitives.ReadUInt16BigEndian(fields);
            var payloadSize = BinaryPrimitives.ReadUInt16BigEndian(fields[2..]);
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(fields[4..]);
            int dataLength = BinaryPrimitives.ReadUInt16BigEndian(fields[8..]);
            position += FixedRecordFields;
            if (type != OptType)
            {
                if (dataLength > packet.Length - position)
                {
                    return DnsParseError.TruncatedRecord;
                }

                position += dataLength;
                continue;
            }

            if (i < header.AuthorityCount)
            {
                return DnsParseError.OptNotInAdditional;
            }

            if (query.Edns.IsPresent)
            {
                return DnsParseError.MultipleOpt;
            }

            if (ownerLength != 1)
            {
                return DnsParseError.OptOwnerNotRoot;
            }

            if (dataLength > packet.Length - position)
            {
                return DnsParseError.OptLengthMismatch;
            }

            if (!OptionsAreWellFormed(packet.Slice(position, dataLength)))
            {
                return DnsParseError.BadOption;
            }

            // TTL of OPT: extended RCODE (8) | VERSION (8) | DO (1) | Z (15).
            var version = (byte)(ttl >> 16);
            query.Edns = new DnsEdns(
                IsPresent: true,
                UdpPayloadSize: payloadSize,
                Version: version,
                DnssecOk: (ttl & 0x8000) != 0,
                ExtendedResponseCode: (byte)(ttl >> 24));
            badVersion = version != 0;
            position += dataLength;
        }

        return badVersion ? DnsParseError.BadEdnsVersion : DnsParseError.None;
    }

    /// <summary>Options are {code, length, data}; none we know of matters to an authoritative answer, so all are skipped.</summary>
    private static bool OptionsAreWellFormed(ReadOnlySpan<byte> options)
    {
        while (!options.IsEmpty)
        {
            if (options.Length < 4)
            {
                return false;
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(options[2..]);
            if (length > options.Length - 4)
            {
                return false;
            }

            options = options[(4 + length)..];
        }

        return true;
    }
}
