using System.Collections.Immutable;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Protocol;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Server;

/// <summary>What the transport does with a query after <see cref="QueryEngine.Answer"/>.</summary>
internal enum QueryOutcome
{
    /// <summary>The response is in the buffer.</summary>
    Answered,

    /// <summary>Nothing to send (no header, or a response sent to us).</summary>
    Drop,

    /// <summary>A name outside our zones that no source knows: forward it, or answer REFUSED.</summary>
    Forward,
}

/// <summary>
/// Answers a query from memory: the index first, then the record sources plugins add, in their order. Synchronous
/// and allocation-free for names in the index; the transports call it on their receive threads.
/// </summary>
internal sealed partial class QueryEngine
{
    private const ushort ClassInternet = 1;
    private const ushort ClassAny = 255;
    private const int OptRecordSize = 11;

    private readonly RecordIndex _index;
    private readonly ImmutableArray<byte[]> _zones;
    private readonly IDnsRecordSource[] _sources;
    private readonly DnsStats _stats;
    private readonly ILogger _logger;
    private readonly ushort _maxUdpPayload;

    public QueryEngine(RecordIndex index, IEnumerable<string> zones, IEnumerable<IDnsRecordSource> sources, DnsStats stats, ushort maxUdpPayload, ILogger logger)
    {
        _index = index;
        _zones = [.. zones.Select(DnsName.FromText)];
        _sources = [.. sources.OrderBy(s => s.Order)];
        _stats = stats;
        _maxUdpPayload = maxUdpPayload;
        _logger = logger;
    }

    public ushort MaxUdpPayload => _maxUdpPayload;

    /// <summary>
    /// Answers <paramref name="packet"/> into <paramref name="response"/> (at least 65535 octets for TCP, the UDP limit
    /// otherwise). <paramref name="recursionAvailable"/> sets RA: whether this client may have names forwarded.
    /// </summary>
    public QueryOutcome Answer(ReadOnlySpan<byte> packet, Span<byte> response, bool overTcp, bool recursionAvailable, out DnsQuery query, out int length)
    {
        length = 0;
        if (!DnsQueryParser.TryParse(packet, out query, out var error))
        {
            if (!error.TryGetResponseCode(out var code))
            {
                Interlocked.Increment(ref _stats.Dropped);
                return QueryOutcome.Drop;
            }

            length = DnsResponseWriter.WriteError(response, packet, query, code, _maxUdpPayload);
            _stats.Count(query.HasQuestion ? query.QuestionType : (DnsRecordType)0, code);
            return length > 0 ? QueryOutcome.Answered : QueryOutcome.Drop;
        }

        var limit = overTcp ? DnsResponseWriter.MaxMessageSize : DnsResponseWriter.GetUdpLimit(query, _maxUdpPayload);
        var type = query.QuestionType;
        if (query.QuestionClass is not ClassInternet and not ClassAny)
        {
            return Error(packet, response, query, DnsResponseCode.Refused, out length);
        }

        if ((ushort)type is 251 or 252 or 253 or 254)
        {
            // IXFR, AXFR, MAILB, MAILA: no zone transfers from a replica that changes every second.
            return Error(packet, response, query, DnsResponseCode.NotImplemented, out length);
        }

        var node = _index.Find(query.Name);
        if (node is not null)
        {
            length = WriteFromIndex(packet, response, limit, recursionAvailable, query, node);
            return QueryOutcome.Answered;
        }

        var zone = FindZone(query.Name);
        if (_sources.Length > 0 && TryAnswerFromSources(packet, response, limit, recursionAvailable, query, zone, out length))
        {
            return QueryOutcome.Answered;
        }

        if (zone >= 0 && !_index.IsLoaded)
        {
            // Just started: the name may exist in the store without being indexed yet. SERVFAIL is not cached long.
            return Error(packet, response, query, DnsResponseCode.ServerFailure, out length);
        }

        if (zone >= 0)
        {
            length = WriteNegative(packet, response, limit, recursionAvailable, query, DnsResponseCode.NxDomain, zone);
            _stats.Count(type, DnsResponseCode.NxDomain);
            return QueryOutcome.Answered;
        }

        return QueryOutcome.Forward;
    }

    /// <summary>Writes a REFUSED, SERVFAIL, ... response to a parsed query.</summary>
    public QueryOutcome Error(ReadOnlySpan<byte> packet, Span<byte> response, in DnsQuery query, DnsResponseCode code, out int length)
    {
        length = DnsResponseWriter.WriteError(response, packet, query, code, _maxUdpPayload);
        _stats.Count(query.QuestionType, code);
        return length > 0 ? QueryOutcome.Answered : QueryOutcome.Drop;
    }

    private int WriteFromIndex(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query, NameNode node)
    {
        var type = query.QuestionType;
        _stats.Count(type, DnsResponseCode.NoError);
        if (type == DnsRecordType.ANY)
        {
            return node.IsEmpty
                ? WriteNegative(packet, response, limit, recursionAvailable, query, DnsResponseCode.NoError, FindZone(query.Name))
                : WriteRecords(packet, response, limit, recursionAvailable, query, node.All, []);
        }

        var set = node.Find(type) ?? node.Find(DnsRecordType.CNAME);
        if (set is null)
        {
            // The name exists (maybe as an empty non-terminal) without this type: NODATA.
            return WriteNegative(packet, response, limit, recursionAvailable, query, DnsResponseCode.NoError, FindZone(query.Name));
        }

        var fast = TryWriteFast(packet, response, limit, recursionAvailable, query, set);
        return fast > 0 ? fast : WriteRecords(packet, response, limit, recursionAvailable, query, set.Records, set.Additional);
    }

    /// <summary>
    /// The hot path: header, the question copied from the query, the pre-encoded tail (rotated for address sets),
    /// OPT. Returns 0 when it does not apply (the answer would exceed the limit: the writer then truncates).
    /// </summary>
    private int TryWriteFast(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query, RecordSet set)
    {
        var questionLength = query.QuestionEnd - DnsHeader.Size;
        var opt = query.Edns.IsPresent ? OptRecordSize : 0;
        var total = DnsHeader.Size + questionLength + set.Tail.Length + opt;
        if (total > limit || total > response.Length || questionLength != query.NameLength + 4)
        {
            return 0;
        }

        var header = new DnsHeader
        {
            Id = query.Header.Id,
            IsResponse = true,
            AuthoritativeAnswer = true,
            RecursionDesired = query.Header.RecursionDesired,
            RecursionAvailable = recursionAvailable,
            CheckingDisabled = query.Header.CheckingDisabled,
            QuestionCount = 1,
            AnswerCount = set.AnswerCount,
            AdditionalCount = (ushort)(set.AdditionalCount + (opt > 0 ? 1 : 0)),
        };
        header.TryWrite(response);
        packet.Slice(DnsHeader.Size, questionLength).CopyTo(response[DnsHeader.Size..]);
        var position = DnsHeader.Size + questionLength;
        var tail = set.Tail.AsSpan();
        if (set.Stride > 0)
        {
            var split = Rotation.Next(set.AnswerCount) * set.Stride;
            tail[split..set.AnswerLength].CopyTo(response[position..]);
            tail[..split].CopyTo(response[(position + set.AnswerLength - split)..]);
            tail[set.AnswerLength..].CopyTo(response[(position + set.AnswerLength)..]);
        }
        else
        {
            tail.CopyTo(response[position..]);
        }

        position += tail.Length;
        if (opt > 0)
        {
            WriteOpt(response[position..], _maxUdpPayload, query.Edns.DnssecOk);
            position += opt;
        }

        return position;
    }

    private int WriteRecords(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query, ImmutableArray<IndexedRecord> answers, ImmutableArray<IndexedRecord> additional)
    {
        var writer = Begin(packet, response, limit, recursionAvailable, query);
        var settings = _index.Settings;
        foreach (var record in answers)
        {
            if (!RecordSet.Write(ref writer, DnsSection.Answer, record, settings))
            {
                break;
            }
        }

        foreach (var record in additional)
        {
            if (!RecordSet.Write(ref writer, DnsSection.Additional, record, settings))
            {
                break;
            }
        }

        if (writer.IsTruncated)
        {
            Interlocked.Increment(ref _stats.Truncated);
        }

        return writer.Finish();
    }

    /// <summary>NXDOMAIN, or NODATA (NOERROR with no answer), with the zone's SOA in authority (RFC 2308).</summary>
    private int WriteNegative(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query, DnsResponseCode code, int zone)
    {
        var writer = Begin(packet, response, limit, recursionAvailable, query);
        writer.ResponseCode = code;
        if (zone >= 0 && _index.Find(_zones[zone])?.Find(DnsRecordType.SOA) is { } soa)
        {
            var settings = _index.Settings;
            RecordSet.Write(ref writer, DnsSection.Authority, soa.Records[0], settings with { Ttl = Math.Min(settings.Ttl, settings.NegativeTtl) });
        }

        return writer.Finish();
    }

    private DnsResponseWriter Begin(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query)
    {
        var writer = new DnsResponseWriter(response, limit);
        writer.BeginResponse(query, packet, _maxUdpPayload);
        writer.AuthoritativeAnswer = true;
        var header = writer.Header;
        header.RecursionAvailable = recursionAvailable;
        writer.Header = header;
        return writer;
    }

    private bool TryAnswerFromSources(ReadOnlySpan<byte> packet, Span<byte> response, int limit, bool recursionAvailable, in DnsQuery query, int zone, out int length)
    {
        length = 0;
        var name = query.GetNameText();
        foreach (var source in _sources)
        {
            DnsLookup lookup;
            try
            {
                lookup = source.Lookup(name, query.QuestionType);
            }
            catch (Exception e)
            {
                // A vendor's bug must not take the server down: count it, log it, ask the next source.
                Interlocked.Increment(ref _stats.SourceErrors);
                LogSourceFailed(_logger, e, source.Name, name);
                continue;
            }

            if (!lookup.Known)
            {
                continue;
            }

            try
            {
                var records = lookup.Records ?? [];
                if (records.Count == 0)
                {
                    length = WriteNegative(packet, response, limit, recursionAvailable, query, DnsResponseCode.NoError, zone);
                    _stats.Count(query.QuestionType, DnsResponseCode.NoError);
                    return true;
                }

                var writer = Begin(packet, response, limit, recursionAvailable, query);
                foreach (var record in records)
                {
                    if (!writer.Add(DnsSection.Answer, record))
                    {
                        break;
                    }
                }

                length = writer.Finish();
                _stats.Count(query.QuestionType, DnsResponseCode.NoError);
                return true;
            }
            catch (Exception e)
            {
                // The source owns the name but its records cannot be written (a null list, one that throws while
                // enumerated, a record the writer cannot encode): SERVFAIL for this name, counted and logged.
                Interlocked.Increment(ref _stats.SourceErrors);
                LogSourceFailed(_logger, e, source.Name, name);
                Error(packet, response, query, DnsResponseCode.ServerFailure, out length);
                return true;
            }
        }

        return false;
    }

    private int FindZone(ReadOnlySpan<byte> name)
    {
        for (var i = 0; i < _zones.Length; i++)
        {
            if (DnsName.IsSubdomainOf(name, _zones[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static void WriteOpt(Span<byte> destination, ushort payloadSize, bool dnssecOk)
    {
        destination[0] = 0;
        destination[1] = 0;
        destination[2] = (byte)DnsQueryParser.OptType;
        destination[3] = (byte)(payloadSize >> 8);
        destination[4] = (byte)payloadSize;
        destination[5] = 0;
        destination[6] = 0;
        destination[7] = dnssecOk ? (byte)0x80 : (byte)0;
        destination[8] = 0;
        destination[9] = 0;
        destination[10] = 0;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS record source {Source} failed for {Name}")]
    private static partial void LogSourceFailed(ILogger logger, Exception exception, string source, string name);

    /// <summary>A per-thread xorshift for the rotation of address sets: no shared state between query threads.</summary>
    private static class Rotation
    {
        [ThreadStatic]
        private static uint t_state;

        public static int Next(int count)
        {
            var x = t_state;
            if (x == 0)
            {
                x = (uint)Environment.CurrentManagedThreadId * 2654435761u | 1;
            }

            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            t_state = x;
            return (int)(x % (uint)count);
        }
    }
}
