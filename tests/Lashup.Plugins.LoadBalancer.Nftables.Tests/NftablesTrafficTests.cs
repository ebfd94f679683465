using System.Diagnostics;
using System.Globalization;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.LoadBalancer.Nftables.Tests;

/// <summary>
/// A real daemon with <c>backend = "nftables"</c> in a network namespace (the node), linked by veth pairs to a client's
/// namespace and to two backends' namespaces, all created by the test and deleted with everything in them (root; on
/// CI). Connections go through the kernel's DNAT: from the client namespace (forwarded) and from the node itself.
/// </summary>
public sealed class NftablesTrafficTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const string Vip = "10.99.0.1";
    private readonly List<NetworkNamespace> _namespaces = [];
    private readonly string _folder = Directory.CreateTempSubdirectory("lashup-nft-daemon-").FullName;
    private readonly int _adminPort = TestEnvironment.FreePort();
    private LashupProcess? _daemon;
    private NetworkNamespace? _node;
    private NetworkNamespace? _client;

    private string Api => $"127.0.0.1:{_adminPort}";

    private static string Echo => Path.Combine(TestEnvironment.RepoRoot, "tests", "TestAssets", "lb", "echo.py");

    public async Task InitializeAsync()
    {
        if (!Environment.IsPrivilegedProcess || !TestEnvironment.HasCommand("nft") || !TestEnvironment.HasCommand("python3"))
        {
            return;
        }

        _node = await NewAsync("node");
        _client = await NewAsync("cl");
        var b1 = await NewAsync("b1");
        var b2 = await NewAsync("b2");
        await _node.LinkAsync(_client, "10.2.0.1/24", "10.2.0.2/24", "fd00:2::1/64", "fd00:2::2/64");
        await _node.LinkAsync(b1, "10.1.1.1/24", "10.1.1.2/24", "fd00:11::1/64", "fd00:11::2/64");
        await _node.LinkAsync(b2, "10.1.2.1/24", "10.1.2.2/24", "fd00:12::1/64", "fd00:12::2/64");
        foreach (var (ns, via, via6) in new (NetworkNamespace, string, string)[] {(_client, "10.2.0.1", "fd00:2::1"), (b1, "10.1.1.1", "fd00:11::1"), (b2, "10.1.2.1", "fd00:12::1") })
        {
            await ns.RunCheckedAsync("ip", "route", "add", "default", "via", via);
            await ns.RunCheckedAsync("ip", "-6", "route", "add", "default", "via", via6);
        }

        // The node routes (as a host running containers does), and has a default route, so VIPs are routable from it.
        await _node.RunCheckedAsync("sysctl", "-qw", "net.ipv4.ip_forward=1");
        await _node.RunCheckedAsync("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
        await _node.RunCheckedAsync("ip", "route", "add", "default", "via", "10.2.0.2");
        foreach (var (ns, name, address, address6) in new (NetworkNamespace, string, string, string)[] {(b1, "b1", "10.1.1.2", "fd00:11::2"), (b2, "b2", "10.1.2.2", "fd00:12::2") })
        {
            ns.Start("python3", Echo, "serve", name, address, "8080");
            ns.Start("python3", Echo, "serve", name, address6, "8080");
            ns.Start("python3", Echo, "userve", name, address, "5353");
        }
    }

    public Task DisposeAsync()
    {
        _daemon?.Dispose();
        foreach (var ns in _namespaces)
        {
            ns.Dispose();
        }

        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<NetworkNamespace> NewAsync(string tag)
    {
        var ns = await NetworkNamespace.CreateAsync(tag);
        _namespaces.Add(ns);
        return ns;
    }

    [SkippableFact]
    public async Task SplitsFromClientAndNode_Drains_Removes_SurvivesKill9_RepairsDrift_SwitchingBackendRemovesTheTable()
    {
        Skip.If(_node is null && !TestEnvironment.IsCi, "needs root, nft and python3 (network namespaces, nftables, backends)");
        Assert.NotNull(_node);
        var node = _node!;
        var client = _client!;
        await StartAsync("nftables");
        await CliAsync("vip", "add", $"{Vip}:80/tcp", "--backend", "10.1.1.2:8080", "--backend", "10.1.2.2:8080");

        // Spread from a client elsewhere (forwarded through the node) and from the node itself (output hook, masqueraded).
        var fromClient = await ManyAsync(client, 40);
        Assert.True(fromClient.GetValueOrDefault("b1") >= 5 && fromClient.GetValueOrDefault("b2") >= 5, Show(fromClient));
        var fromNode = await ManyAsync(node, 30);
        Assert.True(fromNode.GetValueOrDefault("b1") >= 3 && fromNode.GetValueOrDefault("b2") >= 3, Show(fromNode));

        // UDP (a flow per client socket) and IPv6 through the same tables.
        await CliAsync("vip", "add", $"{Vip}:53/udp", "--backend", "10.1.1.2:5353", "--backend", "10.1.2.2:5353");
        var udp = await ManyAsync(client, 30, "umany", Vip, "53");
        Assert.True(udp.GetValueOrDefault("b1") >= 3 && udp.GetValueOrDefault("b2") >= 3, Show(udp));
        await CliAsync("vip", "add", "[fd00:99::1]:80/tcp", "--backend", "[fd00:11::2]:8080", "--backend", "[fd00:12::2]:8080");
        var v6 = await ManyAsync(client, 30, "many", "fd00:99::1", "80");
        Assert.True(v6.GetValueOrDefault("b1") >= 3 && v6.GetValueOrDefault("b2") >= 3, Show(v6));

        // An open connection survives its backend's drain and removal; new ones go to the other.
        using var held = Hold(client);
        var first = await held.AskAsync();
        var other = first == "b1" ? "b2" : "b1";
        var drained = first == "b1" ? "10.1.1.2:8080" : "10.1.2.2:8080";
        await CliAsync("vip", "backend", "add", $"{Vip}:80/tcp", drained, "--weight", "0");
        Assert.Equal(new Dictionary<string, int> { [other] = 20 }, await ManyAsync(client, 20));
        Assert.Equal(first, await held.AskAsync());
        await CliAsync("vip", "backend", "remove", $"{Vip}:80/tcp", drained);
        Assert.Equal(new Dictionary<string, int> { [other] = 10 }, await ManyAsync(client, 10));
        Assert.Equal(first, await held.AskAsync());
        await CliAsync("vip", "backend", "add", $"{Vip}:80/tcp", drained);

        // kill -9: the kernel keeps serving; the restarted daemon adopts the table without duplicating anything.
        await WaitAsync(async () => (await ManyAsync(client, 20)).Count == 2, "both backends serve again");
        // The one-bucket chain the removal used goes at the next reconcile; then the table is as a restart rebuilds it.
        await WaitAsync(async () => !(await node.RunAsync("nft", "list", "chains")).Contains("chain b1 {", StringComparison.Ordinal), "the unused chain b1 is removed");
        var table = await node.RunAsync("nft", "list", "table", "inet", "lashup_lb");
        _daemon!.Kill();
        await _daemon.WaitForExitAsync(Timeout);
        Assert.Equal(2, (await ManyAsync(client, 20)).Count(c => c.Key != "FAIL"));
        await StartAsync("nftables");
        Assert.Equal(table, await node.RunAsync("nft", "list", "table", "inet", "lashup_lb"));
        Assert.Equal(2, (await ManyAsync(client, 20)).Count(c => c.Key != "FAIL"));

        // A rule deleted by hand is back within a reconcile (reconcile_interval = 1s here).
        var handle = (await node.RunAsync("nft", "-a", "list", "chain", "inet", "lashup_lb", "vips")).Split('\n').First(l => l.Contains("classes4", StringComparison.Ordinal)).Split("# handle ")[1].Trim();
        await node.RunCheckedAsync("nft", "delete", "rule", "inet", "lashup_lb", "vips", "handle", handle);
        await WaitAsync(async () => (await node.RunAsync("nft", "list", "chain", "inet", "lashup_lb", "vips")).Contains("@classes4", StringComparison.Ordinal), "the rule is back");
        Assert.DoesNotContain("FAIL", (await ManyAsync(client, 10)).Keys);

        // Another backend: the nftables table goes before the userspace proxy serves the VIP.
        _daemon.Terminate();
        await _daemon.WaitForExitAsync(Timeout);
        await StartAsync("userspace");
        Assert.DoesNotContain("lashup_lb", await node.RunAsync("nft", "list", "tables"), StringComparison.Ordinal);
        await WaitAsync(async () => (await ManyAsync(node, 10)).Count(c => c.Key != "FAIL") == 2, "the userspace proxy serves the VIP");
    }

    private async Task StartAsync(string backend)
    {
        var config = Path.Combine(_folder, "lashup.toml");
        await File.WriteAllTextAsync(config, TestEnvironment.NodeToml("node-1", "nft", Api, $"127.0.0.1:{TestEnvironment.FreePort()}") + $"""
            [loadbalancer]
            backend = "{backend}"
            reconcile_interval = "1s"

            """);
        _daemon?.Dispose();
        _daemon = LashupProcess.StartWith(_node!.Exec, "run", "--config", config);
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            Assert.False(_daemon.HasExited, $"the daemon exited:\n{_daemon.Output}");
            var (code, output) = await LashupProcess.RunWithAsync(_node.Exec, Timeout, "vip", "list", "--api", Api);
            if (code == 0 && !output.Contains("not programmed yet", StringComparison.Ordinal))
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the daemon never answered:\n{_daemon.Output}");
            await Task.Delay(300);
        }
    }

    private async Task CliAsync(params string[] args)
    {
        var (code, output) = await LashupProcess.RunWithAsync(_node!.Exec, Timeout, [.. args, "--api", Api]);
        Assert.True(code == 0, output + _daemon?.Output);
    }

    /// <summary>N connections from <paramref name="ns"/> to the VIP; how many each backend answered (FAIL: none did).</summary>
    private static async Task<Dictionary<string, int>> ManyAsync(NetworkNamespace ns, int count, string mode = "many", string vip = Vip, string port = "80")
    {
        var output = await ns.RunAsync("python3", Echo, mode, vip, port, count.ToString(CultureInfo.InvariantCulture));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
    }

    private static string Show(Dictionary<string, int> counts) => string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}"));

    private static HeldConnection Hold(NetworkNamespace ns)
    {
        var lines = System.Threading.Channels.Channel.CreateUnbounded<string>();
        return new HeldConnection(ns.StartInteractive(line => lines.Writer.TryWrite(line.Trim()), "python3", Echo, "hold", Vip, "80"), lines.Reader);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"never: {what}");
            await Task.Delay(250);
        }
    }

    /// <summary>One connection kept open through the VIP: each ask sends a line and reads which backend answered.</summary>
    private sealed class HeldConnection(Process process, System.Threading.Channels.ChannelReader<string> lines) : IDisposable
    {
        private readonly Process _process = process;
        private bool _greeted;

        public async Task<string> AskAsync()
        {
            if (_greeted)
            {
                await _process.StandardInput.WriteLineAsync("x");
                await _process.StandardInput.FlushAsync();
            }

            _greeted = true;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            return await lines.ReadAsync(timeout.Token);
        }

        public void Dispose()
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
