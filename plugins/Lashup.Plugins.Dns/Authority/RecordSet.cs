using System.Collections.Immutable;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// The records of one type at one name, encoded once when the index changes so that answering is a copy.
/// <para>
/// <see cref="Tail"/> is everything a response holds after its question: the answer records, then the additional
/// records (A/AAAA of SRV targets). It was written by <see cref="DnsResponseWriter"/> after a question of this very
/// name, so every compression pointer in it refers to the question at offset 12 or to the tail itself. A query for this
/// name has a question of the same length at the same offset (only the letter case may differ), so the tail is valid
/// in any response to it. Address records have one size each (<see cref="Stride"/>), so they can be rotated by copying
/// the tail in two pieces: that is the shuffle of service backends, without per-query allocation.
/// </para>
/// </summary>
internal sealed class RecordSet
{
    [ThreadStatic]
    private static byte[]? t_scratch;

    private RecordSet(DnsRecordType type, ImmutableArray<IndexedRecord> records, ImmutableArray<IndexedRecord> additional, byte[] tail, int answerLength, ushort answerCount, ushort additionalCount, int stride)
    {
        Type = type;
        Records = records;
        Additional = additional;
        Tail = tail;
        AnswerLength = answerLength;
        AnswerCount = answerCount;
        AdditionalCount = additionalCount;
        Stride = stride;
    }

    public DnsRecordType Type { get; }

    /// <summary>The answer records, for the general (writer) path.</summary>
    public ImmutableArray<IndexedRecord> Records { get; }

    /// <summary>The additional records, for the general path.</summary>
    public ImmutableArray<IndexedRecord> Additional { get; }

    public byte[] Tail { get; }

    public int AnswerLength { get; }

    public ushort AnswerCount { get; }

    public ushort AdditionalCount { get; }

    /// <summary>The size of every answer record when they are all one size and may be rotated; 0 otherwise.</summary>
    public int Stride { get; }

    /// <summary>Encodes a record set at <paramref name="wireName"/>.</summary>
    public static RecordSet Create(byte[] wireName, DnsRecordType type, ImmutableArray<IndexedRecord> records, ImmutableArray<IndexedRecord> additional, in ZoneSettings settings)
    {
        var buffer = t_scratch ??= new byte[DnsResponseWriter.MaxMessageSize];
        var writer = new DnsResponseWriter(buffer, DnsResponseWriter.MaxMessageSize);
        writer.WriteQuestion(wireName, type);
        var questionEnd = writer.Length;
        foreach (var record in records)
        {
            if (!Write(ref writer, DnsSection.Answer, record, settings))
            {
                break;
            }
        }

        var answerEnd = writer.Length;
        var answerCount = writer.GetCount(DnsSection.Answer);
        foreach (var record in additional)
        {
            if (!Write(ref writer, DnsSection.Additional, record, settings))
            {
                break;
            }
        }

        var answerLength = answerEnd - questionEnd;
        var stride = 0;
        if (type is DnsRecordType.A or DnsRecordType.AAAA && answerCount > 1 && answerLength % answerCount == 0)
        {
            stride = answerLength / answerCount;
        }

        return new RecordSet(
            type,
            records,
            additional,
            buffer.AsSpan(questionEnd, writer.Length - questionEnd).ToArray(),
            answerLength,
            (ushort)answerCount,
            (ushort)writer.GetCount(DnsSection.Additional),
            stride);
    }

    /// <summary>Writes one record with the general writer (the fallback path: truncation, ANY, EDNS limits).</summary>
    public static bool Write(ref DnsResponseWriter writer, DnsSection section, IndexedRecord record, in ZoneSettings settings)
    {
        Span<byte> owner = stackalloc byte[DnsName.MaxLength];
        if (!DnsName.TryFromText(record.Name, owner, out var ownerLength))
        {
            return true;
        }

        var name = owner[..ownerLength];
        switch (record.Type)
        {
            case DnsRecordType.SOA:
                Span<byte> primary = stackalloc byte[DnsName.MaxLength];
                Span<byte> mailbox = stackalloc byte[DnsName.MaxLength];
                if (!DnsName.TryFromText(record.Target, primary, out var primaryLength) || !DnsName.TryFromText(record.Text, mailbox, out var mailboxLength))
                {
                    return true;
                }

                return writer.AddSoa(section, name, settings.Ttl, primary[..primaryLength], mailbox[..mailboxLength],
                    settings.Serial, settings.Refresh, settings.Retry, settings.Expire, settings.NegativeTtl);
            case DnsRecordType.A or DnsRecordType.AAAA when record.Address is { } address:
                return writer.AddAddress(section, name, settings.Ttl, address);
            case DnsRecordType.SRV or DnsRecordType.PTR or DnsRecordType.NS or DnsRecordType.CNAME when record.Target is { } targetText:
                Span<byte> target = stackalloc byte[DnsName.MaxLength];
                if (!DnsName.TryFromText(targetText, target, out var targetLength))
                {
                    return true;
                }

                return record.Type switch
                {
                    DnsRecordType.SRV => writer.AddSrv(section, name, settings.Ttl, record.Priority, record.Weight, record.Port, target[..targetLength]),
                    DnsRecordType.PTR => writer.AddPtr(section, name, settings.Ttl, target[..targetLength]),
                    DnsRecordType.NS => writer.AddNs(section, name, settings.Ttl, target[..targetLength]),
                    _ => writer.AddCname(section, name, settings.Ttl, target[..targetLength]),
                };
            default:
                return true;
        }
    }
}

/// <summary>TTLs and SOA timers of the zones Lashup serves (seconds).</summary>
internal readonly record struct ZoneSettings(uint Ttl, uint NegativeTtl, uint Serial, uint Refresh = 60, uint Retry = 30, uint Expire = 86400);
