using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Tests.Support;
using NSubstitute;

namespace Lashup.Plugins.Dns.Tests.Server;

public sealed class DnsServerTests
{
    private static string[] Addresses(IDnsQueryResponse r) => [.. r.Answers.OfType<AddressRecord>().Select(a => a.Address.ToString()).Order()];

    [Fact]
    public async Task ServiceName_InstancesOnReachableNodes_ReturnsTheirAddresses()
    {
        await using var s = await TestServer.StartAsync();
        s.Membership.AddMember("node-2", new IPEndPoint(IPAddress.Parse("127.0.0.2"), 7470));
        s.Membership.AddMember("node-3", new IPEndPoint(IPAddress.Parse("127.0.0.3"), 7470), MemberState.Unreachable);
        await s.RegisterAsync("web", "a", "10.0.0.1", "node-1", "http:80/tcp");
        await s.RegisterAsync("web", "b", "10.0.0.2", "node-2", "http:80/tcp");
        await s.RegisterAsync("web", "c", "10.0.0.3", "node-3", "http:80/tcp");

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)).Length == 2, "two healthy instances");
        var response = await s.QueryAsync("web.lashup.directory", QueryType.A);

        Assert.Equal(["10.0.0.1", "10.0.0.2"], Addresses(response));
        Assert.True(response.Header.HasAuthorityAnswer);
        Assert.All(response.Answers, a => Assert.Equal(5, a.InitialTimeToLive));
    }

    [Fact]
    public async Task ServiceName_ManyQueries_RotatesTheOrder()
    {
        await using var s = await TestServer.StartAsync();
        for (var i = 1; i <= 4; i++)
        {
            await s.RegisterAsync("web", $"i{i}", $"10.0.0.{i}");
        }

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)).Length == 4, "four instances");
        var firsts = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            var response = await s.QueryAsync("web.lashup.directory", QueryType.A);
            Assert.Equal(4, response.Answers.Count);
            firsts.Add(response.Answers.OfType<ARecord>().First().Address.ToString());
        }

        Assert.True(firsts.Count > 1, "every answer started with the same address");
    }

    [Fact]
    public async Task ServiceName_EveryNodeUnreachable_FailsOpenWithAllInstances()
    {
        await using var s = await TestServer.StartAsync();
        s.Membership.AddMember("node-2", new IPEndPoint(IPAddress.Parse("127.0.0.2"), 7470), MemberState.Unreachable);
        await s.RegisterAsync("db", "a", "10.0.1.1", "node-2");
        await s.RegisterAsync("db", "b", "10.0.1.2", "node-9");

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("db.lashup.directory", QueryType.A)).Length == 2, "both instances");
    }

    [Fact]
    public async Task ServiceName_NodeBecomesUnreachable_DropsItsInstances()
    {
        await using var s = await TestServer.StartAsync();
        s.Membership.AddMember("node-2", new IPEndPoint(IPAddress.Parse("127.0.0.2"), 7470));
        await s.RegisterAsync("web", "a", "10.0.0.1", "node-1");
        await s.RegisterAsync("web", "b", "10.0.0.2", "node-2");
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)).Length == 2, "both instances");

        s.Membership.SetState("node-2", MemberState.Unreachable);

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)) is ["10.0.0.1"], "only the reachable instance");
    }

    [Fact]
    public async Task Srv_ByNumberAndByName_TargetsInstancesWithTheirAddresses()
    {
        await using var s = await TestServer.StartAsync();
        await s.RegisterAsync("web", "a", "10.0.0.1", "node-1", "http:8080/tcp", "53/udp");
        await s.RegisterAsync("web", "b", "fd00::2", "node-1", "http:8080/tcp");

        await TestServer.EventuallyAsync(async () => (await s.QueryAsync("_http._tcp.web.lashup.directory", QueryType.SRV)).Answers.Count == 2, "two SRV records");
        var byName = await s.QueryAsync("_http._tcp.web.lashup.directory", QueryType.SRV);
        var byNumber = await s.QueryAsync("_8080._tcp.web.lashup.directory", QueryType.SRV);
        var udp = await s.QueryAsync("_53._udp.web.lashup.directory", QueryType.SRV);

        Assert.Equal(["a.web.lashup.directory.:8080", "b.web.lashup.directory.:8080"],
            byName.Answers.OfType<SrvRecord>().Select(r => $"{r.Target}:{r.Port}").Order());
        Assert.Equal(2, byNumber.Answers.Count);
        Assert.Equal(["10.0.0.1", "fd00::2"], byName.Additionals.OfType<AddressRecord>().Select(a => a.Address.ToString()).Order());
        Assert.Equal("a.web.lashup.directory.", Assert.Single(udp.Answers.OfType<SrvRecord>()).Target.Value);
    }

    [Fact]
    public async Task InstanceVipAndNodeNames_Resolve_AndPtrPointsBack()
    {
        await using var s = await TestServer.StartAsync();
        s.Membership.AddMember("node-2", new IPEndPoint(IPAddress.Parse("127.0.0.2"), 7470));
        await s.RegisterAsync("web", "a", "10.0.0.1");
        await s.SetVipAsync("frontend", "11.0.0.7");

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("frontend.l4lb.lashup.directory", QueryType.A)).Length == 1, "the VIP");
        Assert.Equal(["10.0.0.1"], Addresses(await s.QueryAsync("a.web.lashup.directory", QueryType.A)));
        Assert.Equal(["11.0.0.7"], Addresses(await s.QueryAsync("frontend.l4lb.lashup.directory", QueryType.A)));
        Assert.Equal(["127.0.0.2"], Addresses(await s.QueryAsync("node-2.node.lashup.directory", QueryType.A)));
        Assert.Equal("a.web.lashup.directory.", Assert.Single((await s.Client().QueryReverseAsync(IPAddress.Parse("10.0.0.1"))).Answers.OfType<PtrRecord>()).PtrDomainName.Value);
        Assert.Equal("frontend.l4lb.lashup.directory.", Assert.Single((await s.Client().QueryReverseAsync(IPAddress.Parse("11.0.0.7"))).Answers.OfType<PtrRecord>()).PtrDomainName.Value);
        Assert.Equal("node-2.node.lashup.directory.", Assert.Single((await s.Client().QueryReverseAsync(IPAddress.Parse("127.0.0.2"))).Answers.OfType<PtrRecord>()).PtrDomainName.Value);
    }

    [Fact]
    public async Task ZoneApex_SoaAndNs_AreServed()
    {
        await using var s = await TestServer.StartAsync();

        var soa = Assert.Single((await s.QueryAsync("lashup.directory", QueryType.SOA)).Answers.OfType<SoaRecord>());
        var ns = Assert.Single((await s.QueryAsync("lashup.directory", QueryType.NS)).Answers.OfType<NsRecord>());

        Assert.Equal("ns.lashup.directory.", soa.MName.Value);
        Assert.Equal("hostmaster.lashup.directory.", soa.RName.Value);
        Assert.Equal("ns.lashup.directory.", ns.NSDName.Value);
        Assert.Equal(["127.0.0.1"], Addresses(await s.QueryAsync("ns.lashup.directory", QueryType.A)));
    }

    [Fact]
    public async Task MissingName_InZone_NxDomainWithSoa()
    {
        await using var s = await TestServer.StartAsync();

        var response = await s.QueryAsync("nothing.lashup.directory", QueryType.A);

        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, response.Header.ResponseCode);
        Assert.Empty(response.Answers);
        Assert.Single(response.Authorities.OfType<SoaRecord>());
        Assert.True(response.Header.HasAuthorityAnswer);
    }

    [Theory]
    [InlineData("web.lashup.directory", QueryType.AAAA)]
    [InlineData("node.lashup.directory", QueryType.A)]
    [InlineData("_tcp.web.lashup.directory", QueryType.SRV)]
    [InlineData("web.lashup.directory", QueryType.TXT)]
    public async Task ExistingNameWithoutTheType_OrEmptyNonTerminal_NoDataWithSoa(string name, QueryType type)
    {
        await using var s = await TestServer.StartAsync();
        await s.RegisterAsync("web", "a", "10.0.0.1", "node-1", "80/tcp");
        // Until the registration is indexed the vendor's record answers (10.6.6.6): wait for the cluster's.
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)) is ["10.0.0.1"], "the service");

        var response = await s.QueryAsync(name, type);

        Assert.Equal(DnsHeaderResponseCode.NoError, response.Header.ResponseCode);
        Assert.Empty(response.Answers);
        Assert.Single(response.Authorities.OfType<SoaRecord>());
    }

    [Fact]
    public async Task NameOutsideTheZones_NoForwarder_Refused()
    {
        await using var s = await TestServer.StartAsync();

        var response = await s.QueryAsync("example.com", QueryType.A);

        Assert.Equal(DnsHeaderResponseCode.Refused, response.Header.ResponseCode);
        Assert.False(response.Header.RecursionAvailable);
    }

    [Fact]
    public async Task KvChanges_AreVisibleWithoutRestart_AndDeregistrationRemovesTheName()
    {
        await using var s = await TestServer.StartAsync();
        await s.RegisterAsync("api", "a", "10.0.2.1");
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("api.lashup.directory", QueryType.A)).Length == 1, "the registration");

        await s.RegisterAsync("api", "a", "10.0.2.9");
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("api.lashup.directory", QueryType.A)) is ["10.0.2.9"], "the new address");
        await s.DeregisterAsync("api", "a");

        await TestServer.EventuallyAsync(
            async () => (await s.QueryAsync("api.lashup.directory", QueryType.A)).Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain,
            "NXDOMAIN after deregistration");
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, (await s.QueryAsync("a.api.lashup.directory", QueryType.A)).Header.ResponseCode);
    }

    [Fact]
    public async Task LargeAnswer_UdpWithoutEdns_TruncatedThenComplete_OverTcp()
    {
        await using var s = await TestServer.StartAsync();
        for (var i = 1; i <= 60; i++)
        {
            await s.RegisterAsync("big", $"i{i}", $"10.1.0.{i}");
        }

        await TestServer.EventuallyAsync(async () => (await s.QueryAsync("big.lashup.directory", QueryType.A, tcp: true)).Answers.Count == 60, "sixty instances");
        var packet = Packets.Concat(Packets.Header(id: 7), Packets.Name("big.lashup.directory"), Packets.TypeClass());
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        await udp.SendAsync(packet, s.Endpoint);
        var reply = (await udp.ReceiveAsync().WaitAsync(TestServer.Timeout)).Buffer;
        var decoded = DecodedMessage.Decode(reply);

        Assert.True(reply.Length <= 512);
        Assert.True(decoded.Header.Truncated);
        Assert.Equal(60, (await s.QueryAsync("big.lashup.directory", QueryType.A, tcp: true)).Answers.Count);
    }

    [Fact]
    public async Task Names_AreCaseInsensitive_AndTheQuestionKeepsItsSpelling()
    {
        await using var s = await TestServer.StartAsync();
        await s.RegisterAsync("web", "a", "10.0.0.1");
        // Until the registration is indexed the vendor's record answers (10.6.6.6): wait for the cluster's.
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)) is ["10.0.0.1"], "the service");

        var response = await s.QueryAsync("WeB.LaShUp.DiReCtOrY", QueryType.A);

        Assert.Equal(["10.0.0.1"], Addresses(response));
        Assert.Equal("WeB.LaShUp.DiReCtOrY.", response.Questions[0].QueryName.Original);
    }

    [Fact]
    public async Task SeveralZones_AllServeTheSameRecords()
    {
        await using var s = await TestServer.StartAsync(zones: ["lashup.directory", "cluster.test"]);
        await s.RegisterAsync("web", "a", "10.0.0.1");

        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.cluster.test", QueryType.A)).Length == 1, "the second zone");
        Assert.Equal(["10.0.0.1"], Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)));
        Assert.Single((await s.QueryAsync("cluster.test", QueryType.SOA)).Answers.OfType<SoaRecord>());
    }

    [Fact]
    public async Task RecordSources_AreAskedInOrder_AfterTheClusterRecords_AndAFailingOneIsSkipped()
    {
        var broken = Substitute.For<IDnsRecordSource>();
        broken.Order.Returns(50);
        broken.Name.Returns("broken");
        broken.Lookup(Arg.Any<string>(), Arg.Any<Abstractions.Dns.DnsRecordType>()).Returns(_ => throw new InvalidOperationException("vendor bug"));
        var vendor = Substitute.For<IDnsRecordSource>();
        vendor.Order.Returns(100);
        vendor.Name.Returns("vendor");
        vendor.Lookup("db.lashup.directory", Abstractions.Dns.DnsRecordType.A)
            .Returns(DnsLookup.Found([DnsRecord.ForAddress("db.lashup.directory", IPAddress.Parse("10.9.9.9"), 30)]));
        vendor.Lookup("db.lashup.directory", Abstractions.Dns.DnsRecordType.AAAA).Returns(DnsLookup.Found([]));
        vendor.Lookup("static.example.org", Abstractions.Dns.DnsRecordType.A)
            .Returns(DnsLookup.Found([DnsRecord.ForAddress("static.example.org", IPAddress.Parse("10.9.9.8"))]));
        vendor.Lookup("web.lashup.directory", Arg.Any<Abstractions.Dns.DnsRecordType>())
            .Returns(DnsLookup.Found([DnsRecord.ForAddress("web.lashup.directory", IPAddress.Parse("10.6.6.6"))]));
        await using var s = await TestServer.StartAsync(sources: [vendor, broken]);
        await s.RegisterAsync("web", "a", "10.0.0.1");
        // Until the registration is indexed the vendor's record answers (10.6.6.6): wait for the cluster's.
        await TestServer.EventuallyAsync(async () => Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)) is ["10.0.0.1"], "the service");

        var db = await s.QueryAsync("db.lashup.directory", QueryType.A);
        var noData = await s.QueryAsync("db.lashup.directory", QueryType.AAAA);
        var outside = await s.QueryAsync("static.example.org", QueryType.A);

        Assert.Equal(["10.9.9.9"], Addresses(db));
        Assert.Equal(30, db.Answers[0].InitialTimeToLive);
        Assert.Equal(DnsHeaderResponseCode.NoError, noData.Header.ResponseCode);
        Assert.Empty(noData.Answers);
        Assert.Equal(["10.9.9.8"], Addresses(outside));
        Assert.Equal(["10.0.0.1"], Addresses(await s.QueryAsync("web.lashup.directory", QueryType.A)));
        Assert.True(Volatile.Read(ref s.Stats.SourceErrors) > 0);
    }
}
