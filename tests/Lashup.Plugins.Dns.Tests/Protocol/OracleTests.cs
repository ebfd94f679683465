using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CsCheck;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using AbstractionsType = Lashup.Abstractions.Dns.DnsRecordType;

namespace Lashup.Plugins.Dns.Tests.Protocol;

/// <summary>What we write, ARSoft.Tools.Net reads the same; what ARSoft writes, we read the same.</summary>
public class OracleTests
{
    [Fact]
    public void Parse_EveryRecordTypeWeWrite_OracleReadsSameRecords()
    {
        var (message, expected) = DnsResponseWriterTests.EveryType();

        var parsed = Oracle.Parse(message);

        Assert.Equal(expected.Where(e => !e.Contains(" 41 ", StringComparison.Ordinal)), Oracle.Records(parsed));
        Assert.Equal(0x1234, parsed.TransactionID);
        Assert.True(parsed.IsAuthoritiveAnswer);
        Assert.False(parsed.IsQuery);
        Assert.True(parsed.IsEDnsEnabled);
        Assert.Equal(4096, parsed.EDnsOptions!.UdpPayloadSize);
        Assert.True(parsed.EDnsOptions.IsDnsSecOk);
        Assert.Equal("web.lashup.directory", Oracle.Text(Assert.Single(parsed.Questions).Name));
    }

    [Fact]
    public void Parse_TruncatedResponse_OracleSeesTcAndCountsMatch()
    {
        var web = DnsName.FromText("web.lashup.directory");
        var buffer = new byte[1024];
        var writer = new DnsResponseWriter(buffer);
        writer.WriteQuestion(web, AbstractionsType.AAAA);
        var added = 0;
        while (writer.AddAaaa(DnsSection.Answer, web, 5, new byte[16]))
        {
            added++;
        }

        var parsed = Oracle.Parse(buffer[..writer.Finish()]);

        Assert.True(parsed.IsTruncated);
        Assert.Equal(added, parsed.AnswerRecords.Count);
    }

    [Fact]
    public void Parse_ErrorResponses_OracleReadsRcodes()
    {
        var packet = Packets.Concat(Packets.Header(id: 3, ar: 1), Packets.Name("a"), Packets.TypeClass(), Packets.Opt(version: 2));
        DnsQueryParser.TryParse(packet, out var query, out var error);
        error.TryGetResponseCode(out var code);
        var buffer = new byte[512];

        var parsed = Oracle.Parse(buffer[..DnsResponseWriter.WriteError(buffer, packet, query, code)]);

        Assert.Equal(ReturnCode.BadVersion, parsed.ReturnCode);
        Assert.Equal(0, parsed.EDnsOptions!.Version);

        var plain = Packets.Query("gone.lashup.directory");
        var nx = Oracle.Parse(buffer[..DnsResponseWriter.WriteError(buffer, plain, Packets.Parse(plain), DnsResponseCode.NxDomain)]);
        Assert.Equal(ReturnCode.NxDomain, nx.ReturnCode);
        Assert.False(nx.IsEDnsEnabled);
    }

    public static TheoryData<string, RecordType, ushort?, bool> OracleQueries => new()
    {
        { "web.lashup.directory", RecordType.A, null, false },
        { "Web.Lashup.Directory", RecordType.Aaaa, 1232, false },
        { "_http._tcp.web.lashup.directory", RecordType.Srv, 4096, true },
        { "15.2.0.10.in-addr.arpa", RecordType.Ptr, 512, false },
        { "lashup.directory", RecordType.Soa, 100, true },
        { "x", RecordType.Any, 65535, true },
        { ".", RecordType.Ns, 1400, false },
        { "huge-type.example", (RecordType)65534, null, false },
    };

    [Theory]
    [MemberData(nameof(OracleQueries))]
    public void TryParse_QueryEncodedByOracle_ReadsSameQuestionAndEdns(string name, RecordType type, ushort? payload, bool dnssecOk)
    {
        var message = new DnsMessage { TransactionID = 0x4242, IsQuery = true, IsRecursionDesired = true };
        message.Questions.Add(new DnsQuestion(DomainName.Parse(name), type, RecordClass.INet));
        if (payload is { } size)
        {
            message.EDnsOptions = new OptRecord(size) { IsDnsSecOk = dnssecOk };
            message.EDnsOptions.Options.Add(new CookieOption([1, 2, 3, 4, 5, 6, 7, 8]));
            message.EDnsOptions.Options.Add(new ClientSubnetOption(24, IPAddress.Parse("192.0.2.0")));
        }

        var query = Packets.Parse(Oracle.Encode(message));

        Assert.Equal(0x4242, query.Header.Id);
        Assert.True(query.Header.RecursionDesired);
        Assert.Equal(DnsName.Normalize(name), query.GetNameText());
        Assert.Equal((ushort)type, (ushort)query.QuestionType);
        Assert.Equal(1, query.QuestionClass);
        Assert.Equal(payload.HasValue, query.Edns.IsPresent);
        Assert.Equal(payload ?? 0, query.Edns.UdpPayloadSize);
        Assert.Equal(dnssecOk, query.Edns.DnssecOk);
    }

    [Fact]
    public void TryParse_RandomQueriesEncodedByOracle_ReadSame()
    {
        Generators.OracleQuery.Sample(
            spec =>
            {
                var (name, type, payload, dnssecOk, id) = spec;
                var message = new DnsMessage { TransactionID = id, IsQuery = true, IsRecursionDesired = (id & 1) == 0, IsCheckingDisabled = (id & 2) == 0 };
                message.Questions.Add(new DnsQuestion(DomainName.Parse(name), (RecordType)type, RecordClass.INet));
                if (payload > 0)
                {
                    message.EDnsOptions = new OptRecord(payload) { IsDnsSecOk = dnssecOk };
                }

                var query = Packets.Parse(Oracle.Encode(message));

                Assert.Equal(id, query.Header.Id);
                Assert.Equal((id & 1) == 0, query.Header.RecursionDesired);
                Assert.Equal((id & 2) == 0, query.Header.CheckingDisabled);
                Assert.Equal(DnsName.Normalize(name), query.GetNameText());
                Assert.Equal(type, (ushort)query.QuestionType);
                Assert.Equal(payload > 0, query.Edns.IsPresent);
                Assert.Equal(payload > 0 && dnssecOk, query.Edns.DnssecOk);
                Assert.Equal(payload, query.Edns.UdpPayloadSize);
            },
            iter: 2000);
    }

    [Fact]
    public void Finish_RandomResponses_OracleReadsWhatWeWrote()
    {
        Generators.Response.Sample(
            spec =>
            {
                var buffer = new byte[DnsResponseWriter.MaxMessageSize];
                var (length, written, truncated, edns) = Generators.Write(spec, buffer);

                Assert.True(length <= spec.Limit, $"{length} > {spec.Limit}");
                var message = buffer[..length];
                var ours = DecodedMessage.Decode(message);
                Assert.Equal(Lower(written), Lower(ours.Records.Where(r => r.Type != 41).Select(r => r.ToString())));
                Assert.Equal(length, ours.EndOffset);
                Assert.Equal(truncated, ours.Header.Truncated);

                var oracle = Oracle.Parse(message);
                Assert.Equal(Lower(written), Lower(Oracle.Records(oracle)));
                Assert.Equal(truncated, oracle.IsTruncated);
                Assert.Equal(edns, oracle.IsEDnsEnabled);
            },
            iter: 1000);
    }

    /// <summary>Compression matches names ignoring case, so a decoded name may carry an earlier spelling.</summary>
    private static IEnumerable<string> Lower(IEnumerable<string> records) => records.Select(r => r.ToLowerInvariant());
}
