using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;
using static Lashup.Plugins.Dns.Tests.Support.Packets;

namespace Lashup.Plugins.Dns.Tests.Protocol;

public class DnsQueryParserTests
{
    private static readonly byte[] _a = Name("a");

    /// <summary>Hostile and malformed packets, each with the one error it must produce.</summary>
    public static TheoryData<string, byte[], string> Hostile => new()
    {
        { "empty", [], nameof(DnsParseError.TruncatedHeader) },
        { "11 octets", new byte[11], nameof(DnsParseError.TruncatedHeader) },
        { "QR=1 (a response)", Concat(Header(flags: 0x8100), _a, TypeClass()), nameof(DnsParseError.NotAQuery) },
        { "opcode STATUS", Concat(Header(flags: 0x1000), _a, TypeClass()), nameof(DnsParseError.OpcodeNotImplemented) },
        { "opcode NOTIFY", Concat(Header(flags: 0x2000), _a, TypeClass()), nameof(DnsParseError.OpcodeNotImplemented) },
        { "opcode UPDATE", Concat(Header(flags: 0x2800), _a, TypeClass()), nameof(DnsParseError.OpcodeNotImplemented) },
        { "opcode 15", Concat(Header(flags: 0x7800)), nameof(DnsParseError.OpcodeNotImplemented) },
        { "qdcount 0", Header(qd: 0), nameof(DnsParseError.QuestionCount) },
        { "qdcount 2", Concat(Header(qd: 2), _a, TypeClass(), _a, TypeClass()), nameof(DnsParseError.QuestionCount) },
        { "qdcount 65535", Header(qd: 65535), nameof(DnsParseError.QuestionCount) },
        { "ancount 1", Concat(Header(an: 1), _a, TypeClass()), nameof(DnsParseError.AnswersInQuery) },
        { "header only", Header(), nameof(DnsParseError.TruncatedQuestion) },
        { "name without type and class", Concat(Header(), _a), nameof(DnsParseError.TruncatedQuestion) },
        { "type and half a class", Concat(Header(), _a, [0, 1, 0]), nameof(DnsParseError.TruncatedQuestion) },
        { "label runs past the end", Concat(Header(), [3, (byte)'a', (byte)'b']), nameof(DnsParseError.TruncatedQuestion) },
        { "no root label", Concat(Header(), [1, (byte)'a']), nameof(DnsParseError.TruncatedQuestion) },
        { "half a pointer", Concat(Header(), [0xC0]), nameof(DnsParseError.TruncatedQuestion) },
        { "64-octet label", Concat(Header(), [64, .. new byte[64], 0], TypeClass()), nameof(DnsParseError.LabelTooLong) },
        { "label type 0x40", Concat(Header(), [0x41, 0, 0], TypeClass()), nameof(DnsParseError.LabelTooLong) },
        { "label type 0x80", Concat(Header(), [0x80, 0], TypeClass()), nameof(DnsParseError.BadLabelType) },
        { "label type 0xBF", Concat(Header(), [1, (byte)'a', 0xBF, 0], TypeClass()), nameof(DnsParseError.BadLabelType) },
        { "256-octet name", Concat(Header(), Labels(63, 63, 63, 62), TypeClass()), nameof(DnsParseError.NameTooLong) },
        { "256-octet name, nothing after it", Concat(Header(), Labels(63, 63, 63, 62)), nameof(DnsParseError.NameTooLong) },
        { "256-octet owner through a pointer", Concat(Header(ar: 1), Labels(63, 63, 62), TypeClass(), [63, .. new byte[63], 0xC0, 12], TypeClass(), U32(0), U16(0)), nameof(DnsParseError.NameTooLong) },
        { "self pointer", Concat(Header(), [0xC0, 12], TypeClass()), nameof(DnsParseError.BadPointer) },
        { "forward pointer", Concat(Header(), [0xC0, 14, 1, (byte)'a', 0], TypeClass()), nameof(DnsParseError.BadPointer) },
        { "pointer far past the end", Concat(Header(), [0xFF, 0xFF], TypeClass()), nameof(DnsParseError.BadPointer) },
        { "pointer to the start of its own name", Concat(Header(), [1, (byte)'a', 0xC0, 12], TypeClass()), nameof(DnsParseError.BadPointer) },
        { "pointer loop through the header", Concat(Header(id: 0xC00A, ar: 0xC000), [0xC0, 0], TypeClass()), nameof(DnsParseError.BadPointer) },
        { "arcount 1, no record", Concat(Header(ar: 1), _a, TypeClass()), nameof(DnsParseError.TruncatedRecord) },
        { "arcount 65535, one OPT", Concat(Header(ar: 65535), _a, TypeClass(), Opt()), nameof(DnsParseError.TruncatedRecord) },
        { "record without its fixed fields", Concat(Header(ar: 1), _a, TypeClass(), [0, 0, 1]), nameof(DnsParseError.TruncatedRecord) },
        { "record RDLENGTH lies", Concat(Header(ar: 1), _a, TypeClass(), [0], TypeClass(), U32(0), U16(4), [1, 2]), nameof(DnsParseError.TruncatedRecord) },
        { "record owner forward pointer", Concat(Header(ar: 1), _a, TypeClass(), [0xC0, 0xFF], TypeClass(), U32(0), U16(0)), nameof(DnsParseError.BadPointer) },
        { "two OPT records", Concat(Header(ar: 2), _a, TypeClass(), Opt(), Opt()), nameof(DnsParseError.MultipleOpt) },
        { "OPT in the authority section", Concat(Header(ns: 1), _a, TypeClass(), Opt()), nameof(DnsParseError.OptNotInAdditional) },
        { "OPT owned by a name", Concat(Header(ar: 1), _a, TypeClass(), _a, Opt()[1..]), nameof(DnsParseError.OptOwnerNotRoot) },
        { "OPT owned by a pointer to a name", Concat(Header(ar: 1), _a, TypeClass(), [0xC0, 12], Opt()[1..]), nameof(DnsParseError.OptOwnerNotRoot) },
        { "OPT RDLENGTH past the end", Concat(Header(ar: 1), _a, TypeClass(), Opt(dataLength: 10)), nameof(DnsParseError.OptLengthMismatch) },
        { "option length 65535", Concat(Header(ar: 1), _a, TypeClass(), Opt(data: Option(10, [1, 2, 3, 4], length: 65535))), nameof(DnsParseError.BadOption) },
        { "option header cut short", Concat(Header(ar: 1), _a, TypeClass(), Opt(data: [0, 10, 0])), nameof(DnsParseError.BadOption) },
        { "second option overruns", Concat(Header(ar: 1), _a, TypeClass(), Opt(data: Concat(Option(10, new byte[8]), Option(12, [1], length: 2)))), nameof(DnsParseError.BadOption) },
        { "EDNS version 1", Concat(Header(ar: 1), _a, TypeClass(), Opt(version: 1)), nameof(DnsParseError.BadEdnsVersion) },
        { "EDNS version 255", Concat(Header(ar: 1), _a, TypeClass(), Opt(version: 255)), nameof(DnsParseError.BadEdnsVersion) },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void TryParse_HostileInput_ReturnsTheExactError(string description, byte[] packet, string expected)
    {
        var parsed = DnsQueryParser.TryParse(packet, out _, out var error);

        Assert.False(parsed, description);
        Assert.Equal(expected, error.ToString());
    }

    [Fact]
    public void TryParse_PlainQuery_ReadsQuestionLowerCased()
    {
        var packet = Concat(Header(id: 0xABCD, flags: 0x0110), Name("Web.LASHUP.Directory"), TypeClass(DnsRecordType.SRV, 1));

        Assert.True(DnsQueryParser.TryParse(packet, out var query, out var error));

        Assert.Equal(DnsParseError.None, error);
        Assert.Equal(0xABCD, query.Header.Id);
        Assert.True(query.Header.RecursionDesired);
        Assert.True(query.Header.CheckingDisabled);
        Assert.True(query.HasQuestion);
        Assert.Equal(Name("web.lashup.directory"), query.Name.ToArray());
        Assert.Equal("web.lashup.directory", query.GetNameText());
        Assert.Equal(DnsName.GetHashCode(Name("WEB.lashup.directory")), query.NameHash);
        Assert.Equal(DnsRecordType.SRV, query.QuestionType);
        Assert.Equal(1, query.QuestionClass);
        Assert.Equal(packet.Length, query.QuestionEnd);
        Assert.False(query.Edns.IsPresent);
        Assert.Equal(512, query.Edns.EffectivePayloadSize);
    }

    [Fact]
    public void TryParse_NonAsciiOctets_LowerCasesAsciiOnly()
    {
        // 0xC9 ('É' in Latin-1) stays as it is; the ASCII letters after it are still folded (RFC 4343).
        var query = Parse(Concat(Header(), [4, (byte)'A', 0xC9, (byte)'B', (byte)'C', 2, (byte)'X', 0xFF, 0], TypeClass()));

        Assert.Equal([4, (byte)'a', 0xC9, (byte)'b', (byte)'c', 2, (byte)'x', 0xFF, 0], query.Name.ToArray());
        Assert.Equal(DnsName.GetHashCode([4, (byte)'A', 0xC9, (byte)'B', (byte)'C', 2, (byte)'X', 0xFF, 0]), query.NameHash);
    }

    [Fact]
    public void TryParse_QueryWithOpt_ReadsEdnsAndSkipsOptions()
    {
        var options = Concat(Option(10, [1, 2, 3, 4, 5, 6, 7, 8]), Option(8, [0, 1, 24, 0, 10, 0, 2]), Option(0xFDE9, []));
        var packet = Concat(Header(ar: 1), Name("a.b"), TypeClass(DnsRecordType.AAAA), Opt(4096, dnssecOk: true, extendedRcode: 3, data: options));

        var query = Parse(packet);

        Assert.Equal(new DnsEdns(IsPresent: true, UdpPayloadSize: 4096, Version: 0, DnssecOk: true, ExtendedResponseCode: 3), query.Edns);
        Assert.Equal(DnsRecordType.AAAA, query.QuestionType);
    }

    [Fact]
    public void TryParse_SmallPayloadSize_CountsAs512()
    {
        var query = Parse(Query("a", payload: 100));

        Assert.Equal(100, query.Edns.UdpPayloadSize);
        Assert.Equal(512, query.Edns.EffectivePayloadSize);
    }

    [Fact]
    public void TryParse_AuthorityAndOtherAdditionalRecords_AreSkipped()
    {
        // An authority record, then a record whose owner points back at the question, then the OPT record.
        var packet = Concat(
            Header(ns: 1, ar: 2),
            Name("a.b"),
            TypeClass(),
            Name("b"),
            TypeClass(DnsRecordType.NS),
            U32(60),
            U16(2),
            [0xC0, 12],
            [0xC0, 12],
            TypeClass(DnsRecordType.TXT),
            U32(0),
            U16(3),
            [2, (byte)'h', (byte)'i'],
            Opt(1400));

        var query = Parse(packet);

        Assert.Equal("a.b", query.GetNameText());
        Assert.Equal(1400, query.Edns.UdpPayloadSize);
    }

    [Fact]
    public void TryParse_TrailingOctets_AreIgnored()
    {
        var query = Parse(Concat(Query("a"), [1, 2, 3]));

        Assert.Equal("a", query.GetNameText());
    }

    [Fact]
    public void TryParse_BackwardPointerIntoHeader_FollowsIt()
    {
        // Offset 4 holds QDCOUNT's high octet, 0: a pointer there reads the root name. Legal, if odd.
        var query = Parse(Concat(Header(), [0xC0, 4], TypeClass(DnsRecordType.NS)));

        Assert.Equal(DnsName.Root.ToArray(), query.Name.ToArray());
        Assert.Equal(18, query.QuestionEnd);
    }

    [Fact]
    public void TryParse_LongestName_IsAccepted()
    {
        var query = Parse(Concat(Header(), Labels(63, 63, 63, 61), TypeClass()));

        Assert.Equal(255, query.NameLength);
    }

    [Fact]
    public void TryParse_BadEdnsVersion_KeepsQuestionAndEdnsForTheBadversAnswer()
    {
        var packet = Concat(Header(ar: 1), _a, TypeClass(), Opt(version: 1, dnssecOk: true));

        Assert.False(DnsQueryParser.TryParse(packet, out var query, out var error));

        Assert.Equal(DnsParseError.BadEdnsVersion, error);
        Assert.True(query.HasQuestion);
        Assert.True(query.Edns.IsPresent);
        Assert.Equal(1, query.Edns.Version);
    }

    [Fact]
    public void TryParse_MalformedAfterOpt_ClearsEdns()
    {
        var packet = Concat(Header(ar: 2), _a, TypeClass(), Opt(), Opt());

        Assert.False(DnsQueryParser.TryParse(packet, out var query, out _));

        Assert.True(query.HasHeader);
        Assert.True(query.HasQuestion);
        Assert.False(query.Edns.IsPresent);
    }

    [Theory]
    [InlineData(nameof(DnsParseError.None), true, nameof(DnsResponseCode.NoError))]
    [InlineData(nameof(DnsParseError.TruncatedHeader), false, nameof(DnsResponseCode.NoError))]
    [InlineData(nameof(DnsParseError.NotAQuery), false, nameof(DnsResponseCode.NoError))]
    [InlineData(nameof(DnsParseError.OpcodeNotImplemented), true, nameof(DnsResponseCode.NotImplemented))]
    [InlineData(nameof(DnsParseError.BadEdnsVersion), true, nameof(DnsResponseCode.BadVersion))]
    [InlineData(nameof(DnsParseError.BadPointer), true, nameof(DnsResponseCode.FormatError))]
    [InlineData(nameof(DnsParseError.QuestionCount), true, nameof(DnsResponseCode.FormatError))]
    [InlineData(nameof(DnsParseError.MultipleOpt), true, nameof(DnsResponseCode.FormatError))]
    public void TryGetResponseCode_Error_MapsToAnswerOrDrop(string error, bool answers, string expected)
    {
        Assert.Equal(answers, Enum.Parse<DnsParseError>(error).TryGetResponseCode(out var code));
        Assert.Equal(Enum.Parse<DnsResponseCode>(expected), code);
    }

    /// <summary>A name of labels of the given lengths (filled with 'x'), ending with the root label.</summary>
    private static byte[] Labels(params int[] lengths) =>
        [.. lengths.SelectMany(length => (byte[])[(byte)length, .. Enumerable.Repeat((byte)'x', length)]), 0];
}
