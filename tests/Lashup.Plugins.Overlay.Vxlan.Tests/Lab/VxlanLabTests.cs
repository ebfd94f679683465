using System.Diagnostics;
using System.Text.Json;
using Lashup.Host.Tests.Support;
using Xunit.Abstractions;

namespace Lashup.Plugins.Overlay.Vxlan.Tests.Lab;

/// <summary>
/// Three nodes in a namespace lab of the test's own (root; on CI always): three "host" namespaces on one underlay (a
/// bridge in a fourth namespace, a veth per host, 192.168.60.0/24), each running a real <c>lashup</c> daemon with
/// <c>[overlay] backend = "vxlan"</c>, and a "container" namespace per host (a veth to its host, an address in that
/// node's subnet, the default route via the host's .1). Containers ping each other across nodes; a daemon killed -9
/// has its entries removed on its peers after <c>peer_grace</c>; a route deleted by hand is back within a reconcile; restarted, it keeps its subnet and pings again.
/// Every namespace (and with them every link, route and daemon) is removed even when the test fails.
/// </summary>
public sealed class VxlanLabTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Nodes = 3;
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Cli = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("lashup-vxlan-lab-").FullName;
    private readonly List<NetworkNamespace> _namespaces = [];
    private readonly LashupProcess?[] _daemons = new LashupProcess?[Nodes];
    private readonly NetworkNamespace[] _hosts = new NetworkNamespace[Nodes];
    private readonly NetworkNamespace[] _containers = new NetworkNamespace[Nodes];

    public async Task InitializeAsync()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess || !TestEnvironment.HasCommand("ip") || !TestEnvironment.HasCommand("ping") || !TestEnvironment.HasCommand("curl"))
        {
            return;
        }

        var underlay = await CreateAsync("vxu");
        await underlay.RunCheckedAsync("ip", "link", "add", "br0", "type", "bridge");
        await underlay.RunCheckedAsync("ip", "link", "set", "br0", "up");
        for (var i = 0; i < Nodes; i++)
        {
            var host = _hosts[i] = await CreateAsync("vxh");
            var container = _containers[i] = await CreateAsync("vxc");
            var id = Guid.NewGuid().ToString("N")[..6];
            await NetworkNamespace.RunHostAsync(true, "ip", "link", "add", "u0", "netns", host.Name, "type", "veth", "peer", "name", "bp" + id, "netns", underlay.Name);
            await underlay.RunCheckedAsync("ip", "link", "set", "bp" + id, "master", "br0");
            await underlay.RunCheckedAsync("ip", "link", "set", "bp" + id, "up");
            await host.RunCheckedAsync("ip", "addr", "add", $"192.168.60.{i + 1}/24", "dev", "u0");
            await host.RunCheckedAsync("ip", "link", "set", "u0", "up");
            await NetworkNamespace.RunHostAsync(true, "ip", "link", "add", "c0", "netns", host.Name, "type", "veth", "peer", "name", "eth0", "netns", container.Name);
            await host.RunCheckedAsync("ip", "link", "set", "c0", "up");
            await container.RunCheckedAsync("ip", "link", "set", "eth0", "up");
            await host.RunCheckedAsync("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
            WriteConfig(i);
        }
    }

    public Task DisposeAsync()
    {
        foreach (var daemon in _daemons)
        {
            daemon?.Dispose();
        }

        // Containers and hosts before the underlay; each namespace takes its links, routes and devices with it.
        for (var i = _namespaces.Count - 1; i >= 0; i--)
        {
            _namespaces[i].Dispose();
        }

        Directory.Delete(_folder, recursive: true);
        return Task.CompletedTask;
    }

    [SkippableFact]
    public async Task ThreeDaemons_ContainersPingAcrossNodes_KilledPeerRemovedAfterGrace_RestartKeepsSubnet()
    {
        Skip.If(_namespaces.Count == 0 && !TestEnvironment.IsCi, "needs root, ip, ping and curl (a namespace lab of its own); runs on CI");
        Assert.NotEmpty(_namespaces);
        try
        {
            for (var i = 0; i < Nodes; i++)
            {
                Start(i);
            }

            var subnets = await AllProgrammedAsync();
            var metrics = await _hosts[0].RunCheckedAsync("curl", "-sf", "--max-time", "10", "http://127.0.0.1:9470/metrics");
            Assert.Contains("lashup_overlay_netlink_errors_total 0", metrics, StringComparison.Ordinal);
            Assert.Contains($"lashup_overlay_vxlan_peers {Nodes - 1}", metrics, StringComparison.Ordinal);
            for (var i = 0; i < Nodes; i++)
            {
                await AttachContainerAsync(i, subnets[i]);
            }

            // Every container pair, both ways, within 2 s of every daemon programming every peer.
            var pinged = Stopwatch.StartNew();
            await AllPairsPingAsync(Enumerable.Range(0, Nodes).ToList(), TimeSpan.FromSeconds(2));
            output.WriteLine($"all {Nodes * (Nodes - 1)} pairs pinged {pinged.ElapsedMilliseconds} ms after the overlay was programmed everywhere");

            // Drift on h1: a peer's route deleted by hand is back within a reconcile (reconcile_interval 5s) and
            // counted; a foreign route through lashup0 stays.
            var h1 = _hosts[0];
            await h1.RunCheckedAsync("ip", "route", "del", subnets[1], "proto", "0x4c");
            await h1.RunCheckedAsync("ip", "route", "add", "10.250.0.0/24", "via", subnets[1].Split('/')[0], "dev", "lashup0", "onlink", "proto", "static");
            Assert.True(
                await UntilAsync(async () => (await h1.RunCheckedAsync("ip", "route", "show", "proto", "0x4c")).Contains(subnets[1], StringComparison.Ordinal), TimeSpan.FromSeconds(15)),
                $"h1 did not put back its route to {subnets[1]} within 15 s (reconcile_interval 5s)");
            Assert.Contains("lashup_overlay_drift_repaired_total 1", await h1.RunCheckedAsync("curl", "-sf", "--max-time", "10", "http://127.0.0.1:9470/metrics"), StringComparison.Ordinal);
            Assert.Contains("proto static", await h1.RunCheckedAsync("ip", "route", "show", "10.250.0.0/24"), StringComparison.Ordinal);
            await AllPairsPingAsync(Enumerable.Range(0, Nodes).ToList(), TimeSpan.FromSeconds(2));

            // kill -9 node 3: its lashup0 and entries stay on its host (a crash leaves them); its peers drop it after peer_grace.
            var gone = Nodes - 1;
            var goneSubnet = subnets[gone];
            var goneMac = await VtepMacAsync(gone);
            _daemons[gone]!.Kill();
            var killed = Stopwatch.StartNew();
            for (var i = 0; i < gone; i++)
            {
                var host = _hosts[i];
                Assert.True(
                    await UntilAsync(async () => !await ProgrammedAsync(host, goneSubnet, goneMac), Converge),
                    $"h{i + 1} still has h{gone + 1}'s entries {Converge} after it was killed:\n{await KernelAsync(host)}\n{Logs()}");
            }

            output.WriteLine($"h{gone + 1}'s entries gone on its peers {killed.ElapsedMilliseconds} ms after kill -9 (peer_grace 2s)");
            Assert.True(killed.Elapsed >= TimeSpan.FromSeconds(2), "a peer's entries went before peer_grace");
            Assert.Contains("lashup0", await _hosts[gone].RunCheckedAsync("ip", "link", "show", "lashup0"), StringComparison.Ordinal);

            // Restarted with the same data folder: the same subnet, programmed again everywhere, pings again.
            Start(gone);
            var again = await AllProgrammedAsync();
            Assert.Equal(subnets, again);
            await AllPairsPingAsync(Enumerable.Range(0, Nodes).ToList(), TimeSpan.FromSeconds(5));
        }
        catch
        {
            output.WriteLine(Logs());
            throw;
        }
    }

    [SkippableFact]
    public async Task Run_ForeignDeviceNamedLashup0_FailsToStartWithWhyAndLeavesIt()
    {
        Skip.If(_namespaces.Count == 0 && !TestEnvironment.IsCi, "needs root, ip, ping and curl (a namespace lab of its own); runs on CI");
        Assert.NotEmpty(_namespaces);
        await _hosts[0].RunCheckedAsync("ip", "link", "add", "lashup0", "type", "veth", "peer", "name", "lashup1");

        Start(0);
        await _daemons[0]!.WaitForExitAsync(Converge);

        Assert.NotEqual(0, _daemons[0]!.ExitCode);
        Assert.Contains(
            "overlay failed to start: a device named lashup0 exists that Lashup did not create (kind veth, alias \"\", not \"lashup:vxlan\"); it is left untouched: remove or rename it, or set [overlay.vxlan] device to another name",
            _daemons[0]!.Output,
            StringComparison.Ordinal);
        Assert.Contains("link/ether", await _hosts[0].RunCheckedAsync("ip", "link", "show", "lashup0"), StringComparison.Ordinal);
        Assert.DoesNotContain("vxlan", await _hosts[0].RunCheckedAsync("ip", "-d", "link", "show", "lashup0"), StringComparison.Ordinal);
    }

    private async Task<NetworkNamespace> CreateAsync(string tag)
    {
        var ns = await NetworkNamespace.CreateAsync(tag);
        _namespaces.Add(ns);
        return ns;
    }

    private string ConfigPath(int i) => Path.Combine(_folder, $"h{i + 1}", "lashup.toml");

    private void WriteConfig(int i)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ConfigPath(i))!);
        var seeds = i == 0 ? "" : "\"192.168.60.1:7470\"";
        File.WriteAllText(ConfigPath(i), $"""
            [node]
            name = "h{i + 1}"
            cluster = "vxlab"
            data_dir = "data"
            shutdown_timeout = "5s"

            [admin]
            listen = "127.0.0.1:9470"

            [plugins]
            directories = ["{Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins")}"]

            [core]
            listen = "192.168.60.{i + 1}:7470"
            seeds = [{seeds}]
            join_retry_interval = "500ms"
            relink_interval = "3s"
            kv_sync_interval = "1s"

            [dns]
            enabled = false

            [loadbalancer]
            enabled = false

            [overlay]
            enabled = true
            backend = "vxlan"
            peer_grace = "2s"
            reconcile_interval = "5s"

            """);
    }

    private void Start(int i)
    {
        _daemons[i]?.Dispose();
        _daemons[i] = LashupProcess.StartWith(_hosts[i].Exec, "run", "--config", ConfigPath(i));
    }

    private async Task<JsonElement?> CliJsonAsync(int i, params string[] args)
    {
        var (code, text) = await LashupProcess.RunWithAsync(_hosts[i].Exec, Cli, [.. args, "--json", "--api", "127.0.0.1:9470"]);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith('{'));
        return code == 0 && line is not null ? JsonDocument.Parse(line).RootElement.Clone() : null;
    }

    /// <summary>Waits (bounded) until every daemon has its subnet programmed and every other node programmed; the subnets.</summary>
    private async Task<string[]> AllProgrammedAsync()
    {
        var subnets = new string[Nodes];
        var ok = await UntilAsync(async () =>
        {
            for (var i = 0; i < Nodes; i++)
            {
                if (_daemons[i] is { HasExited: true } exited)
                {
                    throw new InvalidOperationException($"h{i + 1} exited with {exited.ExitCode}:\n{exited.Output}");
                }

                var show = await CliJsonAsync(i, "overlay", "show");
                var peers = await CliJsonAsync(i, "overlay", "peers");
                if (show is not { } s || !s.GetProperty("programmed").GetBoolean() || peers is not { } p)
                {
                    return false;
                }

                subnets[i] = s.GetProperty("subnet").GetString()!;
                var programmed = p.GetProperty("peers").EnumerateArray().Count(e => e.GetProperty("state").GetString() == "programmed");
                if (programmed != Nodes - 1)
                {
                    return false;
                }
            }

            return true;
        }, Converge);
        Assert.True(ok, $"the overlay was not programmed on every node within {Converge}:\n{Logs()}");
        Assert.Equal(Nodes, subnets.Distinct().Count());
        return subnets;
    }

    /// <summary>The host side gets the subnet's .1, the container .2 with its default route via .1.</summary>
    private async Task AttachContainerAsync(int i, string subnet)
    {
        var prefix = subnet[..subnet.LastIndexOf('.')];
        await _hosts[i].RunCheckedAsync("ip", "addr", "replace", $"{prefix}.1/24", "dev", "c0");
        await _containers[i].RunCheckedAsync("ip", "addr", "replace", $"{prefix}.2/24", "dev", "eth0");
        await _containers[i].RunCheckedAsync("ip", "route", "replace", "default", "via", $"{prefix}.1");
    }

    private async Task AllPairsPingAsync(IReadOnlyList<int> nodes, TimeSpan within)
    {
        var addresses = new string[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            addresses[i] = (await _containers[i].RunCheckedAsync("ip", "-4", "-o", "addr", "show", "dev", "eth0")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[3].Split('/')[0];
        }

        var deadline = DateTime.UtcNow + within;
        foreach (var from in nodes)
        {
            foreach (var to in nodes.Where(n => n != from))
            {
                // ping -c1 -W1, retried until the deadline (at least once).
                while (true)
                {
                    var (code, text) = await PingAsync(_containers[from], addresses[to]);
                    if (code == 0)
                    {
                        break;
                    }

                    if (DateTime.UtcNow > deadline)
                    {
                        Assert.Fail($"c{from + 1} cannot ping c{to + 1} ({addresses[to]}) within {within}: {text}\n{await KernelAsync(_hosts[from])}");
                    }

                    await Task.Delay(100);
                }
            }
        }
    }

    private static async Task<(int Code, string Output)> PingAsync(NetworkNamespace ns, string address)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var part in (string[])["netns", "exec", ns.Name, "ping", "-c1", "-W1", address])
        {
            info.ArgumentList.Add(part);
        }

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var text = process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await text);
    }

    private async Task<string> VtepMacAsync(int i) =>
        (await CliJsonAsync(i, "overlay", "show"))?.GetProperty("vtep_mac").GetString() ?? throw new InvalidOperationException($"h{i + 1} shows no VTEP MAC");

    /// <summary>Whether any of the peer's entries (route, neighbour, FDB) is on <paramref name="host"/>'s lashup0.</summary>
    private static async Task<bool> ProgrammedAsync(NetworkNamespace host, string subnet, string mac)
    {
        var routes = await host.RunCheckedAsync("ip", "route", "show", "proto", "0x4c");
        var neighbours = await host.RunCheckedAsync("ip", "neigh", "show", "dev", "lashup0");
        var fdb = await host.RunCheckedAsync("bridge", "fdb", "show", "dev", "lashup0");
        return routes.Contains(subnet, StringComparison.Ordinal) || neighbours.Contains(mac, StringComparison.Ordinal) || fdb.Contains(mac, StringComparison.Ordinal);
    }

    private static async Task<string> KernelAsync(NetworkNamespace host) =>
        $"{host.Name}:\n" + await host.RunAsync("ip", "route") + await host.RunAsync("ip", "neigh", "show", "dev", "lashup0") + await host.RunAsync("bridge", "fdb", "show", "dev", "lashup0");

    private string Logs() => string.Join("\n", _daemons.Select((d, i) => $"--- h{i + 1}\n{d?.Output}"));

    private static async Task<bool> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }
}
