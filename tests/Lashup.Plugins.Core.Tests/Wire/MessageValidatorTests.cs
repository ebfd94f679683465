using Lashup.Plugins.Core.Wire;
using static Lashup.Plugins.Core.Tests.Wire.WireSamples;

namespace Lashup.Plugins.Core.Tests.Wire;

public class MessageValidatorTests
{
    private const int MaxName = MessageValidator.MaxNameLength;
    private const int MaxSample = MessageValidator.MaxSampleSize;
    private const int MaxTtl = MessageValidator.MaxTimeToLive;

    private static readonly AdjacencyRecord ValidRecord = Record(1);

    private static string Chars(int n, char c = 'x') => new(c, n);

    private static NodeRef[] Nodes(int n) => [.. Enumerable.Range(0, n).Select(Node)];

    private static Dictionary<string, string> Metadata(int n) => Enumerable.Range(0, n).ToDictionary(i => $"k{i}", i => $"v{i}");

    private static Envelope Of(Message body) => Envelope(body);

    private static Envelope Of(AdjacencyRecord record) => Envelope(new AdjacencyUpdate(record));

    // name -> (envelope, valid). Each limit appears at its boundary: the largest value accepted and the first refused.
    private static readonly Dictionary<string, (Func<Envelope?> Build, bool Valid)> Cases = new()
    {
        ["null envelope"] = (() => null, false),
        ["sample ping"] = (() => Of(new Ping(1)), true),
        ["sender name at limit"] = (() => Of(new Ping(1)) with { From = Chars(MaxName) }, true),
        ["sender name over limit"] = (() => Of(new Ping(1)) with { From = Chars(MaxName + 1) }, false),
        ["sender name one char"] = (() => Of(new Ping(1)) with { From = "a" }, true),
        ["sender name empty"] = (() => Of(new Ping(1)) with { From = "" }, false),
        ["sender name null"] = (() => Of(new Ping(1)) with { From = null! }, false),
        ["sender name NUL"] = (() => Of(new Ping(1)) with { From = "a\0b" }, false),
        ["sender name tab"] = (() => Of(new Ping(1)) with { From = "a\tb" }, false),
        ["sender name DEL"] = (() => Of(new Ping(1)) with { From = "a\u007f" }, false),
        ["sender name C1 control"] = (() => Of(new Ping(1)) with { From = "a\u0085" }, false),
        ["sender name non-ASCII"] = (() => Of(new Ping(1)) with { From = "nœud-東京" }, true),
        ["sender address IPv6"] = (() => Of(new Ping(1)) with { FromAddress = "[fd00::1]:7470" }, true),
        ["sender address without port"] = (() => Of(new Ping(1)) with { FromAddress = "10.0.0.1" }, false),
        ["sender address null"] = (() => Of(new Ping(1)) with { FromAddress = null! }, false),
        ["sender address garbage"] = (() => Of(new Ping(1)) with { FromAddress = "not an address" }, false),
        ["sender address too long"] = (() => Of(new Ping(1)) with { FromAddress = "[fe80::1%" + Chars(60, 'e') + "]:1" }, false),
        ["epoch zero"] = (() => Of(new Ping(1)) with { Epoch = 0 }, true),
        ["epoch max"] = (() => Of(new Ping(1)) with { Epoch = long.MaxValue }, true),
        ["epoch negative"] = (() => Of(new Ping(1)) with { Epoch = -1 }, false),
        ["epoch min"] = (() => Of(new Ping(1)) with { Epoch = long.MinValue }, false),
        ["body null"] = (() => Of(new Ping(1)) with { Body = null! }, false),
        ["body of an unknown message type"] = (() => Of(new Unknown()), false),

        ["join"] = (() => Of(new Join(Node(1))), true),
        ["join null joiner"] = (() => Of(new Join(null!)), false),
        ["join joiner name empty"] = (() => Of(new Join(new NodeRef("", "10.0.0.1:1"))), false),
        ["join joiner address port zero"] = (() => Of(new Join(new NodeRef("a", "10.0.0.1:0"))), false),
        ["join joiner address null"] = (() => Of(new Join(new NodeRef("a", null!))), false),

        ["join reply alternatives at limit"] = (() => Of(new JoinReply(false, "full", Nodes(MaxSample), false)), true),
        ["join reply alternatives over limit"] = (() => Of(new JoinReply(false, "full", Nodes(MaxSample + 1), false)), false),
        ["join reply alternatives empty"] = (() => Of(new JoinReply(true, null, [], false)), true),
        ["join reply alternatives null"] = (() => Of(new JoinReply(true, null, null!, false)), false),
        ["join reply alternative null"] = (() => Of(new JoinReply(true, null, [Node(1), null!], false)), false),
        ["join reply alternative bad address"] = (() => Of(new JoinReply(true, null, [new NodeRef("a", "a:1")], false)), false),
        ["join reply reason at limit"] = (() => Of(new JoinReply(false, Chars(512), [], true)), true),
        ["join reply reason over limit"] = (() => Of(new JoinReply(false, Chars(513), [], true)), false),

        ["forward join ttl 0"] = (() => Of(new ForwardJoin(Node(1), 0)), true),
        ["forward join ttl at limit"] = (() => Of(new ForwardJoin(Node(1), MaxTtl)), true),
        ["forward join ttl over limit"] = (() => Of(new ForwardJoin(Node(1), MaxTtl + 1)), false),
        ["forward join ttl negative"] = (() => Of(new ForwardJoin(Node(1), -1)), false),
        ["forward join joiner invalid"] = (() => Of(new ForwardJoin(new NodeRef("a", "x"), 1)), false),

        ["neighbor request"] = (() => Of(new NeighborRequest(false)), true),
        ["neighbor reply"] = (() => Of(new NeighborReply(false)), true),
        ["disconnect"] = (() => Of(new Disconnect(false)), true),
        ["ack"] = (() => Of(new Ack(0)), true),

        ["shuffle nodes at limit"] = (() => Of(new Shuffle(Node(1), 1, Nodes(MaxSample), 1)), true),
        ["shuffle nodes over limit"] = (() => Of(new Shuffle(Node(1), 1, Nodes(MaxSample + 1), 1)), false),
        ["shuffle nodes null"] = (() => Of(new Shuffle(Node(1), 1, null!, 1)), false),
        ["shuffle node with control char"] = (() => Of(new Shuffle(Node(1), 1, [new NodeRef("a\rb", "10.0.0.1:1")], 1)), false),
        ["shuffle ttl at limit"] = (() => Of(new Shuffle(Node(1), MaxTtl, [], 1)), true),
        ["shuffle ttl over limit"] = (() => Of(new Shuffle(Node(1), MaxTtl + 1, [], 1)), false),
        ["shuffle ttl negative"] = (() => Of(new Shuffle(Node(1), -1, [], 1)), false),
        ["shuffle origin null"] = (() => Of(new Shuffle(null!, 1, [], 1)), false),
        ["shuffle reply nodes at limit"] = (() => Of(new ShuffleReply(1, Nodes(MaxSample))), true),
        ["shuffle reply nodes over limit"] = (() => Of(new ShuffleReply(1, Nodes(MaxSample + 1))), false),
        ["shuffle reply nodes null"] = (() => Of(new ShuffleReply(1, null!)), false),

        ["ping request"] = (() => Of(new PingRequest(1, Node(1))), true),
        ["ping request target null"] = (() => Of(new PingRequest(1, null!)), false),
        ["ping request target bad address"] = (() => Of(new PingRequest(1, new NodeRef("a", "10.0.0.1:99999"))), false),
        ["indirect ack"] = (() => Of(new IndirectAck(1, "a")), true),
        ["indirect ack target empty"] = (() => Of(new IndirectAck(1, "")), false),
        ["indirect ack target over limit"] = (() => Of(new IndirectAck(1, Chars(MaxName + 1))), false),

        ["record"] = (() => Of(ValidRecord), true),
        ["record null"] = (() => Of(new AdjacencyUpdate(null!)), false),
        ["record name empty"] = (() => Of(ValidRecord with { Name = "" }), false),
        ["record address bad"] = (() => Of(ValidRecord with { Address = "10.0.0.1:" }), false),
        ["record epoch negative"] = (() => Of(ValidRecord with { Epoch = -1 }), false),
        ["record counter negative"] = (() => Of(ValidRecord with { Counter = -1 }), false),
        ["record neighbors empty"] = (() => Of(ValidRecord with { Neighbors = [] }), true),
        ["record neighbors at limit"] = (() => Of(ValidRecord with { Neighbors = [.. Enumerable.Range(0, MessageValidator.MaxNeighbors).Select(i => $"n{i}")] }), true),
        ["record neighbors over limit"] = (() => Of(ValidRecord with { Neighbors = [.. Enumerable.Range(0, MessageValidator.MaxNeighbors + 1).Select(i => $"n{i}")] }), false),
        ["record neighbors null"] = (() => Of(ValidRecord with { Neighbors = null! }), false),
        ["record neighbor empty"] = (() => Of(ValidRecord with { Neighbors = ["a", ""] }), false),
        ["record neighbor null"] = (() => Of(ValidRecord with { Neighbors = ["a", null!] }), false),
        ["record metadata empty"] = (() => Of(ValidRecord with { Metadata = [] }), true),
        ["record metadata at limit"] = (() => Of(ValidRecord with { Metadata = Metadata(MessageValidator.MaxMetadataEntries) }), true),
        ["record metadata over limit"] = (() => Of(ValidRecord with { Metadata = Metadata(MessageValidator.MaxMetadataEntries + 1) }), false),
        ["record metadata null"] = (() => Of(ValidRecord with { Metadata = null! }), false),
        ["record metadata key at limit"] = (() => Of(ValidRecord with { Metadata = new() { [Chars(MessageValidator.MaxMetadataKeyLength)] = "v" } }), true),
        ["record metadata key over limit"] = (() => Of(ValidRecord with { Metadata = new() { [Chars(MessageValidator.MaxMetadataKeyLength + 1)] = "v" } }), false),
        ["record metadata key empty"] = (() => Of(ValidRecord with { Metadata = new() { [""] = "v" } }), false),
        ["record metadata value empty"] = (() => Of(ValidRecord with { Metadata = new() { ["k"] = "" } }), true),
        ["record metadata value at limit"] = (() => Of(ValidRecord with { Metadata = new() { ["k"] = Chars(MessageValidator.MaxMetadataValueLength) } }), true),
        ["record metadata value over limit"] = (() => Of(ValidRecord with { Metadata = new() { ["k"] = Chars(MessageValidator.MaxMetadataValueLength + 1) } }), false),
        ["record metadata value null"] = (() => Of(ValidRecord with { Metadata = new() { ["k"] = null! } }), false),

        ["digest empty"] = (() => Of(new GmDigest([], false)), true),
        ["digest at limit"] = (() => Of(new GmDigest([.. Enumerable.Repeat(new GmVersion("a", 0, 0), MessageValidator.MaxDigestEntries)], true)), true),
        ["digest over limit"] = (() => Of(new GmDigest([.. Enumerable.Repeat(new GmVersion("a", 0, 0), MessageValidator.MaxDigestEntries + 1)], true)), false),
        ["digest null"] = (() => Of(new GmDigest(null!, true)), false),
        ["digest entry null"] = (() => Of(new GmDigest([new GmVersion("a", 0, 0), null!], true)), false),
        ["digest entry name empty"] = (() => Of(new GmDigest([new GmVersion("", 0, 0)], true)), false),
        ["departures empty"] = (() => Of(new Departures([], true)), true),
        ["departures at limit"] = (() => Of(new Departures([.. Enumerable.Repeat(new DepartureEntry("a~1", 0, 0, false), MessageValidator.MaxDepartureEntries)], false)), true),
        ["departures over limit"] = (() => Of(new Departures([.. Enumerable.Repeat(new DepartureEntry("a~1", 0, 0, false), MessageValidator.MaxDepartureEntries + 1)], false)), false),
        ["departures null"] = (() => Of(new Departures(null!, false)), false),
        ["departures entry null"] = (() => Of(new Departures([null!], false)), false),
        ["departures replica empty"] = (() => Of(new Departures([new DepartureEntry("", 0, 0, false)], false)), false),
        ["departures replica over limit"] = (() => Of(new Departures([new DepartureEntry(Chars(MessageValidator.MaxReplicaLength + 1), 0, 0, false)], false)), false),
        ["departures time negative"] = (() => Of(new Departures([new DepartureEntry("a", -1, 0, false)], false)), false),
        ["departures reason unknown"] = (() => Of(new Departures([new DepartureEntry("a", 0, 3, false)], false)), false),
        ["departures roster"] = (() => Of(new Departures([], true, ["a~1", "b"])), true),
        ["departures roster entry empty"] = (() => Of(new Departures([], true, ["a~1", ""])), false),
        ["departures roster over limit"] = (() => Of(new Departures([], true, [.. Enumerable.Repeat("a", MessageValidator.MaxDigestEntries + 1)])), false),
        ["records empty"] = (() => Of(new GmRecords([])), true),
        ["records at limit"] = (() => Of(new GmRecords([.. Enumerable.Repeat(ValidRecord, MessageValidator.MaxDigestEntries)])), true),
        ["records over limit"] = (() => Of(new GmRecords([.. Enumerable.Repeat(ValidRecord, MessageValidator.MaxDigestEntries + 1)])), false),
        ["records null"] = (() => Of(new GmRecords(null!)), false),
        ["records entry null"] = (() => Of(new GmRecords([ValidRecord, null!])), false),
        ["records entry invalid"] = (() => Of(new GmRecords([ValidRecord, ValidRecord with { Counter = -5 }])), false),

        ["multicast"] = (() => Of(new MulticastData("o", 0, 0, "t", [])), true),
        ["multicast topic at limit"] = (() => Of(new MulticastData("o", 0, 0, Chars(MessageValidator.MaxTopicLength), [1])), true),
        ["multicast topic over limit"] = (() => Of(new MulticastData("o", 0, 0, Chars(MessageValidator.MaxTopicLength + 1), [1])), false),
        ["multicast topic empty"] = (() => Of(new MulticastData("o", 0, 0, "", [1])), false),
        ["multicast topic null"] = (() => Of(new MulticastData("o", 0, 0, null!, [1])), false),
        ["multicast origin empty"] = (() => Of(new MulticastData("", 0, 0, "t", [1])), false),
        ["multicast payload null"] = (() => Of(new MulticastData("o", 0, 0, "t", null!)), false),
        ["direct"] = (() => Of(new DirectData("kv.sync", [1])), true),
        ["direct topic empty"] = (() => Of(new DirectData("", [1])), false),
        ["direct payload null"] = (() => Of(new DirectData("t", null!)), false),
    };

    public static TheoryData<string, bool> Table()
    {
        var data = new TheoryData<string, bool>();
        foreach (var (name, (_, valid)) in Cases)
        {
            data.Add(name, valid);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Table))]
    public void IsValid_TableCase_MatchesExpected(string name, bool expected)
    {
        Assert.Equal(expected, MessageValidator.IsValid(Cases[name].Build()));
    }

    [Fact]
    public void IsValid_EverySample_Valid()
    {
        foreach (var (type, message) in Messages)
        {
            Assert.True(MessageValidator.IsValid(Envelope(message)), type);
        }
    }

    [Theory]
    [InlineData("127.0.0.1:7470", true)]
    [InlineData("0.0.0.0:1", true)]
    [InlineData("10.0.0.1:65535", true)]
    [InlineData("[::1]:7470", true)]
    [InlineData("[fd00::1%2]:7470", true)]
    [InlineData("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", true)]
    [InlineData("10.0.0.1:0", false)]
    [InlineData("10.0.0.1:65536", false)]
    [InlineData("10.0.0.1:-1", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("10.0.0.1:", false)]
    [InlineData("::1", false)]
    [InlineData("[::1]", false)]
    [InlineData("localhost:7470", false)]
    [InlineData("node-1:7470", false)]
    [InlineData("256.0.0.1:1", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsAddress_Table_MatchesExpected(string? address, bool expected)
    {
        Assert.Equal(expected, MessageValidator.IsAddress(address));
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("node-1.example.com", true)]
    [InlineData("名前", true)]
    [InlineData("with space", true)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("a\nb", false)]
    [InlineData("\0", false)]
    [InlineData("\u009f", false)]
    public void IsName_Table_MatchesExpected(string? name, bool expected)
    {
        Assert.Equal(expected, MessageValidator.IsName(name));
    }

    [Theory]
    [InlineData(MaxName, true)]
    [InlineData(MaxName + 1, false)]
    [InlineData(64 * 1024, false)]
    public void IsName_Length_LimitedTo253(int length, bool expected)
    {
        Assert.Equal(expected, MessageValidator.IsName(Chars(length)));
    }

    private sealed record Unknown : Message;
}
