using Lashup.Host.Tests.Support;
using Lashup.Plugins.Core.Tests.Integration;

namespace Lashup.Plugins.Dns.Tests.Integration;

/// <summary>Tests that start real daemons run one at a time: two cores cannot start a dozen .NET processes at once in time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DnsDaemonCollection
{
    public const string Name = "real DNS daemons";
}

/// <summary>
/// Three real <c>lashup</c> daemons on loopback with the DNS plugin; registrations made through the CLI on one node,
/// answers read with the real <c>dig</c> on another.
/// </summary>
[Collection(DnsDaemonCollection.Name)]
public sealed class DnsDaemonTests : IDisposable
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);
    private readonly DaemonCluster _cluster = new();
    private readonly Dictionary<string, int> _dnsPorts = [];

    public void Dispose() => _cluster.Dispose();

    private DaemonCluster.Daemon AddNode(string extraDns = "")
    {
        var port = TestEnvironment.FreePort();
        var node = _cluster.Add(extraToml: $"""
            [dns]
            listen = ["127.0.0.1:{port}"]
            zones = ["lashup.directory", "cluster.test"]
            udp_workers = 1
            tcp_idle_timeout = "2s"
            {extraDns}
            """);
        _dnsPorts[node.Name] = port;
        return node;
    }

    /// <summary>Runs dig against a node's DNS server, one try; every run is bounded.</summary>
    private Task<string> DigAsync(DaemonCluster.Daemon node, params string[] args) => Dig.RunAsync(_dnsPorts[node.Name], tries: 1, args);

    private async Task<string> DigUntilAsync(DaemonCluster.Daemon node, Func<string, bool> done, params string[] args)
    {
        var last = "";
        var ok = await _cluster.WaitAsync(async () => done(last = await DigAsync(node, args)), Converge);
        Assert.True(ok, $"dig {string.Join(' ', args)} never gave the expected answer; last:\n{last}\n{_cluster.Logs()}");
        return last;
    }

    private static string Status(string dig) =>
        dig.Split('\n').FirstOrDefault(l => l.Contains("status:", StringComparison.Ordinal))?.Split("status: ")[1].Split(',')[0] ?? "(no answer)";

    [SkippableFact]
    public async Task Dig_EveryRecordKindAndResponseCode_FromAnotherNode()
    {
        Dig.SkipIfMissing();
        var n1 = AddNode();
        var n2 = AddNode();
        var n3 = AddNode();
        _cluster.StartAll();
        Assert.True(await _cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(n3)).Count(m => m.Value == "alive") == 3, Converge), _cluster.Logs());

        await DaemonCluster.CliAsync("service", "register", "web", "--address", "10.0.0.5", "--port", "http:80/tcp", "--instance", "web-a", "--api", n1.Api);
        await DaemonCluster.CliAsync("service", "register", "web", "--address", "10.0.0.6", "--port", "http:80/tcp", "--port", "53/udp", "--instance", "web-b", "--api", n2.Api);
        await DaemonCluster.CliAsync("kv", "put", "lb/names/frontend", "--set", "address=11.0.0.7", "--api", n1.Api);
        for (var i = 1; i <= 40; i++)
        {
            await DaemonCluster.CliAsync("kv", "put", "services/big", "--set", $"instances.i{i}.address=10.2.0.{i}", "--set", $"instances.i{i}.node=node-1", "--api", n1.Api);
        }

        // A: the service's instances, registered on two other nodes.
        var a = await DigUntilAsync(n3, d => d.Contains("10.0.0.5", StringComparison.Ordinal) && d.Contains("10.0.0.6", StringComparison.Ordinal), "web.lashup.directory", "A");
        Assert.Contains("flags: qr aa", a, StringComparison.Ordinal);
        // SRV by port name, with the targets' addresses in the additional section; by number and protocol.
        var srv = await DigAsync(n3, "_http._tcp.web.lashup.directory", "SRV");
        Assert.Contains("0 1 80 web-a.web.lashup.directory.", srv, StringComparison.Ordinal);
        Assert.Contains("0 1 80 web-b.web.lashup.directory.", srv, StringComparison.Ordinal);
        Assert.Matches(@"web-a\.web\.lashup\.directory\.\s+5\s+IN\s+A\s+10\.0\.0\.5", srv);
        Assert.Contains("0 1 53 web-b.web.lashup.directory.", await DigAsync(n3, "_53._udp.web.lashup.directory", "SRV"), StringComparison.Ordinal);
        Assert.Contains("10.0.0.6", await DigAsync(n3, "+short", "web-b.web.lashup.directory"), StringComparison.Ordinal);
        // The second zone, case-insensitive names, PTR, nodes, named VIPs.
        Assert.Contains("10.0.0.5", await DigAsync(n3, "+short", "WEB.Cluster.Test"), StringComparison.Ordinal);
        Assert.Contains("web-a.web.lashup.directory.", await DigAsync(n3, "+short", "-x", "10.0.0.5"), StringComparison.Ordinal);
        Assert.Equal("127.0.0.1", (await DigAsync(n3, "+short", "node-1.node.lashup.directory")).Trim());
        Assert.Equal("11.0.0.7", (await DigUntilAsync(n3, d => d.Trim() == "11.0.0.7", "+short", "frontend.l4lb.lashup.directory")).Trim());
        // SOA and NS at the apex.
        Assert.Contains("ns.lashup.directory. hostmaster.lashup.directory.", await DigAsync(n3, "+short", "lashup.directory", "SOA"), StringComparison.Ordinal);
        Assert.Equal("ns.lashup.directory.", (await DigAsync(n3, "+short", "lashup.directory", "NS")).Trim());
        // NXDOMAIN and NODATA, both with the SOA in authority.
        var nx = await DigAsync(n3, "missing.lashup.directory");
        Assert.Equal("NXDOMAIN", Status(nx));
        Assert.Contains("AUTHORITY: 1", nx, StringComparison.Ordinal);
        var noData = await DigAsync(n3, "web.lashup.directory", "AAAA");
        Assert.Equal("NOERROR", Status(noData));
        Assert.Contains("ANSWER: 0, AUTHORITY: 1", noData, StringComparison.Ordinal);
        Assert.Equal("NOERROR", Status(await DigAsync(n3, "node.lashup.directory")));
        // REFUSED outside the zones: this node forwards nowhere.
        Assert.Equal("REFUSED", Status(await DigAsync(n3, "example.com")));
        // TCP, EDNS (our payload size in the OPT record), BADVERS, NOTIMP, FORMERR.
        Assert.Contains("10.0.0.5", await DigAsync(n3, "+tcp", "+short", "web.lashup.directory"), StringComparison.Ordinal);
        Assert.Contains("udp: 1232", await DigAsync(n3, "+bufsize=4096", "web.lashup.directory"), StringComparison.Ordinal);
        Assert.Equal("BADVERS", Status(await DigAsync(n3, "+edns=1", "+noednsnegotiation", "web.lashup.directory")));
        Assert.Equal("NOTIMP", Status(await DigAsync(n3, "+opcode=status", "web.lashup.directory")));
        Assert.Equal("FORMERR", Status(await DigAsync(n3, "+header-only", "web.lashup.directory")));
        // A large answer over UDP without EDNS is truncated (TC); dig retries over TCP and gets all 40.
        await DigUntilAsync(n3, d => d.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 40, "+short", "+tcp", "big.lashup.directory");
        var truncated = await DigAsync(n3, "+noedns", "+ignore", "big.lashup.directory");
        Assert.Contains(" tc", truncated.Split('\n').First(l => l.Contains("flags:", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal(40, (await DigAsync(n3, "+noedns", "+short", "big.lashup.directory")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        // Deregistration on one node removes the name everywhere.
        await DaemonCluster.CliAsync("service", "deregister", "web", "web-a", "--api", n2.Api);
        await DigUntilAsync(n3, d => d.Trim() == "10.0.0.6", "+short", "web.lashup.directory");
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ServiceRegister_OnANodeWithOrWithoutDns_AnsweredByAnotherNodesDns(bool dnsOnRegisteringNode)
    {
        Dig.SkipIfMissing();
        // The registering node's config has no [dns] section at all (so no DNS plugin), or has one.
        var registering = dnsOnRegisteringNode ? AddNode() : _cluster.Add();
        var answering = AddNode();
        _cluster.StartAll();
        Assert.True(await _cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(answering)).Count(m => m.Value == "alive") == 2, Converge), _cluster.Logs());

        await DaemonCluster.CliAsync("service", "register", "shop", "--address", "10.4.0.1", "--port", "http:8080/tcp", "--api", registering.Api);
        var list = await DaemonCluster.CliAsync("service", "list", "--api", registering.Api);
        Assert.Contains("shop", list, StringComparison.Ordinal);
        Assert.Contains("http:8080/tcp", list, StringComparison.Ordinal);

        Assert.Equal("10.4.0.1", (await DigUntilAsync(answering, d => d.Trim() == "10.4.0.1", "+short", "shop.lashup.directory")).Trim());
        Assert.Contains("0 1 8080 10-4-0-1.shop.lashup.directory.", await DigAsync(answering, "+short", "_http._tcp.shop.lashup.directory", "SRV"), StringComparison.Ordinal);
        if (dnsOnRegisteringNode)
        {
            await DigUntilAsync(registering, d => d.Trim() == "10.4.0.1", "+short", "shop.lashup.directory");
        }

        await DaemonCluster.CliAsync("service", "deregister", "shop", "10-4-0-1", "--api", registering.Api);
        await DigUntilAsync(answering, d => Status(d) == "NXDOMAIN", "shop.lashup.directory");
    }

    [SkippableFact]
    public async Task Dig_InstanceOnAKilledNode_LeavesTheAnswers()
    {
        Dig.SkipIfMissing();
        var n1 = AddNode();
        var n2 = AddNode();
        var n3 = AddNode();
        _cluster.StartAll();
        Assert.True(await _cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(n1)).Count(m => m.Value == "alive") == 3, Converge), _cluster.Logs());
        await DaemonCluster.CliAsync("service", "register", "api", "--address", "10.3.0.1", "--api", n1.Api);
        await DaemonCluster.CliAsync("service", "register", "api", "--address", "10.3.0.2", "--api", n2.Api);
        await DigUntilAsync(n3, d => d.Contains("10.3.0.1", StringComparison.Ordinal) && d.Contains("10.3.0.2", StringComparison.Ordinal), "+short", "api.lashup.directory");

        n2.ExpectedExit = true;
        n2.Process!.Kill();

        await DigUntilAsync(n3, d => d.Trim() == "10.3.0.1", "+short", "api.lashup.directory");
        Assert.Contains("10.3.0.1", await DigAsync(n1, "+short", "api.lashup.directory"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Dig_OtherNames_ForwardedToTheConfiguredUpstream_ServFailWhenItIsGone()
    {
        Dig.SkipIfMissing();
        var upstream = new Forwarding.FakeUpstream(r => Forwarding.Answers.A(r, 300, "192.0.2.10"), tcp: true);
        try
        {
            var node = AddNode($"upstreams = [\"{upstream.EndPoint}\"]\nforward_timeout = \"1s\"");
            _cluster.StartAll();

            var answer = await DigUntilAsync(node, d => d.Trim() == "192.0.2.10", "+short", "www.example.org");
            Assert.Equal("192.0.2.10", answer.Trim());
            var full = await DigAsync(node, "api.example.org");
            Assert.Contains("flags: qr rd ra", full, StringComparison.Ordinal);
            Assert.Equal("192.0.2.10", (await DigAsync(node, "+tcp", "+short", "tcp.example.org")).Trim());
            // Cluster names are still ours.
            Assert.Equal("NOERROR", Status(await DigAsync(node, "lashup.directory", "SOA")));

            await upstream.DisposeAsync();

            // dig waits 2 s; the server gives up on the dead upstream after 1 s and answers SERVFAIL.
            Assert.Equal("SERVFAIL", Status(await DigAsync(node, "gone.example.org")));
        }
        finally
        {
            await upstream.DisposeAsync();
        }
    }

    [SkippableFact]
    public async Task Dig_WildcardListen_AnswersFromTheAddressAsked()
    {
        Dig.SkipIfMissing();
        var port = TestEnvironment.FreePort();
        _cluster.Add(extraToml: $"""
            [dns]
            listen = ["0.0.0.0:{port}"]
            udp_workers = 1
            """);
        _cluster.StartAll();

        // Without IP_PKTINFO the answer to a query for 127.0.0.2 left from 127.0.0.1 and dig, which ignores an answer
        // from an unexpected source, timed out.
        var last = "";
        var ok = await _cluster.WaitAsync(async () => Status(last = await Dig.RunAsync("127.0.0.2", port, 1, "lashup.directory", "SOA")) == "NOERROR", Converge);
        Assert.True(ok, $"no answer from 127.0.0.2; last:\n{last}\n{_cluster.Logs()}");
        Assert.Contains("flags: qr aa", last, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected source", last, StringComparison.Ordinal);
        Assert.Contains("SERVER: 127.0.0.2#", last, StringComparison.Ordinal);
        Assert.Equal("NOERROR", Status(await Dig.RunAsync("127.0.0.3", port, 1, "ns.lashup.directory", "A")));
        Assert.Equal("NOERROR", Status(await Dig.RunAsync("127.0.0.3", port, 1, "+tcp", "lashup.directory", "NS")));
    }
}
