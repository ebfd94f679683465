using System.Net;
using System.Text;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using static Lashup.Plugins.Dns.Tests.Support.Packets;

namespace Lashup.Plugins.Dns.Tests.Protocol;

public class DnsResponseWriterTests
{
    private static readonly byte[] _web = Name("web.lashup.directory");
    private static readonly byte[] _zone = Name("lashup.directory");

    /// <summary>A response with one record of every type the writer knows, and what a decoder must read back.</summary>
    internal static (byte[] Message, string[] Expected) EveryType()
    {
        var query = Parse(Query("web.lashup.directory", DnsRecordType.ANY, payload: 4096, dnssecOk: true));
        var packet = Query("web.lashup.directory", DnsRecordType.ANY, payload: 4096, dnssecOk: true);
        var buffer = new byte[4096];
        var writer = new DnsResponseWriter(buffer, DnsResponseWriter.GetUdpLimit(query, 4096));
        Assert.True(writer.BeginResponse(query, packet, 4096));
        writer.AuthoritativeAnswer = true;
        var longText = new string('t', 300);
        Assert.True(writer.AddA(DnsSection.Answer, _web, 5, [10, 0, 2, 15]));
        Assert.True(writer.AddAaaa(DnsSection.Answer, _web, 5, IPAddress.Parse("fd00::1").GetAddressBytes()));
        Assert.True(writer.AddCname(DnsSection.Answer, Name("www.lashup.directory"), 60, _web));
        Assert.True(writer.AddPtr(DnsSection.Answer, Name("15.2.0.10.in-addr.arpa"), 7, _web));
        Assert.True(writer.AddSrv(DnsSection.Answer, Name("_http._tcp.web.lashup.directory"), 5, 10, 20, 8080, Name("agent-1.node.lashup.directory")));
        Assert.True(writer.AddTxt(DnsSection.Answer, _web, 5, Encoding.UTF8.GetBytes(longText)));
        Assert.True(writer.AddTxt(DnsSection.Answer, _web, 5, []));
        Assert.True(writer.AddNs(DnsSection.Authority, _zone, 3600, Name("ns.lashup.directory")));
        Assert.True(writer.AddSoa(DnsSection.Authority, _zone, 3600, Name("ns.lashup.directory"), Name("hostmaster.lashup.directory"), 2024010101, 60, 30, 86400, 5));
        Assert.True(writer.AddA(DnsSection.Additional, Name("agent-1.node.lashup.directory"), 5, [192, 0, 2, 1]));
        var length = writer.Finish();

        string[] expected =
        [
            "Answer web.lashup.directory 1 5 10.0.2.15",
            "Answer web.lashup.directory 28 5 fd00::1",
            "Answer www.lashup.directory 5 60 web.lashup.directory",
            "Answer 15.2.0.10.in-addr.arpa 12 7 web.lashup.directory",
            "Answer _http._tcp.web.lashup.directory 33 5 10 20 8080 agent-1.node.lashup.directory",
            $"Answer web.lashup.directory 16 5 {new string('t', 255)}|{new string('t', 45)}",
            "Answer web.lashup.directory 16 5 ",
            "Authority lashup.directory 2 3600 ns.lashup.directory",
            "Authority lashup.directory 6 3600 ns.lashup.directory hostmaster.lashup.directory 2024010101 60 30 86400 5",
            "Additional agent-1.node.lashup.directory 1 5 192.0.2.1",
            "Additional . 41 32768 payload=4096 options=0",
        ];
        return (buffer[..length], expected);
    }

    [Fact]
    public void Finish_EveryRecordType_RoundTripsThroughTheReader()
    {
        var (message, expected) = EveryType();

        var decoded = DecodedMessage.Decode(message);

        Assert.Equal(expected, decoded.Records.Select(r => r.ToString()));
        Assert.Equal(message.Length, decoded.EndOffset);
        Assert.True(decoded.Header.IsResponse);
        Assert.True(decoded.Header.AuthoritativeAnswer);
        Assert.False(decoded.Header.Truncated);
        Assert.Equal(0x1234, decoded.Header.Id);
        Assert.Equal(("web.lashup.directory", DnsRecordType.ANY, (ushort)1), Assert.Single(decoded.Questions));
    }

    [Fact]
    public void AddA_RepeatedOwner_CompressesToAPointer()
    {
        var packet = Query("web.lashup.directory");
        var query = Parse(packet);
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);
        writer.BeginResponse(query, packet);
        for (var i = 0; i < 10; i++)
        {
            Assert.True(writer.AddA(DnsSection.Answer, _web, 5, [10, 0, 0, (byte)i]));
        }

        var length = writer.Finish();

        // Header, question (22-octet name + type + class), and ten records of pointer (2) + fixed fields (10) + address (4).
        Assert.Equal(12 + 22 + 4 + (10 * 16), length);
        Assert.Equal(10, DecodedMessage.Decode(buffer.AsSpan(0, length)).Records.Count(r => r.Name == "web.lashup.directory"));
    }

    [Fact]
    public void AddCname_SharedSuffixAnyCase_PointsIntoEarlierName()
    {
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);
        writer.WriteQuestion(Name("WEB.LASHUP.DIRECTORY"), DnsRecordType.CNAME);
        var afterQuestion = writer.Length;
        writer.AddCname(DnsSection.Answer, Name("web.lashup.directory"), 5, Name("db.Lashup.Directory"));
        var length = writer.Finish();

        // Owner: a pointer (2). RDATA: "db" (3) + a pointer to "LASHUP.DIRECTORY" (2).
        Assert.Equal(afterQuestion + 2 + 10 + 5, length);
        var record = Assert.Single(DecodedMessage.Decode(buffer.AsSpan(0, length)).Records);
        Assert.Equal("WEB.LASHUP.DIRECTORY", record.Name);
        Assert.Equal("db.LASHUP.DIRECTORY", record.Data);
    }

    [Fact]
    public void AddSrv_Target_IsNeverCompressed()
    {
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);
        writer.WriteQuestion(_web, DnsRecordType.SRV);
        var afterQuestion = writer.Length;
        writer.AddSrv(DnsSection.Answer, _web, 5, 0, 1, 80, _web);
        var length = writer.Finish();

        Assert.Equal(afterQuestion + 2 + 10 + 6 + _web.Length, length);
    }

    [Fact]
    public void AddA_MoreDistinctNamesThanCompressionSlots_StillDecodes()
    {
        var buffer = new byte[8192];
        var writer = new DnsResponseWriter(buffer, 8192);
        writer.WriteQuestion(_web, DnsRecordType.A);
        for (var i = 0; i < 100; i++)
        {
            Assert.True(writer.AddA(DnsSection.Answer, Name($"host-{i % 50}.rack-{i % 7}.lashup.directory"), 5, [10, 0, 0, (byte)i]));
        }

        var length = writer.Finish();

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"host-{i % 50}.rack-{i % 7}.lashup.directory"), decoded.Records.Select(r => r.Name));
    }

    [Fact]
    public void AddTxt_PastOffset16K_NamesAfterItAreNotPointedAt()
    {
        var buffer = new byte[DnsResponseWriter.MaxMessageSize];
        var writer = new DnsResponseWriter(buffer, DnsResponseWriter.MaxMessageSize);
        writer.WriteQuestion(_web, DnsRecordType.TXT);
        var text = new byte[1000];
        for (var i = 0; i < 20; i++)
        {
            Assert.True(writer.AddTxt(DnsSection.Answer, _web, 5, text));
        }

        Assert.True(writer.Length > 0x4000);
        Assert.True(writer.AddA(DnsSection.Additional, Name("late.example"), 5, [1, 2, 3, 4]));
        Assert.True(writer.AddA(DnsSection.Additional, Name("late.example"), 5, [1, 2, 3, 5]));
        var length = writer.Finish();

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(["late.example", "late.example"], decoded.In(DnsSection.Additional).Select(r => r.Name));
    }

    [Fact]
    public void AddA_PastTheLimit_SetsTcWithConsistentCounts()
    {
        var buffer = new byte[4096];
        var writer = new DnsResponseWriter(buffer, DnsResponseWriter.ClassicUdpLimit);
        writer.WriteQuestion(_web, DnsRecordType.A);
        var added = 0;
        while (writer.AddA(DnsSection.Answer, _web, 5, [10, 0, (byte)(added >> 8), (byte)added]))
        {
            added++;
        }

        Assert.False(writer.AddSoa(DnsSection.Authority, _zone, 5, _zone, _zone, 1, 2, 3, 4, 5));
        Assert.False(writer.AddA(DnsSection.Additional, _web, 5, [1, 1, 1, 1]));
        var length = writer.Finish();

        Assert.True(length <= 512);
        Assert.Equal((512 - 12 - 26) / 16, added);
        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.True(decoded.Header.Truncated);
        Assert.Equal(added, decoded.Header.AnswerCount);
        Assert.Equal(0, decoded.Header.AuthorityCount);
        Assert.Equal(0, decoded.Header.AdditionalCount);
        Assert.Equal(length, decoded.EndOffset);
    }

    [Fact]
    public void AddA_AdditionalDoesNotFit_OmittedWithoutTc()
    {
        var buffer = new byte[4096];
        var writer = new DnsResponseWriter(buffer, 100);
        writer.WriteQuestion(_web, DnsRecordType.SRV);
        Assert.True(writer.AddSrv(DnsSection.Answer, _web, 5, 0, 1, 80, Name("agent-1.node.lashup.directory")));
        Assert.False(writer.AddAaaa(DnsSection.Additional, Name("agent-1.node.lashup.directory"), 5, new byte[16]));
        Assert.False(writer.AddA(DnsSection.Additional, Name("x"), 5, [1, 2, 3, 4]));
        var length = writer.Finish();

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.False(decoded.Header.Truncated);
        Assert.Equal(1, decoded.Header.AnswerCount);
        Assert.Equal(0, decoded.Header.AdditionalCount);
        Assert.Equal(length, decoded.EndOffset);
    }

    [Fact]
    public void Finish_EdnsOn_OptAlwaysFitsWithinTheLimit()
    {
        var packet = Query("web.lashup.directory", payload: 600);
        var query = Parse(packet);
        var limit = DnsResponseWriter.GetUdpLimit(query, 4096);
        var buffer = new byte[4096];
        var writer = new DnsResponseWriter(buffer, limit);
        writer.BeginResponse(query, packet);
        while (writer.AddA(DnsSection.Answer, _web, 5, [1, 2, 3, 4]))
        {
        }

        var length = writer.Finish();

        Assert.Equal(600, limit);
        Assert.True(length <= 600);
        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.True(decoded.Header.Truncated);
        var opt = Assert.Single(decoded.In(DnsSection.Additional));
        Assert.Equal(41, opt.Type);
        Assert.Equal($"payload={DnsResponseWriter.DefaultEdnsPayloadSize} options=0", opt.Data);
    }

    [Theory]
    [InlineData(null, 1232, 512)]
    [InlineData((ushort)100, 1232, 512)]
    [InlineData((ushort)1000, 1232, 1000)]
    [InlineData((ushort)4096, 1232, 1232)]
    [InlineData((ushort)65535, 65535, 65535)]
    [InlineData((ushort)4096, 100, 512)]
    public void GetUdpLimit_ClientAndServerSizes_SmallerOfBothAtLeast512(ushort? payload, int serverMax, int expected)
    {
        var query = Parse(Query("a", payload: payload));

        Assert.Equal(expected, DnsResponseWriter.GetUdpLimit(query, serverMax));
    }

    [Fact]
    public void BeginResponse_MixedCaseQuestion_EchoesOriginalSpelling()
    {
        var packet = Query("wEb.LaShUp.DiReCtOrY", DnsRecordType.AAAA);
        var query = Parse(packet);
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);

        writer.BeginResponse(query, packet);
        var length = writer.Finish();

        Assert.Equal(packet, buffer[..length].Select((b, i) => i == 2 ? (byte)(b & 0x7F) : b).ToArray());
        Assert.Equal(0x81, buffer[2]);
    }

    [Fact]
    public void AddA_SectionOutOfOrder_Throws()
    {
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);
        writer.AddA(DnsSection.Additional, _web, 5, [1, 2, 3, 4]);

        var thrown = false;
        try
        {
            writer.AddA(DnsSection.Answer, _web, 5, [1, 2, 3, 4]);
        }
        catch (InvalidOperationException)
        {
            thrown = true;
        }

        Assert.True(thrown);
    }

    [Fact]
    public void AddA_InvalidName_ThrowsArgumentException()
    {
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);

        var thrown = false;
        try
        {
            writer.AddA(DnsSection.Answer, [3, (byte)'a'], 5, [1, 2, 3, 4]);
        }
        catch (ArgumentException)
        {
            thrown = true;
        }

        Assert.True(thrown);
    }

    [Fact]
    public void Finish_BufferSmallerThanHeader_WritesNothing()
    {
        var buffer = new byte[8];
        var writer = new DnsResponseWriter(buffer);

        Assert.False(writer.WriteQuestion(_web, DnsRecordType.A));
        Assert.False(writer.AddA(DnsSection.Answer, _web, 5, [1, 2, 3, 4]));
        Assert.Equal(0, writer.Finish());
    }

    [Fact]
    public void Finish_CalledTwice_SameLength()
    {
        var buffer = new byte[512];
        var writer = new DnsResponseWriter(buffer);
        writer.EnableEdns();

        Assert.Equal(writer.Finish(), writer.Finish());
        Assert.Equal(1, DecodedMessage.Decode(buffer.AsSpan(0, writer.Finish())).Header.AdditionalCount);
    }

    [Fact]
    public void Add_DnsRecords_WritesEachSupportedType()
    {
        var buffer = new byte[1024];
        var writer = new DnsResponseWriter(buffer, 1024);
        writer.Add(DnsSection.Answer, DnsRecord.ForAddress("web.lashup.directory", IPAddress.Parse("10.0.0.1")));
        writer.Add(DnsSection.Answer, DnsRecord.ForAddress("web.lashup.directory", IPAddress.Parse("fd00::2"), ttl: 9));
        writer.Add(DnsSection.Answer, DnsRecord.ForService("_http._tcp.web.lashup.directory", "web.lashup.directory", 80, priority: 1, weight: 2));
        writer.Add(DnsSection.Answer, new DnsRecord { Name = "a.lashup.directory", Type = DnsRecordType.CNAME, Target = "web.lashup.directory" });
        writer.Add(DnsSection.Answer, new DnsRecord { Name = "1.0.0.10.in-addr.arpa", Type = DnsRecordType.PTR, Target = "web.lashup.directory" });
        writer.Add(DnsSection.Answer, new DnsRecord { Name = "web.lashup.directory", Type = DnsRecordType.TXT, Text = "héllo" });
        writer.Add(DnsSection.Authority, new DnsRecord { Name = "lashup.directory", Type = DnsRecordType.NS, Target = "ns.lashup.directory" });
        var length = writer.Finish();

        Assert.Equal(
            [
                "Answer web.lashup.directory 1 5 10.0.0.1",
                "Answer web.lashup.directory 28 9 fd00::2",
                "Answer _http._tcp.web.lashup.directory 33 5 1 2 80 web.lashup.directory",
                "Answer a.lashup.directory 5 5 web.lashup.directory",
                "Answer 1.0.0.10.in-addr.arpa 12 5 web.lashup.directory",
                "Answer web.lashup.directory 16 5 héllo",
                "Authority lashup.directory 2 5 ns.lashup.directory",
            ],
            DecodedMessage.Decode(buffer.AsSpan(0, length)).Records.Select(r => r.ToString()));
    }

    [Fact]
    public void Add_UnsupportedOrInvalidRecord_Throws()
    {
        Assert.Throws<ArgumentException>(() => AddOne(new DnsRecord { Name = "lashup.directory", Type = DnsRecordType.SOA }));
        Assert.Throws<ArgumentException>(() => AddOne(new DnsRecord { Name = "a..b", Type = DnsRecordType.A, Address = IPAddress.Loopback }));
        Assert.Throws<ArgumentException>(() => AddOne(new DnsRecord { Name = "a", Type = DnsRecordType.A }));
        Assert.Throws<ArgumentException>(() => AddOne(new DnsRecord { Name = "a", Type = DnsRecordType.CNAME }));

        static void AddOne(DnsRecord record)
        {
            var writer = new DnsResponseWriter(new byte[512]);
            writer.Add(DnsSection.Answer, record);
        }
    }

    [Fact]
    public void Add_LongTxt_UsesThePoolAndSplitsStrings()
    {
        var buffer = new byte[8192];
        var writer = new DnsResponseWriter(buffer, 8192);
        var text = new string('x', 3000);

        Assert.True(writer.Add(DnsSection.Answer, new DnsRecord { Name = "t", Type = DnsRecordType.TXT, Text = text }));

        var record = Assert.Single(DecodedMessage.Decode(buffer.AsSpan(0, writer.Finish())).Records);
        Assert.Equal(text, record.Data.Replace("|", string.Empty, StringComparison.Ordinal));
        Assert.Equal(12, record.Data.Split('|').Length);
    }

    [Theory]
    [InlineData(nameof(DnsResponseCode.FormatError))]
    [InlineData(nameof(DnsResponseCode.ServerFailure))]
    [InlineData(nameof(DnsResponseCode.NxDomain))]
    [InlineData(nameof(DnsResponseCode.Refused))]
    [InlineData(nameof(DnsResponseCode.NotImplemented))]
    public void WriteError_ValidQueryWithOpt_EchoesQuestionAndOpt(string rcode)
    {
        var code = Enum.Parse<DnsResponseCode>(rcode);
        var packet = Query("Web.lashup.directory", DnsRecordType.A, payload: 4096, dnssecOk: true, id: 77);
        var query = Parse(packet);
        var buffer = new byte[512];

        var length = DnsResponseWriter.WriteError(buffer, packet, query, code);

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(77, decoded.Header.Id);
        Assert.Equal(code, decoded.Header.ResponseCode);
        Assert.True(decoded.Header.IsResponse);
        Assert.True(decoded.Header.RecursionDesired);
        Assert.Equal("Web.lashup.directory", Assert.Single(decoded.Questions).Name);
        var opt = Assert.Single(decoded.Records);
        Assert.Equal(41, opt.Type);
        Assert.Equal(0x8000u, opt.Ttl);
    }

    [Fact]
    public void WriteError_BadVersion_ExtendedRcodeInOptVersionZero()
    {
        var packet = Concat(Header(id: 9, ar: 1), Name("a"), TypeClass(), Opt(version: 1));
        DnsQueryParser.TryParse(packet, out var query, out var error);
        Assert.True(error.TryGetResponseCode(out var code));
        var buffer = new byte[512];

        var length = DnsResponseWriter.WriteError(buffer, packet, query, code);

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(DnsResponseCode.NoError, decoded.Header.ResponseCode);
        var opt = Assert.Single(decoded.Records);
        Assert.Equal(0x01000000u, opt.Ttl);
        Assert.Single(decoded.Questions);
    }

    [Fact]
    public void WriteError_QuestionCountTwo_FormErrWithoutQuestion()
    {
        var packet = Concat(Header(id: 5, qd: 2, ar: 1), Name("a"), TypeClass(), Name("b"), TypeClass(), Opt());
        DnsQueryParser.TryParse(packet, out var query, out var error);
        Assert.True(error.TryGetResponseCode(out var code));
        var buffer = new byte[512];

        var length = DnsResponseWriter.WriteError(buffer, packet, query, code);

        Assert.Equal(12, length);
        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(DnsResponseCode.FormatError, decoded.Header.ResponseCode);
        Assert.Equal(5, decoded.Header.Id);
        Assert.Equal(0, decoded.Header.QuestionCount);
    }

    [Fact]
    public void WriteError_UnknownOpcode_NotImpEchoesOpcode()
    {
        var packet = Concat(Header(id: 5, flags: 0x2000), Name("a"), TypeClass());
        DnsQueryParser.TryParse(packet, out var query, out var error);
        Assert.True(error.TryGetResponseCode(out var code));
        var buffer = new byte[512];

        var length = DnsResponseWriter.WriteError(buffer, packet, query, code);

        var decoded = DecodedMessage.Decode(buffer.AsSpan(0, length));
        Assert.Equal(DnsResponseCode.NotImplemented, decoded.Header.ResponseCode);
        Assert.Equal(DnsOpcode.Notify, decoded.Header.Opcode);
    }

    [Fact]
    public void WriteError_NoHeader_WritesNothing()
    {
        DnsQueryParser.TryParse(new byte[5], out var query, out _);

        Assert.Equal(0, DnsResponseWriter.WriteError(new byte[512], new byte[5], query, DnsResponseCode.FormatError));
    }
}
