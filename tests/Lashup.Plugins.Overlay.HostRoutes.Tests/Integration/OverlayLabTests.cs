using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.Overlay.HostRoutes.Tests.Integration;

/// <summary>
/// Three real daemons in network namespaces on one bridge, the overlay on <c>host-routes</c> (root; on CI): containers
/// on different nodes ping each other; a crashed node's route goes from its peers after <c>peer_grace</c> and comes
/// back with the same subnet when it restarts.
/// </summary>
public sealed class OverlayLabTests
{
    private const string Backend = "host-routes";
    private static readonly TimeSpan PingWithin = TimeSpan.FromSeconds(30);

    private static bool CanRun => Environment.IsPrivilegedProcess && TestEnvironment.HasCommand("ip") && TestEnvironment.HasCommand("ping");

    [SkippableFact]
    public async Task ThreeNodes_ContainersPing_KilledNodeRouteGoes_RestartedSameSubnetPingsAgain()
    {
        Skip.If(!CanRun && !TestEnvironment.IsCi, "needs root, ip and ping (network namespaces, real daemons)");
        using var lab = await OverlayLab.StartAsync(Backend);

        // Every pair, both ways, within 30 s of all daemons having programmed every peer.
        var deadline = DateTime.UtcNow + PingWithin;
        for (var i = 0; i < lab.Count; i++)
        {
            for (var j = 0; j < lab.Count; j++)
            {
                if (i != j)
                {
                    var left = deadline - DateTime.UtcNow;
                    Assert.True(await lab.PingUntilAsync(i, j, left > TimeSpan.Zero ? left : TimeSpan.Zero), $"container {i} cannot ping container {j} ({lab.ContainerAddress(j)})\n{lab.Logs()}");
                }
            }
        }

        // What the operator sees: the others programmed, a route per peer via its underlay address.
        var peers = await lab.PeersAsync(0);
        Assert.Equal("local", peers[lab.NodeName(0)]);
        Assert.Equal("programmed", peers[lab.NodeName(1)]);
        Assert.Equal("programmed", peers[lab.NodeName(2)]);
        var routes = await lab.OverlayRoutesAsync(0);
        Assert.Contains($"{lab.Subnet(1)} via {lab.Underlay(1)} dev eth0", routes);
        Assert.Contains($"{lab.Subnet(2)} via {lab.Underlay(2)} dev eth0", routes);
        Assert.Equal(2, routes.Length);

        // A crash: after peer_grace (2s) and failure detection its route is gone on the others.
        var subnet = lab.Subnet(2);
        lab.Kill(2);
        Assert.True(
            await lab.WaitAsync(async () => !(await lab.OverlayRoutesAsync(0)).Any(r => r.StartsWith(subnet.ToString() + " ", StringComparison.Ordinal))
                && !(await lab.OverlayRoutesAsync(1)).Any(r => r.StartsWith(subnet.ToString() + " ", StringComparison.Ordinal)), TimeSpan.FromSeconds(30)),
            $"{subnet} still routed after node-3 was killed\n{lab.Logs()}");
        Assert.False(await lab.PingAsync(0, 2));
        Assert.True(await lab.PingAsync(0, 1));

        // Back with the same subnet, and reachable again.
        Assert.Equal(subnet, await lab.RestartAsync(2));
        Assert.True(await lab.PingUntilAsync(0, 2, PingWithin), $"container 0 cannot ping the restarted node's container\n{lab.Logs()}");
        Assert.True(await lab.PingUntilAsync(2, 1, PingWithin), $"the restarted node's container cannot ping container 1\n{lab.Logs()}");
        Assert.True(await lab.WaitAsync(async () => (await lab.PeersAsync(2)).Count(p => p.Value == "programmed") == 2, TimeSpan.FromSeconds(30)), lab.Logs());
    }
}
