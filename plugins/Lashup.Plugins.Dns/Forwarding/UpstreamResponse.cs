using System.Buffers.Binary;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>What a datagram from an upstream means for the query it claims to answer.</summary>
internal enum UpstreamVerdict : byte
{
    /// <summary>Not a well-formed DNS response: ignored, the query keeps waiting.</summary>
    Malformed,

    /// <summary>A response, but not to this query (another id, opcode or question): ignored, the query keeps waiting.</summary>
    Mismatch,

    /// <summary>NOERROR or NXDOMAIN: the answer.</summary>
    Answer,

    /// <summary>TC set: the answer is too large for UDP; ask the same upstream over TCP.</summary>
    Truncated,

    /// <summary>SERVFAIL: the upstream is alive but could not answer; wait for the others.</summary>
    ServerFailure,

    /// <summary>REFUSED, FORMERR, NOTIMP or another error: the upstream will not serve us; wait for the others.</summary>
    Refused,
}

/// <summary>Bounds applied to an upstream answer before it is served or cached.</summary>
/// <param name="MaxTtl">Seconds a positive answer may be cached; TTLs above it are served as it.</param>
/// <param name="NegativeTtlCap">Seconds an NXDOMAIN or NODATA answer may be cached.</param>
internal readonly record struct AnswerLimits(uint MaxTtl, uint NegativeTtlCap);

/// <summary>
/// Checks a response from an upstream against the query sent (RFC 5452 §9.1: id, question name case-insensitively,
/// type and class) and reads it with the hardened <see cref="DnsMessageReader"/>: every record must be well formed.
/// Nothing in it is trusted: counts are bounded by the bytes present, names by the reader's pointer rules.
/// </summary>
internal static class UpstreamResponse
{
    private const int MaxPacket = DnsResponseWriter.MaxMessageSize;

    /// <summary>Inspects <paramref name="message"/>; for <see cref="UpstreamVerdict.Answer"/> builds the servable answer when <paramref name="build"/>.</summary>
    /// <param name="message">The response as received (at most 65535 octets).</param>
    /// <param name="id">The id of the query sent.</param>
    /// <param name="name">The question sent, lower case wire form.</param>
    /// <param name="type">QTYPE sent.</param>
    /// <param name="questionClass">QCLASS sent.</param>
    /// <param name="limits">TTL caps.</param>
    /// <param name="build">Whether to copy the answer (false for answers that arrive after another upstream's won).</param>
    /// <param name="answer">The answer, when built.</param>
    public static UpstreamVerdict Inspect(
        ReadOnlySpan<byte> message,
        ushort id,
        ReadOnlySpan<byte> name,
        DnsRecordType type,
        ushort questionClass,
        AnswerLimits limits,
        bool build,
        out ForwardedAnswer? answer)
    {
        answer = null;
        if (message.Length > MaxPacket)
        {
            return UpstreamVerdict.Malformed;
        }

        scoped var reader = new DnsMessageReader(message);
        if (!reader.TryReadHeader(out var header) || !header.IsResponse)
        {
            return UpstreamVerdict.Malformed;
        }

        if (header.Id != id || header.Opcode != DnsOpcode.Query)
        {
            return UpstreamVerdict.Mismatch;
        }

        var lowCode = header.ResponseCode;
        if (header.QuestionCount == 0)
        {
            // Some servers leave the question out of FORMERR/REFUSED/NOTIMP. Anything else needs the question.
            return lowCode is DnsResponseCode.FormatError or DnsResponseCode.Refused or DnsResponseCode.NotImplemented
                ? UpstreamVerdict.Refused
                : UpstreamVerdict.Mismatch;
        }

        if (header.QuestionCount != 1)
        {
            return UpstreamVerdict.Malformed;
        }

        Span<byte> buffer = stackalloc byte[DnsName.MaxLength];
        if (!reader.TryReadQuestion(buffer, out var nameLength, out var answeredType, out var answeredClass))
        {
            return UpstreamVerdict.Malformed;
        }

        // The question must sit uncompressed right after the header (as every server writes it): it is rewritten in place
        // with the client's spelling when the answer is served.
        if (reader.Position != DnsHeader.Size + nameLength + 4
            || answeredType != type
            || answeredClass != questionClass
            || !DnsName.EqualsIgnoreCase(buffer[..nameLength], name))
        {
            return UpstreamVerdict.Mismatch;
        }

        if (header.Truncated)
        {
            // A truncated message may end anywhere; only its header and question are used.
            return UpstreamVerdict.Truncated;
        }

        // Every record takes at least 11 octets: counts the rest of the message cannot hold are lies, refused before
        // anything is sized by them.
        var records = header.AnswerCount + header.AuthorityCount + header.AdditionalCount;
        if (records > (message.Length - reader.Position) / 11)
        {
            return UpstreamVerdict.Malformed;
        }

        var kept = 0;
        var keptEnd = reader.Position;
        var keptAdditional = 0;
        var optSeen = false;
        var extendedCode = 0;
        var minTtl = uint.MaxValue;
        var soaTtl = uint.MaxValue;
        var soaMinimum = uint.MaxValue;

        // Offsets of TTL fields: on the stack for ordinary answers, at most ~6000 of them in a 64 KB message.
        var ttlOffsets = records <= 512 ? stackalloc ushort[records] : new ushort[records];
        for (var i = 0; i < records; i++)
        {
            if (!reader.TryReadRecord(buffer, out var record))
            {
                return UpstreamVerdict.Malformed;
            }

            var isAdditional = i >= header.AnswerCount + header.AuthorityCount;
            if ((ushort)record.Type == DnsQueryParser.OptType)
            {
                if (!isAdditional || optSeen || record.NameLength != 1)
                {
                    return UpstreamVerdict.Malformed;
                }

                // The OPT record is hop by hop: it is dropped with every record after it (all additional, so no TC).
                optSeen = true;
                extendedCode = (int)(record.Ttl >> 24);
                continue;
            }

            if (optSeen)
            {
                continue;
            }

            // RFC 2181 §8: a TTL with the top bit set counts as 0.
            var ttl = record.Ttl > int.MaxValue ? 0 : record.Ttl;
            minTtl = Math.Min(minTtl, ttl);
            if (record.Type == DnsRecordType.SOA && i >= header.AnswerCount && !isAdditional && record.DataLength >= 22 && soaTtl == uint.MaxValue)
            {
                soaTtl = ttl;
                var minimum = BinaryPrimitives.ReadUInt32BigEndian(reader.GetData(record)[^4..]);
                soaMinimum = minimum > int.MaxValue ? 0 : minimum;
            }

            ttlOffsets[kept++] = (ushort)(record.DataOffset - 6);
            keptEnd = reader.Position;
            if (isAdditional)
            {
                keptAdditional++;
            }
        }

        var code = (DnsResponseCode)((extendedCode << 4) | (int)lowCode);
        switch (code)
        {
            case DnsResponseCode.NoError or DnsResponseCode.NxDomain:
                break;
            case DnsResponseCode.ServerFailure:
                return UpstreamVerdict.ServerFailure;
            default:
                return UpstreamVerdict.Refused;
        }

        if (!build)
        {
            return UpstreamVerdict.Answer;
        }

        // RFC 2308 §5: a negative answer (NXDOMAIN, or NOERROR without answers) is cached for the SOA's TTL or MINIMUM,
        // whichever is lower; without an SOA it is not cached. Positive answers live as long as their shortest TTL.
        var negative = code == DnsResponseCode.NxDomain || header.AnswerCount == 0;
        uint cap;
        uint cacheTtl;
        if (negative)
        {
            cap = limits.NegativeTtlCap;
            cacheTtl = soaTtl == uint.MaxValue ? 0 : Math.Min(Math.Min(soaTtl, soaMinimum), cap);
            cap = soaTtl == uint.MaxValue ? cap : cacheTtl;
        }
        else
        {
            cap = limits.MaxTtl;
            cacheTtl = Math.Min(minTtl == uint.MaxValue ? 0 : minTtl, cap);
        }

        var stored = message[..keptEnd].ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(stored.AsSpan(10), (ushort)keptAdditional);
        var offsets = ttlOffsets[..kept].ToArray();
        foreach (var offset in offsets)
        {
            var ttl = BinaryPrimitives.ReadUInt32BigEndian(stored.AsSpan(offset));
            BinaryPrimitives.WriteUInt32BigEndian(stored.AsSpan(offset), ttl > int.MaxValue ? 0 : Math.Min(ttl, cap));
        }

        // A name may point (backwards, legally) into an earlier record's TTL, which was just rewritten: what is stored
        // must still read cleanly, or it is refused rather than served broken.
        if (!ReadsCleanly(stored, records: kept))
        {
            return UpstreamVerdict.Malformed;
        }

        answer = new ForwardedAnswer(stored, offsets, nameLength, code, cacheTtl);
        return UpstreamVerdict.Answer;
    }

    private static bool ReadsCleanly(ReadOnlySpan<byte> message, int records)
    {
        Span<byte> name = stackalloc byte[DnsName.MaxLength];
        scoped var reader = new DnsMessageReader(message);
        if (!reader.TryReadHeader(out _) || !reader.TryReadQuestion(name, out _, out _, out _))
        {
            return false;
        }

        for (var i = 0; i < records; i++)
        {
            if (!reader.TryReadRecord(name, out _))
            {
                return false;
            }
        }

        return reader.Position == message.Length;
    }
}
