using System.Net;
using System.Text;
using CsCheck;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Support;

internal sealed record RecordSpec(DnsSection Section, DnsRecordType Type, string Name, uint Ttl, string Target, byte[] Bytes, ushort Priority, ushort Weight, ushort Port);

internal sealed record ResponseSpec(int Limit, bool Edns, string Question, RecordSpec[] Records);

/// <summary>CsCheck generators for names, queries and responses.</summary>
internal static class Generators
{
    private const string LabelChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

    /// <summary>A random label of letters, digits, '-' and '_', any case.</summary>
    public static readonly Gen<string> Label = Gen.Char[LabelChars].Array[1, 20].Select(chars => new string(chars));

    /// <summary>A name of random labels.</summary>
    public static readonly Gen<string> RandomName = Label.Array[1, 6].Select(labels => string.Join('.', labels));

    /// <summary>Names from a few labels, so that suffixes repeat (and compress), in mixed case.</summary>
    public static readonly Gen<string> PoolName = Gen.OneOf("web", "WEB", "db", "lashup", "Lashup", "directory", "node", "agent-1", "_http", "_tcp", "l4lb")
        .Array[1, 4].Select(labels => string.Join('.', labels) + ".lashup.directory");

    public static readonly Gen<string> Name = Gen.Frequency((3, PoolName), (1, RandomName));

    /// <summary>(name, qtype, EDNS payload or 0 for none, DO, id).</summary>
    public static readonly Gen<(string Name, ushort Type, ushort Payload, bool DnssecOk, ushort Id)> OracleQuery =
        Gen.Select(RandomName, Gen.UShort[1, 65535].Where(t => t != 41), Gen.Frequency((1, Gen.Const((ushort)0)), (3, Gen.UShort[1, 65535])), Gen.Bool, Gen.UShort);

    private static readonly Gen<byte[]> TxtBytes = Gen.Char["abcdefghijklmnopqrstuvwxyz0123456789 "].Array[0, 600].Select(chars => Encoding.ASCII.GetBytes(chars));

    private static readonly Gen<RecordSpec> Record =
        Gen.Select(
            Gen.Enum<DnsSection>(),
            Gen.OneOf(DnsRecordType.A, DnsRecordType.AAAA, DnsRecordType.CNAME, DnsRecordType.NS, DnsRecordType.PTR, DnsRecordType.SRV, DnsRecordType.TXT, DnsRecordType.SOA),
            Name,
            Gen.UInt[0, int.MaxValue],
            Name,
            TxtBytes,
            Gen.Select(Gen.UShort, Gen.UShort, Gen.UShort))
        .Select(t => new RecordSpec(t.Item1, t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, t.Item7.Item1, t.Item7.Item2, t.Item7.Item3));

    public static readonly Gen<ResponseSpec> Response =
        Gen.Select(
            Gen.Frequency((2, Gen.Const(512)), (2, Gen.Int[100, 1500]), (1, Gen.Const(65535))),
            Gen.Bool,
            Name,
            Record.Array[0, 40])
        .Select((limit, edns, question, records) => new ResponseSpec(limit, edns, question, [.. records.OrderBy(r => r.Section)]));

    /// <summary>
    /// Writes <paramref name="spec"/> and returns the length, the records written (as <see cref="DecodedRecord"/> text)
    /// and whether TC must be set, and whether the OPT record is in. Asserts that once a record is refused every later
    /// one is too, and that EDNS is refused only when its 11 octets do not fit after the question.
    /// </summary>
    public static (int Length, List<string> Written, bool Truncated, bool Edns) Write(ResponseSpec spec, byte[] buffer)
    {
        var writer = new DnsResponseWriter(buffer, spec.Limit);
        var question = DnsName.FromText(spec.Question);
        writer.WriteQuestion(question, DnsRecordType.A);
        var edns = spec.Edns && writer.EnableEdns(4096, dnssecOk: true);
        if (spec.Edns && !edns)
        {
            // A limit under 512 never happens in the server (a UDP limit is at least 512); the generator goes lower.
            Assert.True(spec.Limit - (12 + question.Length + 4) < 11, $"EDNS refused with room for it (limit {spec.Limit})");
        }

        var written = new List<string>();
        var refused = false;
        var truncated = false;
        foreach (var record in spec.Records)
        {
            var name = DnsName.FromText(record.Name);
            var target = DnsName.FromText(record.Target);
            var bytes = record.Bytes;
            string data;
            bool ok;
            switch (record.Type)
            {
                case DnsRecordType.A:
                    var v4 = Pad(bytes, 4);
                    ok = writer.AddA(record.Section, name, record.Ttl, v4);
                    data = new IPAddress(v4).ToString();
                    break;
                case DnsRecordType.AAAA:
                    var v6 = Pad(bytes, 16);
                    ok = writer.AddAaaa(record.Section, name, record.Ttl, v6);
                    data = new IPAddress(v6).ToString();
                    break;
                case DnsRecordType.CNAME:
                    ok = writer.AddCname(record.Section, name, record.Ttl, target);
                    data = record.Target;
                    break;
                case DnsRecordType.NS:
                    ok = writer.AddNs(record.Section, name, record.Ttl, target);
                    data = record.Target;
                    break;
                case DnsRecordType.PTR:
                    ok = writer.AddPtr(record.Section, name, record.Ttl, target);
                    data = record.Target;
                    break;
                case DnsRecordType.SRV:
                    ok = writer.AddSrv(record.Section, name, record.Ttl, record.Priority, record.Weight, record.Port, target);
                    data = $"{record.Priority} {record.Weight} {record.Port} {record.Target}";
                    break;
                case DnsRecordType.TXT:
                    ok = writer.AddTxt(record.Section, name, record.Ttl, bytes);
                    data = string.Join("|", bytes.Chunk(255).Select(Encoding.ASCII.GetString).DefaultIfEmpty(string.Empty));
                    break;
                default:
                    ok = writer.AddSoa(record.Section, name, record.Ttl, target, name, record.Ttl, record.Priority, record.Weight, record.Port, 300);
                    data = $"{record.Target} {record.Name} {record.Ttl} {record.Priority} {record.Weight} {record.Port} 300";
                    break;
            }

            if (refused)
            {
                Assert.False(ok, "a record was added after one was refused");
                continue;
            }

            if (ok)
            {
                written.Add(new DecodedRecord(record.Section, record.Name, (int)record.Type, record.Ttl, data).ToString());
            }
            else
            {
                refused = true;
                truncated = record.Section != DnsSection.Additional;
            }
        }

        Assert.Equal(truncated, writer.IsTruncated);
        return (writer.Finish(), written, truncated, edns);
    }

    private static byte[] Pad(byte[] bytes, int length)
    {
        var result = new byte[length];
        bytes.AsSpan(0, Math.Min(bytes.Length, length)).CopyTo(result);
        return result;
    }
}
