using System.Buffers.Binary;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// An upstream's answer made ready to serve to any client that asks the same question, from the cache or fresh:
/// header, the question (uncompressed, right after the header), the answer, authority and additional records, without
/// the upstream's OPT record (and anything after it), TTLs capped and with the offset of each TTL field kept, so that
/// serving it is one copy and a few patches: the client's id, flags and question spelling, TTLs less the time spent in
/// the cache, and an OPT record of our own when the client sent EDNS.
/// </summary>
internal sealed class ForwardedAnswer
{
    private const int OptRecordSize = 11;

    // Flags: QR(15) opcode(11-14) AA(10) TC(9) RD(8) RA(7) Z(6) AD(5) CD(4) RCODE(0-3).
    private const ushort QrBit = 0x8000;
    private const ushort TcBit = 0x0200;
    private const ushort RdBit = 0x0100;
    private const ushort RaBit = 0x0080;
    private const ushort AdBit = 0x0020;
    private const ushort CdBit = 0x0010;

    private readonly byte[] _message;
    private readonly ushort[] _ttlOffsets;

    public ForwardedAnswer(byte[] message, ushort[] ttlOffsets, int questionNameLength, DnsResponseCode responseCode, uint cacheTtl)
    {
        _message = message;
        _ttlOffsets = ttlOffsets;
        QuestionNameLength = questionNameLength;
        ResponseCode = responseCode;
        CacheTtl = cacheTtl;
    }

    /// <summary>NOERROR or NXDOMAIN.</summary>
    public DnsResponseCode ResponseCode { get; }

    /// <summary>Seconds the answer may be served from the cache; 0 when it must not be cached.</summary>
    public uint CacheTtl { get; }

    /// <summary>The length of the question name at offset 12.</summary>
    public int QuestionNameLength { get; }

    /// <summary>The stored message (no OPT record), for tests and the cache's byte bound.</summary>
    public ReadOnlySpan<byte> Message => _message;

    /// <summary>The stored length.</summary>
    public int Length => _message.Length;

    /// <summary>
    /// Writes the answer addressed to the client's query: its id, its question spelling, RD and CD copied, RA set, AA
    /// cleared, AD kept only for a client that set DO or AD, every TTL less <paramref name="elapsedSeconds"/> (never
    /// below 0), and an OPT record (our payload size, the client's DO) when the client sent one. When that does not fit
    /// in <paramref name="limit"/>, writes an empty response with TC set instead, so the client retries over TCP.
    /// </summary>
    /// <returns>The length written, 0 when not even the header and question fit.</returns>
    public int WriteTo(Span<byte> destination, int limit, ReadOnlySpan<byte> clientPacket, in DnsQuery query, uint elapsedSeconds, ushort payloadSize)
    {
        limit = Math.Min(Math.Min(limit, destination.Length), DnsResponseWriter.MaxMessageSize);
        var edns = query.Edns.IsPresent;
        var total = _message.Length + (edns ? OptRecordSize : 0);
        if (query.NameLength != QuestionNameLength)
        {
            // Not the question this answer is for (the cache key rules it out; a guard against misuse).
            return ClientResponses.Write(destination, limit, clientPacket, query, DnsResponseCode.ServerFailure, payloadSize);
        }

        if (total > limit)
        {
            return ClientResponses.Write(destination, limit, clientPacket, query, ResponseCode, payloadSize, truncated: true);
        }

        var output = destination[..total];
        _message.CopyTo(output);

        var upstreamFlags = BinaryPrimitives.ReadUInt16BigEndian(_message.AsSpan(2));
        var header = query.Header;
        var flags = (ushort)(QrBit | RaBit | (upstreamFlags & 0xF));
        if (header.RecursionDesired)
        {
            flags |= RdBit;
        }

        if (header.CheckingDisabled)
        {
            flags |= CdBit;
        }

        if ((upstreamFlags & AdBit) != 0 && (header.AuthenticData || (edns && query.Edns.DnssecOk)))
        {
            flags |= AdBit;
        }

        BinaryPrimitives.WriteUInt16BigEndian(output, header.Id);
        BinaryPrimitives.WriteUInt16BigEndian(output[2..], flags);
        ClientResponses.SpellingOf(clientPacket, query).CopyTo(output[DnsHeader.Size..]);

        if (elapsedSeconds > 0)
        {
            foreach (var offset in _ttlOffsets)
            {
                var ttl = BinaryPrimitives.ReadUInt32BigEndian(output[offset..]);
                BinaryPrimitives.WriteUInt32BigEndian(output[offset..], ttl > elapsedSeconds ? ttl - elapsedSeconds : 0);
            }
        }

        if (edns)
        {
            var additional = BinaryPrimitives.ReadUInt16BigEndian(output[10..]);
            BinaryPrimitives.WriteUInt16BigEndian(output[10..], (ushort)(additional + 1));
            var opt = output[_message.Length..];
            opt[0] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(opt[1..], DnsQueryParser.OptType);
            BinaryPrimitives.WriteUInt16BigEndian(opt[3..], payloadSize);
            BinaryPrimitives.WriteUInt32BigEndian(opt[5..], query.Edns.DnssecOk ? 0x8000u : 0u);
            BinaryPrimitives.WriteUInt16BigEndian(opt[9..], 0);
        }

        return total;
    }

    /// <summary>Whether the TC bit of a message's header is set.</summary>
    internal static bool IsTruncated(ReadOnlySpan<byte> message) => message.Length >= 4 && (BinaryPrimitives.ReadUInt16BigEndian(message[2..]) & TcBit) != 0;
}

/// <summary>Responses the forwarder writes itself: SERVFAIL, REFUSED, and empty truncated answers.</summary>
internal static class ClientResponses
{
    /// <summary>
    /// A response with no records (<paramref name="code"/>, RA set, the question echoed in the client's spelling, OPT
    /// when the client sent one), TC set when <paramref name="truncated"/>.
    /// </summary>
    public static int Write(Span<byte> destination, int limit, ReadOnlySpan<byte> clientPacket, in DnsQuery query, DnsResponseCode code, ushort payloadSize, bool truncated = false)
    {
        var writer = new DnsResponseWriter(destination, Math.Min(limit, destination.Length));
        writer.BeginResponse(query, clientPacket, payloadSize);
        var header = writer.Header;
        header.RecursionAvailable = true;
        writer.Header = header;
        writer.ResponseCode = code;
        var length = writer.Finish();
        if (truncated && DnsHeader.TryRead(destination[..length], out header))
        {
            header.Truncated = true;
            header.TryWrite(destination);
        }

        return length;
    }

    /// <summary>The question name as the client spelled it, when it sits uncompressed after the header (it always does in practice), else lower case.</summary>
    public static ReadOnlySpan<byte> SpellingOf(ReadOnlySpan<byte> clientPacket, in DnsQuery query)
    {
        var name = query.Name;
        if (clientPacket.Length >= DnsHeader.Size + name.Length)
        {
            var echoed = clientPacket.Slice(DnsHeader.Size, name.Length);
            if (DnsName.EqualsIgnoreCase(echoed, name))
            {
                return echoed;
            }
        }

        return name;
    }
}
