using System.Reflection;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Support;

/// <summary>ARSoft.Tools.Net as an independent reader and writer of DNS messages.</summary>
internal static class Oracle
{
    private static readonly MethodInfo _encode = typeof(DnsMessageBase).GetMethod("Encode", BindingFlags.NonPublic | BindingFlags.Instance, Type.EmptyTypes)
        ?? throw new InvalidOperationException("ARSoft.Tools.Net changed: DnsMessageBase.Encode() is gone");

    public static DnsMessage Parse(byte[] message) => DnsMessage.Parse(new ArraySegment<byte>(message));

    /// <summary>The octets ARSoft sends for <paramref name="message"/> (its encoder is internal; 3.6.1 is pinned).</summary>
    public static byte[] Encode(DnsMessage message)
    {
        var raw = (DnsRawPackage)_encode.Invoke(message, null)!;
        return raw.ToArraySegment(false).ToArray();
    }

    /// <summary>The records of a parsed message in the same text form as <see cref="DecodedRecord"/>, OPT left out.</summary>
    public static IEnumerable<string> Records(DnsMessage message) =>
        message.AnswerRecords.Select(r => Format(DnsSection.Answer, r))
            .Concat(message.AuthorityRecords.Select(r => Format(DnsSection.Authority, r)))
            .Concat(message.AdditionalRecords.Where(r => r is not OptRecord).Select(r => Format(DnsSection.Additional, r)));

    public static string Text(DomainName name)
    {
        var text = name.ToString();
        return text == "." ? text : text.TrimEnd('.');
    }

    private static string Format(DnsSection section, DnsRecordBase record)
    {
        var data = record switch
        {
            ARecord a => a.Address.ToString(),
            AaaaRecord a => a.Address.ToString(),
            CNameRecord c => Text(c.CanonicalName),
            NsRecord n => Text(n.NameServer),
            PtrRecord p => Text(p.PointerDomainName),
            SrvRecord s => $"{s.Priority} {s.Weight} {s.Port} {Text(s.Target)}",
            TxtRecord t => string.Join("|", t.TextParts),
            SoaRecord s => $"{Text(s.MasterName)} {Text(s.ResponsibleName)} {s.SerialNumber} {s.RefreshInterval} {s.RetryInterval} {s.ExpireInterval} {s.NegativeCachingTTL}",
            _ => record.GetType().Name,
        };
        return new DecodedRecord(section, Text(record.Name), (int)record.RecordType, (uint)record.TimeToLive, data).ToString();
    }
}
