using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lashup.Host.Tests.Support;
using Lashup.Plugins.Core.Tests.Integration;
using Lashup.Plugins.LoadBalancer.Tests.Support;

namespace Lashup.Plugins.LoadBalancer.Tests.Integration;

/// <summary>Tests that start real daemons run one at a time: two cores cannot start a dozen .NET processes at once in time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadBalancerDaemonCollection
{
    public const string Name = "real load-balancer daemons";
}

/// <summary>
/// Three real <c>lashup</c> daemons on loopback with the load balancer as <c>config/lashup.toml</c> has it
/// (<c>backend = "userspace"</c>, the rest default) and the DNS plugin: VIPs added through the CLI on one node,
/// plain HTTP and TCP clients through another. Three daemons on one host cannot all bind a VIP's address and port, so
/// each serves the VIPs on an address of its own (<c>[loadbalancer.userspace] listen_address</c>, 127.0.0.1N) — the
/// one setting a single-host cluster needs; with it no VIP address is ever added to <c>lo</c>.
/// </summary>
[Collection(LoadBalancerDaemonCollection.Name)]
public sealed class LoadBalancerDaemonTests : IDisposable
{
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(60);
    private readonly DaemonCluster _cluster = new();
    private readonly Dictionary<string, string> _serveOn = [];
    private readonly Dictionary<string, int> _dnsPorts = [];

    public void Dispose() => _cluster.Dispose();

    [Fact]
    public async Task VipAddedOnNode1_ClientsThroughNode3_ReachBothBackends_WeightZeroDrains_NamedVipResolvesAlike()
    {
        var (n1, _, n3) = await StartThreeAsync();
        using var a = new TestBackend("a");
        using var b = new TestBackend("b");
        var port = TestEnvironment.FreePort();
        var vip = $"127.0.0.1:{port}/tcp";

        // Added on node-1, which answers with what it programmed.
        var added = await DaemonCluster.CliAsync("vip", "add", vip, "--backend", a.Address, "--backend", b.Address, "--api", n1.Api);
        Assert.Contains("active  yes", added, StringComparison.Ordinal);
        await UntilAsync(n3, vip, v => v.GetProperty("programmed").GetBoolean(), "node-3 serves the VIP");

        // Plain HTTP clients (a new connection each) through node-3 reach both backends; so does curl.
        var served = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            served.Add(await GetAsync(n3, port));
        }

        Assert.Equal(["a", "b"], served.Order());
        if (TestEnvironment.HasCommand("curl"))
        {
            Assert.Contains(await CurlAsync(n3, port), (string[])["a", "b"]);
        }

        // A long-lived connection through node-3 on backend a; then a drains (weight 0): node-3 shows it draining,
        // sends new connections to b only, and the open one goes on.
        using var open = await OpenOnAsync(n3, port, "a");
        await DaemonCluster.CliAsync("vip", "backend", "add", vip, a.Address, "--weight", "0", "--api", n1.Api);
        var list = await UntilAsync(n3, vip, v => State(v, a.Address) == "draining", "node-3 shows a draining");
        Assert.Equal(0, Backend(list, a.Address).GetProperty("weight").GetInt32());
        Assert.Equal(1, Backend(list, a.Address).GetProperty("connections").GetInt32());
        var accepted = a.Accepted;
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("b", await GetAsync(n3, port));
        }

        Assert.Equal(accepted, a.Accepted);
        Assert.Equal("a:still here", await open.AskAsync("still here"));
        Assert.Contains("draining", await DaemonCluster.CliAsync("vip", "list", "--api", n3.Api), StringComparison.Ordinal);

        // A named VIP: one address, the same in every node's DNS, served on every node (on another port: every VIP
        // of a node shares its listen_address).
        var namedPort = TestEnvironment.FreePort();
        var namedAdded = await DaemonCluster.CliAsync("vip", "add", $"web:{namedPort}/tcp", "--backend", b.Address, "--api", n1.Api);
        Assert.Contains("10.200.", namedAdded, StringComparison.Ordinal);
        var addresses = new List<string>();
        foreach (var node in _cluster.Nodes)
        {
            var last = "";
            Assert.True(
                await _cluster.WaitAsync(async () => (last = (await Dig.RunAsync(_dnsPorts[node.Name], 1, "+short", "web.l4lb.lashup.directory")).Trim()).StartsWith("10.200.", StringComparison.Ordinal), Converge),
                $"{node.Name} never resolved web.l4lb.lashup.directory; last: {last}\n{_cluster.Logs()}");
            addresses.Add(last);
        }

        Assert.Single(addresses.Distinct());
        Assert.Contains(addresses[0], namedAdded, StringComparison.Ordinal);
        await UntilAsync(n3, $"web:{namedPort}/tcp", v => v.GetProperty("programmed").GetBoolean() && v.GetProperty("address").GetString() == addresses[0], "node-3 serves the named VIP");
        Assert.Equal("b", await GetAsync(n3, namedPort));
    }

    [Fact]
    public async Task NodeKilled_ItsBackendsGetNoNewConnections_AllBackendNodesDown_FailsOpen()
    {
        var (n1, n2, n3) = await StartThreeAsync();
        using var a = new TestBackend("a");
        using var b = new TestBackend("b");
        var port = TestEnvironment.FreePort();
        var vip = $"127.0.0.1:{port}/tcp";

        // a runs on node-1 (added there), b on node-2 (added through node-2, so its node is node-2).
        await DaemonCluster.CliAsync("vip", "add", vip, "--backend", a.Address, "--api", n1.Api);
        await _cluster.WaitAsync(async () => (await ListAsync(n2, vip)) is not null, Converge);
        await DaemonCluster.CliAsync("vip", "backend", "add", vip, b.Address, "--api", n2.Api);
        await UntilAsync(n3, vip, v => State(v, a.Address) == "active" && State(v, b.Address) == "active" && v.GetProperty("programmed").GetBoolean(), "node-3 has both backends");
        Assert.Equal("node-2", Backend((await ListAsync(n3, vip))!.Value, b.Address).GetProperty("node").GetString());

        // node-2 dies: node-3 excludes its backend and sends nothing new there.
        n2.ExpectedExit = true;
        n2.Process!.Kill();
        var list = await UntilAsync(n3, vip, v => State(v, b.Address) == "excluded", "node-3 excludes node-2's backend");
        Assert.Contains("node node-2 is not reachable", Backend(list, b.Address).GetProperty("reason").GetString(), StringComparison.Ordinal);
        var accepted = b.Accepted;
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("a", await GetAsync(n3, port));
        }

        Assert.Equal(accepted, b.Accepted);

        // node-1 dies too: no backend's node is reachable from node-3, which keeps them all (fail open).
        n1.ExpectedExit = true;
        n1.Process!.Kill();
        await UntilAsync(n3, vip, v => State(v, a.Address) == "fail-open" && State(v, b.Address) == "fail-open", "node-3 fails open");
        var served = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            served.Add(await GetAsync(n3, port));
        }

        Assert.Equal(["a", "b"], served.Order());
        Assert.Contains("fail-open", await DaemonCluster.CliAsync("vip", "list", "--api", n3.Api), StringComparison.Ordinal);
    }

    private async Task<(DaemonCluster.Daemon, DaemonCluster.Daemon, DaemonCluster.Daemon)> StartThreeAsync()
    {
        Dig.SkipIfMissing();
        for (var i = 1; i <= 3; i++)
        {
            var serveOn = $"127.0.0.{10 + i}";
            var dns = TestEnvironment.FreePort();
            var node = _cluster.Add(extraToml: $"""
                [dns]
                listen = ["127.0.0.1:{dns}"]
                udp_workers = 1

                [loadbalancer]
                backend = "userspace"

                [loadbalancer.userspace]
                listen_address = "{serveOn}"
                workers = 1
                """);
            _serveOn[node.Name] = serveOn;
            _dnsPorts[node.Name] = dns;
        }

        _cluster.StartAll();
        var n3 = _cluster.Nodes[2];
        Assert.True(await _cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(n3)).Count(m => m.Value == "alive") == 3, Converge), _cluster.Logs());
        return (_cluster.Nodes[0], _cluster.Nodes[1], n3);
    }

    /// <summary><c>vip list VIP --json</c> on <paramref name="node"/>; null when it fails (not there yet).</summary>
    private static async Task<JsonElement?> ListAsync(DaemonCluster.Daemon node, string vip)
    {
        var (code, output) = await LashupProcess.RunAsync(TimeSpan.FromSeconds(30), "vip", "list", vip, "--json", "--api", node.Api);
        var json = output.Split('\n').FirstOrDefault(l => l.StartsWith('{'));
        return code == 0 && json is not null ? JsonDocument.Parse(json).RootElement.Clone() : null;
    }

    private async Task<JsonElement> UntilAsync(DaemonCluster.Daemon node, string vip, Func<JsonElement, bool> condition, string what)
    {
        JsonElement? last = null;
        var ok = await _cluster.WaitAsync(async () => (last = await ListAsync(node, vip)) is { } v && condition(v), Converge);
        Assert.True(ok, $"never: {what}; last list on {node.Name}: {last}\n{_cluster.Logs()}");
        return last!.Value;
    }

    private static JsonElement Backend(JsonElement vip, string backend) =>
        vip.GetProperty("backends").EnumerateArray().Single(b => b.GetProperty("backend").GetString() == backend);

    private static string? State(JsonElement vip, string backend) =>
        vip.GetProperty("backends").EnumerateArray().FirstOrDefault(b => b.GetProperty("backend").GetString() == backend) is { ValueKind: JsonValueKind.Object } b
            ? b.GetProperty("state").GetString()
            : null;

    /// <summary>One HTTP GET through <paramref name="node"/>'s proxy, on a new connection; the body (the backend's name).</summary>
    private async Task<string> GetAsync(DaemonCluster.Daemon node, int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{_serveOn[node.Name]}:{port}/");
        request.Headers.ConnectionClose = true;
        using var response = await http.SendAsync(request);
        return await response.EnsureSuccessStatusCode().Content.ReadAsStringAsync();
    }

    private async Task<string> CurlAsync(DaemonCluster.Daemon node, int port)
    {
        var info = new System.Diagnostics.ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["-s", "-m", "10", $"http://{_serveOn[node.Name]}:{port}/"])
        {
            info.ArgumentList.Add(arg);
        }

        using var curl = System.Diagnostics.Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var output = await curl.StandardOutput.ReadToEndAsync(timeout.Token);
        await curl.WaitForExitAsync(timeout.Token);
        return output;
    }

    private async Task<LineClient> OpenOnAsync(DaemonCluster.Daemon node, int port, string backend)
    {
        for (var i = 0; i < 100; i++)
        {
            var client = await LineClient.ConnectAsync(_serveOn[node.Name], port);
            if ((await client.AskAsync("hello")).StartsWith(backend + ":", StringComparison.Ordinal))
            {
                return client;
            }

            client.Dispose();
        }

        throw new InvalidOperationException($"no connection landed on {backend} in 100 tries");
    }

    /// <summary>A long-lived line-per-line TCP connection (to a <see cref="TestBackend"/>, through a proxy), with bounded reads.</summary>
    private sealed class LineClient : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly StreamReader _reader;
        private readonly Stream _stream;

        private LineClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _reader = new StreamReader(_stream, Encoding.ASCII);
        }

        public static async Task<LineClient> ConnectAsync(string host, int port)
        {
            var tcp = new TcpClient();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await tcp.ConnectAsync(host, port, timeout.Token);
            return new LineClient(tcp);
        }

        public async Task<string> AskAsync(string line)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\n"), timeout.Token);
            return await _reader.ReadLineAsync(timeout.Token) ?? throw new IOException("the connection ended");
        }

        public void Dispose()
        {
            _reader.Dispose();
            _tcp.Dispose();
        }
    }
}
