using System.Buffers.Binary;
using CsCheck;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using static Lashup.Plugins.Dns.Tests.Support.Packets;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

/// <summary>Upstream responses as the forwarder judges them: hand-built packets, then random and mutated ones.</summary>
public sealed class UpstreamResponseTests
{
    private const ushort Id = 0x7777;
    private static readonly byte[] _name = Name("www.example.org");
    private static readonly AnswerLimits _limits = new(MaxTtl: 3600, NegativeTtlCap: 300);

    private static byte[] Question => Concat(Name("WWW.example.ORG"), TypeClass(DnsRecordType.A));

    private static byte[] ARecord(uint ttl, byte last = 1) => Concat([0xC0, 12], TypeClass(DnsRecordType.A), U32(ttl), U16(4), [192, 0, 2, last]);

    [Fact]
    public void Inspect_AnswerWithOptAndLaterAdditional_StoredWithoutOptAndWhatFollows()
    {
        var glue = ARecord(100, 2);
        var message = Concat(Header(Id, 0x8180, an: 1, ar: 3), Question, ARecord(300), glue, Opt(4096, data: Option(10, [1, 2, 3, 4])), ARecord(50, 3));

        var verdict = Inspect(message, out var answer);

        Assert.Equal(UpstreamVerdict.Answer, verdict);
        var stored = DecodedMessage.Decode(answer!.Message);
        Assert.Equal(1, stored.Header.AdditionalCount);
        Assert.Equal(["Answer 192.0.2.1 300", "Additional 192.0.2.2 100"], stored.Records.Select(r => $"{r.Section} {r.Data} {r.Ttl}"));
        Assert.Equal(Concat(Header(Id, 0x8180, an: 1, ar: 1), Question, ARecord(300), glue), answer.Message.ToArray());
        Assert.Equal(100u, answer.CacheTtl);
    }

    [Theory]
    [InlineData(300u, 300u, 300u)]
    [InlineData(86400u, 3600u, 3600u)]
    [InlineData(0u, 0u, 0u)]
    [InlineData(0x80000000u, 0u, 0u)]
    [InlineData(0xFFFFFFFFu, 0u, 0u)]
    public void Inspect_Ttl_CappedAndTopBitMeansZero(uint ttl, uint served, uint cached)
    {
        var message = Concat(Header(Id, 0x8180, an: 1), Question, ARecord(ttl));

        Assert.Equal(UpstreamVerdict.Answer, Inspect(message, out var answer));

        Assert.Equal(served, Assert.Single(DecodedMessage.Decode(answer!.Message).Records).Ttl);
        Assert.Equal(cached, answer.CacheTtl);
    }

    public static TheoryData<string, byte[], int> Verdicts => new()
    {
        { "not a response", Concat(Header(Id, 0x0100, an: 1), Question, ARecord(300)), (int)UpstreamVerdict.Malformed },
        { "short", [0x77, 0x77, 0x81, 0x80, 0, 1], (int)UpstreamVerdict.Malformed },
        { "other id", Concat(Header(Id + 1, 0x8180, an: 1), Question, ARecord(300)), (int)UpstreamVerdict.Mismatch },
        { "other opcode", Concat(Header(Id, 0x8980, an: 1), Question, ARecord(300)), (int)UpstreamVerdict.Mismatch },
        { "other name", Concat(Header(Id, 0x8180, an: 1), Name("www.example.net"), TypeClass(DnsRecordType.A), ARecord(300)), (int)UpstreamVerdict.Mismatch },
        { "other type", Concat(Header(Id, 0x8180), Name("www.example.org"), TypeClass(DnsRecordType.AAAA)), (int)UpstreamVerdict.Mismatch },
        { "other class", Concat(Header(Id, 0x8180), Name("www.example.org"), TypeClass(DnsRecordType.A, 3)), (int)UpstreamVerdict.Mismatch },
        { "two questions", Concat(Header(Id, 0x8180, qd: 2), Question, Question), (int)UpstreamVerdict.Malformed },
        { "no question, NOERROR", Concat(Header(Id, 0x8180, qd: 0)), (int)UpstreamVerdict.Mismatch },
        { "no question, REFUSED", Concat(Header(Id, 0x8185, qd: 0)), (int)UpstreamVerdict.Refused },
        { "no question, FORMERR", Concat(Header(Id, 0x8181, qd: 0)), (int)UpstreamVerdict.Refused },
        { "SERVFAIL", Concat(Header(Id, 0x8182), Question), (int)UpstreamVerdict.ServerFailure },
        { "REFUSED", Concat(Header(Id, 0x8185), Question), (int)UpstreamVerdict.Refused },
        { "NOTIMP", Concat(Header(Id, 0x8184), Question), (int)UpstreamVerdict.Refused },
        { "BADCOOKIE (extended)", Concat(Header(Id, 0x8187, ar: 1), Question, Opt(1232, extendedRcode: 1)), (int)UpstreamVerdict.Refused },
        { "NXDOMAIN", Concat(Header(Id, 0x8183), Question), (int)UpstreamVerdict.Answer },
        { "NODATA", Concat(Header(Id, 0x8180), Question), (int)UpstreamVerdict.Answer },
        { "truncated, records cut", Concat(Header(Id, 0x8380, an: 5), Question, ARecord(300).AsSpan(0, 7).ToArray()), (int)UpstreamVerdict.Truncated },
        { "counts the message cannot hold", Concat(Header(Id, 0x8180, an: 65535, ns: 65535, ar: 65535), Question, ARecord(300)), (int)UpstreamVerdict.Malformed },
        { "records missing", Concat(Header(Id, 0x8180, an: 2), Question, ARecord(300)), (int)UpstreamVerdict.Malformed },
        { "record cut", Concat(Header(Id, 0x8180, an: 1), Question, ARecord(300).AsSpan(0, 15).ToArray()), (int)UpstreamVerdict.Malformed },
        { "OPT in answer", Concat(Header(Id, 0x8180, an: 1), Question, Opt()), (int)UpstreamVerdict.Malformed },
        { "two OPT", Concat(Header(Id, 0x8180, ar: 2), Question, Opt(), Opt()), (int)UpstreamVerdict.Malformed },
        { "forward pointer", Concat(Header(Id, 0x8180, an: 1), Question, [0xC0, 40], TypeClass(), U32(1), U16(4), [1, 2, 3, 4]), (int)UpstreamVerdict.Malformed },
        { "question compressed into the header", Concat(Header(Id, 0x8180), [0xC0, 4], TypeClass(DnsRecordType.A)), (int)UpstreamVerdict.Mismatch },
    };

    [Theory]
    [MemberData(nameof(Verdicts))]
    public void Inspect_Response_Verdict(string what, byte[] message, int expected)
    {
        Assert.True((UpstreamVerdict)expected == Inspect(message, out _), what);
    }

    [Fact]
    public void Inspect_NegativeWithSoa_CachedForLowerOfTtlAndMinimum()
    {
        var soa = Concat(Name("example.org"), TypeClass(DnsRecordType.SOA), U32(900), U16(0), Name("ns.example.org"), Name("h.example.org"), U32(1), U32(2), U32(3), U32(4), U32(120));

        Assert.Equal(UpstreamVerdict.Answer, Inspect(Concat(Header(Id, 0x8183, ns: 1), Question, Fix(soa)), out var answer));

        Assert.Equal(DnsResponseCode.NxDomain, answer!.ResponseCode);
        Assert.Equal(120u, answer.CacheTtl);
        Assert.Equal(120u, Assert.Single(DecodedMessage.Decode(answer.Message).Records).Ttl);
    }

    [Fact]
    public void WriteTo_ClientLimitTooSmall_EmptyTruncatedResponse()
    {
        var records = Enumerable.Range(0, 40).Select(i => ARecord(300, (byte)i)).ToArray();
        var message = Concat([Header(Id, 0x8180, an: 40), Question, .. records]);
        Assert.Equal(UpstreamVerdict.Answer, Inspect(message, out var answer));
        var client = Query("Www.Example.Org", payload: 512, id: 0x1111);
        var buffer = new byte[65535];

        var length = answer!.WriteTo(buffer, 512, client, Parse(client), elapsedSeconds: 0, payloadSize: 1232);

        var response = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.True(response.Header.Truncated);
        Assert.Equal((ushort)0x1111, response.Header.Id);
        Assert.Equal("Www.Example.Org", Assert.Single(response.Questions).Name);
        Assert.Equal([DnsQueryParser.OptType], response.Records.Select(r => r.Type));
    }

    [Fact]
    public void WriteTo_AuthenticData_KeptOnlyForClientsThatAsked()
    {
        Assert.Equal(UpstreamVerdict.Answer, Inspect(Concat(Header(Id, 0x81A0, an: 1), Question, ARecord(300)), out var answer));
        var buffer = new byte[65535];

        bool AdFor(byte[] client)
        {
            var length = answer!.WriteTo(buffer, 1232, client, Parse(client), 0, 1232);
            return DecodedMessage.Decode(buffer.AsSpan(0, length)).Header.AuthenticData;
        }

        Assert.False(AdFor(Query("www.example.org", payload: 1232)));
        Assert.True(AdFor(Query("www.example.org", payload: 1232, dnssecOk: true)));
        Assert.True(AdFor(Concat(Header(flags: 0x0120), Name("www.example.org"), TypeClass())));
    }

    [Fact]
    public void Inspect_RandomBytesBehindTheExpectedHeader_NeverThrows()
    {
        Gen.Select(Gen.UShort[0, 4], Gen.UShort[0, 4], Gen.UShort[0, 70], Gen.UShort, Gen.Byte.Array[0, 600])
            .Select((an, ns, ar, flags, body) => Concat(Header(Id, (ushort)(flags | 0x8000), an: an, ns: ns, ar: ar), Question, body))
            .Sample(CheckNeverThrows, iter: 20_000);
    }

    [Fact]
    public void Inspect_MutatedAnswers_NeverThrow()
    {
        var valid = Concat(Header(Id, 0x8180, an: 2, ns: 0, ar: 1), Question, ARecord(300), ARecord(60, 9), Opt());
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1000], Gen.Byte).Array[1, 8]
            .Select(edits =>
            {
                var bytes = valid.ToList();
                foreach (var (kind, where, value) in edits)
                {
                    var at = where % bytes.Count;
                    switch (kind)
                    {
                        case 0:
                            bytes[at] = value;
                            break;
                        case 1:
                            bytes.RemoveRange(at, bytes.Count - at);
                            break;
                        case 2:
                            bytes.Insert(at, value);
                            break;
                        default:
                            bytes.RemoveAt(at);
                            break;
                    }

                    if (bytes.Count == 0)
                    {
                        break;
                    }
                }

                return bytes.ToArray();
            })
            .Sample(CheckNeverThrows, iter: 20_000);
    }

    private static void CheckNeverThrows(byte[] message)
    {
        if (Inspect(message, out var answer) == UpstreamVerdict.Answer)
        {
            // Whatever is accepted can be served: its records are whole (RDATA is relayed as it came), and rewriting it
            // for a client stays in bounds.
            var stored = answer!.Message.ToArray();
            var reader = new DnsMessageReader(stored);
            var name = new byte[DnsName.MaxLength];
            Assert.True(reader.TryReadHeader(out var header));
            Assert.True(reader.TryReadQuestion(name, out _, out _, out _));
            for (var i = 0; i < header.AnswerCount + header.AuthorityCount + header.AdditionalCount; i++)
            {
                Assert.True(reader.TryReadRecord(name, out var record));
                Assert.NotEqual(DnsQueryParser.OptType, (ushort)record.Type);
            }

            Assert.Equal(stored.Length, reader.Position);
            var client = Query("www.example.org", payload: 1232);
            var buffer = new byte[65535];
            var length = answer.WriteTo(buffer, 1232, client, Parse(client), 17, 1232);
            Assert.InRange(length, DnsHeader.Size, 1232);
        }
    }

    private static UpstreamVerdict Inspect(byte[] message, out ForwardedAnswer? answer) =>
        UpstreamResponse.Inspect(message, Id, _name, DnsRecordType.A, 1, _limits, build: true, out answer);

    /// <summary>Sets RDLENGTH of a one-record SOA built with a placeholder, from what follows it.</summary>
    private static byte[] Fix(byte[] record)
    {
        var owner = Name("example.org").Length;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(owner + 8), (ushort)(record.Length - owner - 10));
        return record;
    }
}
