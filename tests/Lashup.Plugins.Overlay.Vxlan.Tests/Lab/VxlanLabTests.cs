using System.Diagnostics;
using System.Text.Json;
using Lashup.Host.Tests.Support;
using Xunit.Abstractions;

namespace Lashup.Plugins.Overlay.Vxlan.Tests.Lab;

/// <summary>
/// Three real daemons with <c>[overlay] backend = "vxlan"</c> in the shared namespace lab (<see cref="OverlayLab"/>;
/// root, on CI always): containers ping each other across nodes; a route deleted by hand is back within a reconcile and
/// counted; a daemon killed -9 has its entries (route, neighbour, FDB) removed on its peers after <c>peer_grace</c>;
/// restarted, it keeps its subnet and pings again. A foreign device named <c>lashup0</c> makes the daemon refuse to start.
/// The lab removes every namespace (and with them every link, route and daemon) even when the test fails.
/// </summary>
public sealed class VxlanLabTests(ITestOutputHelper output)
{
    private const string Backend = "vxlan";
    private const string Device = "lashup0";
    private static readonly TimeSpan Converge = TimeSpan.FromSeconds(90);

    private static bool CanRun =>
        OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && TestEnvironment.HasCommand("ip") && TestEnvironment.HasCommand("ping") && TestEnvironment.HasCommand("curl");

    [SkippableFact]
    public async Task ThreeDaemons_ContainersPingAcrossNodes_KilledPeerRemovedAfterGrace_RestartKeepsSubnet()
    {
        Skip.If(!CanRun && !TestEnvironment.IsCi, "needs root, ip, ping and curl (network namespaces, real daemons); runs on CI");
        using var lab = await OverlayLab.StartAsync(Backend, timeout: Converge);
        try
        {
            var subnets = await AllProgrammedAsync(lab);
            var metrics = await lab.MetricsAsync(0);
            Assert.Contains("lashup_overlay_netlink_errors_total 0", metrics, StringComparison.Ordinal);
            Assert.Contains($"lashup_overlay_vxlan_peers {lab.Count - 1}", metrics, StringComparison.Ordinal);

            // Every container pair, both ways, within 2 s of every daemon programming every peer.
            var pinged = Stopwatch.StartNew();
            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(2));
            output.WriteLine($"all {lab.Count * (lab.Count - 1)} pairs pinged {pinged.ElapsedMilliseconds} ms after the overlay was programmed everywhere");

            // Drift on node 0: a peer's route deleted by hand is back within a reconcile (reconcile_interval 2s) and
            // counted; a foreign route through lashup0 stays.
            var h1 = lab.HostNamespace(0);
            var peer = lab.Subnet(1);
            await h1.RunCheckedAsync("ip", "route", "del", peer.ToString(), "proto", "0x4c");
            await h1.RunCheckedAsync("ip", "route", "add", "10.250.0.0/24", "via", peer.BaseAddress.ToString(), "dev", Device, "onlink", "proto", "static");
            Assert.True(
                await lab.WaitAsync(async () => (await lab.OverlayRoutesAsync(0)).Any(r => r.Contains(peer.ToString(), StringComparison.Ordinal)), TimeSpan.FromSeconds(15)),
                $"{lab.NodeName(0)} did not put back its route to {peer} within 15 s (reconcile_interval 2s)\n{await lab.KernelStateAsync(0, Device)}");
            Assert.Contains("lashup_overlay_drift_repaired_total 1", await lab.MetricsAsync(0), StringComparison.Ordinal);
            Assert.Contains("proto static", await h1.RunCheckedAsync("ip", "route", "show", "10.250.0.0/24"), StringComparison.Ordinal);
            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(2));

            // kill -9 the last node: its lashup0 and entries stay on its host (a crash leaves them); its peers drop it after peer_grace.
            var gone = lab.Count - 1;
            var goneSubnet = lab.Subnet(gone).ToString();
            var goneMac = await VtepMacAsync(lab, gone);
            lab.Kill(gone);
            var killed = Stopwatch.StartNew();
            for (var i = 0; i < gone; i++)
            {
                var host = i;
                Assert.True(
                    await lab.WaitAsync(async () => !await ProgrammedAsync(lab, host, goneSubnet, goneMac), Converge),
                    $"{lab.NodeName(host)} still has {lab.NodeName(gone)}'s entries {Converge} after it was killed:\n{await lab.KernelStateAsync(host, Device)}\n{lab.Logs()}");
            }

            output.WriteLine($"{lab.NodeName(gone)}'s entries gone on its peers {killed.ElapsedMilliseconds} ms after kill -9 (peer_grace 2s)");
            Assert.True(killed.Elapsed >= TimeSpan.FromSeconds(2), "a peer's entries went before peer_grace");
            Assert.Contains(Device, await lab.HostNamespace(gone).RunCheckedAsync("ip", "link", "show", Device), StringComparison.Ordinal);

            // Restarted with the same data folder: the same subnet, programmed again everywhere, pings again.
            Assert.Equal(lab.Subnet(gone), await lab.RestartAsync(gone, Converge));
            Assert.Equal(subnets, await AllProgrammedAsync(lab));
            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(5));
        }
        catch
        {
            output.WriteLine(lab.Logs());
            throw;
        }
    }

    [SkippableFact]
    public async Task TenPercentUnderlayLoss_TheOverlayStillConverges_AndEveryPairPings()
    {
        Skip.If(!CanRun && !TestEnvironment.IsCi, "needs root, ip, ping and curl (network namespaces, real daemons); runs on CI");
        using var lab = await OverlayLab.StartAsync(Backend, timeout: Converge, underlayLossPercent: 10);
        try
        {
            var subnets = await AllProgrammedAsync(lab);
            Assert.Equal(lab.Count, subnets.Distinct().Count());

            // A ping is one echo: with 10% loss each way some are lost, so each pair is retried (bounded) until one answers.
            var pinged = Stopwatch.StartNew();
            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(20));
            output.WriteLine($"at 10% underlay loss all pairs pinged {pinged.ElapsedMilliseconds} ms after the overlay was programmed everywhere");
            Assert.True(await lab.UnderlayDroppedAsync() > 0, "the underlay dropped nothing: the loss rule did not apply");
        }
        catch
        {
            output.WriteLine(lab.Logs());
            throw;
        }
    }

    [SkippableFact]
    public async Task Run_ForeignDeviceNamedLashup0_FailsToStartWithWhyAndLeavesIt()
    {
        Skip.If(!CanRun && !TestEnvironment.IsCi, "needs root, ip, ping and curl (network namespaces, real daemons); runs on CI");
        using var lab = await OverlayLab.CreateAsync(Backend, nodes: 1);
        var host = lab.HostNamespace(0);
        await host.RunCheckedAsync("ip", "link", "add", Device, "type", "veth", "peer", "name", "lashup1");

        var daemon = await lab.RunUntilExitAsync(0, Converge);

        Assert.NotEqual(0, daemon.ExitCode);
        Assert.Contains(
            "overlay failed to start: a device named lashup0 exists that Lashup did not create (kind veth, alias \"\", not \"lashup:vxlan\"); it is left untouched: remove or rename it, or set [overlay.vxlan] device to another name",
            daemon.Output,
            StringComparison.Ordinal);
        Assert.Contains("link/ether", await host.RunCheckedAsync("ip", "link", "show", Device), StringComparison.Ordinal);
        Assert.DoesNotContain("vxlan", await host.RunCheckedAsync("ip", "-d", "link", "show", Device), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task SwitchingBackend_VxlanToHostRoutesAndBack_RemovesThePreviousBackendsState_KeepsSubnets_AndPings()
    {
        Skip.If(!CanRun && !TestEnvironment.IsCi, "needs root, ip, ping and curl (network namespaces, real daemons); runs on CI");
        using var lab = await OverlayLab.StartAsync(Backend, nodes: 2, timeout: Converge);
        try
        {
            var subnets = await AllProgrammedAsync(lab);
            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(2));

            // Every node restarted onto host-routes (one backend per cluster: a VXLAN packet has no device to land on at a
            // host-routes node): the VXLAN device and its entries go, a route per peer via its underlay takes over.
            for (var i = 0; i < lab.Count; i++)
            {
                Assert.Equal(lab.Subnet(i), await lab.RestartWithBackendAsync(i, "host-routes", Converge));
            }

            Assert.Equal(subnets, await AllProgrammedAsync(lab));
            for (var i = 0; i < lab.Count; i++)
            {
                var host = i;
                Assert.True(
                    await lab.WaitAsync(async () => (await lab.HostNamespace(host).RunAsync("ip", "link", "show", Device)).Length == 0, Converge),
                    $"{lab.NodeName(i)} still has {Device} after switching to host-routes:\n{await lab.HostNamespace(i).RunAsync("ip", "-d", "link")}");
                var routes = await lab.OverlayRoutesAsync(i);
                var peer = lab.Subnet(1 - i).ToString();
                Assert.Contains(routes, r => r.StartsWith(peer, StringComparison.Ordinal) && r.Contains($"via {lab.Underlay(1 - i)} dev eth0", StringComparison.Ordinal));
            }

            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(5));

            // And back: vxlan deletes host-routes' routes (ours, not through its device) and programs its device again.
            for (var i = 0; i < lab.Count; i++)
            {
                Assert.Equal(lab.Subnet(i), await lab.RestartWithBackendAsync(i, Backend, Converge));
            }

            Assert.Equal(subnets, await AllProgrammedAsync(lab));
            for (var i = 0; i < lab.Count; i++)
            {
                var routes = await lab.OverlayRoutesAsync(i);
                Assert.DoesNotContain(routes, r => r.Contains("dev eth0", StringComparison.Ordinal));
                Assert.Contains(routes, r => r.StartsWith(lab.Subnet(1 - i).ToString(), StringComparison.Ordinal) && r.Contains($"dev {Device}", StringComparison.Ordinal));
            }

            await AllPairsPingAsync(lab, TimeSpan.FromSeconds(5));
        }
        catch
        {
            output.WriteLine(lab.Logs());
            throw;
        }
    }

    /// <summary>Waits (bounded) until every daemon shows its subnet programmed and every other node programmed; the subnets (distinct).</summary>
    private static async Task<string[]> AllProgrammedAsync(OverlayLab lab)
    {
        var subnets = new string[lab.Count];
        var ok = await lab.WaitAsync(async () =>
        {
            for (var i = 0; i < lab.Count; i++)
            {
                if (await lab.ShowAsync(i) is not { } show || !show.GetProperty("programmed").GetBoolean())
                {
                    return false;
                }

                subnets[i] = show.GetProperty("subnet").GetString()!;
                if ((await lab.PeersAsync(i)).Count(p => p.Value == "programmed") != lab.Count - 1)
                {
                    return false;
                }
            }

            return true;
        }, Converge);
        Assert.True(ok, $"the overlay was not programmed on every node within {Converge}:\n{lab.Logs()}");
        Assert.Equal(lab.Count, subnets.Distinct().Count());
        for (var i = 0; i < lab.Count; i++)
        {
            Assert.Equal(lab.Subnet(i).ToString(), subnets[i]);
        }

        return subnets;
    }

    private static async Task AllPairsPingAsync(OverlayLab lab, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        for (var from = 0; from < lab.Count; from++)
        {
            for (var to = 0; to < lab.Count; to++)
            {
                if (from == to)
                {
                    continue;
                }

                // ping -c1 -W1, retried until the deadline (at least once).
                var left = deadline - DateTime.UtcNow;
                Assert.True(
                    await lab.PingUntilAsync(from, to, left > TimeSpan.Zero ? left : TimeSpan.Zero),
                    $"container {from} cannot ping container {to} ({lab.ContainerAddress(to)}) within {within}\n{await lab.KernelStateAsync(from, Device)}");
            }
        }
    }

    private static async Task<string> VtepMacAsync(OverlayLab lab, int i) =>
        (await lab.ShowAsync(i) is { } show && show.TryGetProperty("vtep_mac", out var mac) && mac.ValueKind == JsonValueKind.String ? mac.GetString() : null)
        ?? throw new InvalidOperationException($"{lab.NodeName(i)} shows no VTEP MAC");

    /// <summary>Whether any of the peer's entries (route, neighbour, FDB) is on node <paramref name="i"/>'s lashup0.</summary>
    private static async Task<bool> ProgrammedAsync(OverlayLab lab, int i, string subnet, string mac) =>
        (await lab.OverlayRoutesAsync(i)).Any(r => r.Contains(subnet, StringComparison.Ordinal))
        || (await lab.NeighboursAsync(i, Device)).Any(n => n.Contains(mac, StringComparison.Ordinal))
        || (await lab.FdbAsync(i, Device)).Any(f => f.Contains(mac, StringComparison.Ordinal));
}
