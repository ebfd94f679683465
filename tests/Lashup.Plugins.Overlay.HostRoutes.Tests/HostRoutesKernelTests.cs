using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Overlay;
using Lashup.Host.Tests.Support;
using Lashup.Netlink.Route;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Overlay.HostRoutes.Tests;

/// <summary>
/// The backend against the real kernel, in network namespaces each test creates (root; on CI): this node's namespace
/// with 192.168.77.1/24 on a veth to a second one (192.168.77.2/24), so that peers at 192.168.77.x are directly
/// connected. What it programs, refuses, changes, adopts, repairs and removes, and that foreign routes stay.
/// </summary>
public sealed class HostRoutesKernelTests : IAsyncLifetime
{
    private static readonly OverlayLocal Local = new(
        "node-1", IPNetwork.Parse("10.240.0.0/16"), IPNetwork.Parse("10.240.1.0/24"), IPAddress.Parse("192.168.77.1"), IPAddress.Parse("10.240.1.0"), OverlayCatalog.VtepMacOf("node-1"));

    private readonly List<HostRoutesBackend> _backends = [];
    private NetworkNamespace? _ns;
    private NetworkNamespace? _other;

    private NetworkNamespace Ns => _ns!;

    public async Task InitializeAsync()
    {
        if (Environment.IsPrivilegedProcess && TestEnvironment.HasCommand("ip"))
        {
            _ns = await NetworkNamespace.CreateAsync("hr");
            _other = await NetworkNamespace.CreateAsync("hrpeer");
            await NetworkNamespace.RunHostAsync(true, "ip", "link", "add", "hr0", "netns", _ns.Name, "type", "veth", "peer", "name", "hr1", "netns", _other.Name);
            await Ns.RunCheckedAsync("ip", "link", "set", "hr0", "mtu", "1400", "up");
            await Ns.RunCheckedAsync("ip", "addr", "add", "192.168.77.1/24", "dev", "hr0");
            await _other.RunCheckedAsync("ip", "link", "set", "hr1", "up");
            await _other.RunCheckedAsync("ip", "addr", "add", "192.168.77.2/24", "dev", "hr1");
        }
    }

    public Task DisposeAsync()
    {
        foreach (var backend in _backends)
        {
            backend.Dispose();
        }

        _ns?.Dispose();
        _other?.Dispose();
        return Task.CompletedTask;
    }

    private void SkipUnlessRoot()
    {
        Skip.If(_ns is null && !TestEnvironment.IsCi, "needs root and ip (network namespaces)");
        Assert.NotNull(_ns);
    }

    private HostRoutesBackend NewBackend(string? ns = null)
    {
        var backend = new HostRoutesBackend(ns ?? Ns.Name, NullLogger<HostRoutesBackend>.Instance);
        _backends.Add(backend);
        return backend;
    }

    private static OverlayPeer Peer(string node, string subnet, string underlay) =>
        new(node, IPNetwork.Parse(subnet), IPAddress.Parse(underlay), IPNetwork.Parse(subnet).BaseAddress, OverlayCatalog.VtepMacOf(node));

    private static OverlayTable Table(params OverlayPeer[] peers) => new(Local, peers.ToImmutableDictionary(p => p.Node));

    private static readonly OverlayTable Two = Table(Peer("node-2", "10.240.2.0/24", "192.168.77.2"), Peer("node-3", "10.240.3.0/24", "192.168.77.3"));

    private async Task<HostRoutesBackend> StartedAsync(OverlayTable table)
    {
        var backend = NewBackend();
        await backend.EnsureSupportedAsync(default);
        await backend.ReconcileAsync(table, default);
        return backend;
    }

    /// <summary><c>ip route show proto 0x4c</c> in the test's namespace, one route a line.</summary>
    private async Task<string[]> OursAsync() =>
        (await Ns.RunCheckedAsync("ip", "route", "show", "proto", "0x4c")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private List<RtnlRoute> Dump()
    {
        using var client = RtnlClient.Open(TimeSpan.FromSeconds(5), Ns.Name);
        return [.. client.DumpRoutes(HostRoutesBackend.Protocol).OrderBy(r => r.Destination.ToString(), StringComparer.Ordinal)];
    }

    [SkippableFact]
    public async Task Reconcile_RemovesTheDeviceTheVxlanBackendLeft_AndNoOtherVxlanDevice()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "link", "add", "lashup0", "type", "vxlan", "id", "1024", "dstport", "4789", "local", "192.168.77.1", "nolearning");
        await Ns.RunCheckedAsync("ip", "link", "set", "lashup0", "alias", HostRoutesBackend.VxlanAlias);
        await Ns.RunCheckedAsync("ip", "link", "add", "other0", "type", "vxlan", "id", "7", "dstport", "4790", "local", "192.168.77.1", "nolearning");
        var backend = NewBackend();
        await backend.EnsureSupportedAsync(default);

        Assert.Equal(3, await backend.ReconcileAsync(Two, default));

        var links = await Ns.RunCheckedAsync("ip", "-o", "link", "show");
        Assert.DoesNotContain("lashup0", links, StringComparison.Ordinal);
        Assert.Contains("other0", links, StringComparison.Ordinal);
        Assert.Equal(2, (await OursAsync()).Length);
    }

    [SkippableFact]
    public async Task Reconcile_TwoConnectedPeers_RouteEachViaItsUnderlay()
    {
        SkipUnlessRoot();
        var backend = NewBackend();
        await backend.EnsureSupportedAsync(default);

        var repairs = await backend.ReconcileAsync(Two, default);

        Assert.Equal(2, repairs);
        Assert.Equal(["10.240.2.0/24 via 192.168.77.2 dev hr0", "10.240.3.0/24 via 192.168.77.3 dev hr0"], await OursAsync());
        var dumped = Dump();
        Assert.Equal(["10.240.2.0/24 via 192.168.77.2", "10.240.3.0/24 via 192.168.77.3"], dumped.Select(r => $"{r.Destination}/{r.PrefixLength} via {r.Gateway}"));
        Assert.All(dumped, r => Assert.Equal(HostRoutesBackend.Protocol, r.Protocol));
        Assert.True(backend.Describe("node-2")!.Programmed);
        Assert.True(backend.Describe("node-3")!.Programmed);
        Assert.Null(backend.Describe("node-9"));
        Assert.Equal(1400, backend.MtuFor(Local));
        Assert.Contains("hr0 (MTU 1400)", backend.DescribeLocal()!.Reason, StringComparison.Ordinal);
        Assert.True(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
    }

    [SkippableFact]
    public async Task Reconcile_PeerBehindAGateway_RefusedWithWhyOthersProgrammed()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "route", "add", "192.168.88.0/24", "via", "192.168.77.2", "proto", "static");
        var table = Table(Peer("node-2", "10.240.2.0/24", "192.168.77.2"), Peer("node-4", "10.240.4.0/24", "192.168.88.4"));

        var backend = await StartedAsync(table);

        var refused = backend.Describe("node-4")!;
        Assert.False(refused.Programmed);
        Assert.Equal("host-routes needs the nodes on one network: 192.168.88.4 is reached via a gateway (192.168.77.2)", refused.Reason);
        Assert.True(backend.Describe("node-2")!.Programmed);
        Assert.Equal(["10.240.2.0/24 via 192.168.77.2 dev hr0"], await OursAsync());
        Assert.Contains("192.168.88.0/24 via 192.168.77.2 dev hr0 proto static", await Ns.RunCheckedAsync("ip", "route", "show"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Apply_ChangedAndRemovedPeers_OnlyThoseReprogrammed()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        var changed = Table(Peer("node-2", "10.240.2.0/24", "192.168.77.12"), Peer("node-5", "10.240.5.0/24", "192.168.77.5"));

        await backend.ApplyAsync(OverlayDelta.Between(Two, changed), default);

        Assert.Equal(["10.240.2.0/24 via 192.168.77.12 dev hr0", "10.240.5.0/24 via 192.168.77.5 dev hr0"], await OursAsync());
        Assert.Null(backend.Describe("node-3"));
        Assert.True(backend.Describe("node-5")!.Programmed);

        await backend.ApplyAsync(OverlayDelta.Between(changed, Table()), default);

        Assert.Empty(await OursAsync());
        Assert.Null(backend.Describe("node-2"));
    }

    [SkippableFact]
    public async Task Reconcile_NewInstance_AdoptsWithoutRepair()
    {
        SkipUnlessRoot();
        await StartedAsync(Two);

        var next = NewBackend();
        await next.EnsureSupportedAsync(default);
        var repairs = await next.ReconcileAsync(Two, default);

        Assert.Equal(0, repairs);
        Assert.True(next.Describe("node-2")!.Programmed);
        Assert.Equal(2, (await OursAsync()).Length);
    }

    [SkippableFact]
    public async Task Reconcile_DeletedByHandAndStaleOfOurs_BothRepairedInOnePassForeignUntouched()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        await Ns.RunCheckedAsync("ip", "route", "del", "10.240.2.0/24", "proto", "0x4c");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.9.0/24", "via", "192.168.77.9", "proto", "0x4c");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.8.0/24", "via", "192.168.77.8", "proto", "static");

        var repairs = await backend.ReconcileAsync(Two, default);

        Assert.Equal(2, repairs);
        Assert.Equal(["10.240.2.0/24 via 192.168.77.2 dev hr0", "10.240.3.0/24 via 192.168.77.3 dev hr0"], await OursAsync());
        Assert.Contains("10.240.8.0/24 via 192.168.77.8 dev hr0 proto static", await Ns.RunCheckedAsync("ip", "route", "show"), StringComparison.Ordinal);
        Assert.Equal(0, await backend.ReconcileAsync(Two, default));
    }

    [SkippableFact]
    public async Task Reconcile_ForeignRouteToAPeersSubnet_PeerRefusedRouteKept()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.2.0/24", "via", "192.168.77.2", "proto", "static");

        var backend = await StartedAsync(Two);

        Assert.Equal(
            "a route to 10.240.2.0/24 that Lashup did not install is in the main table; host-routes leaves it alone",
            backend.Describe("node-2")!.Reason);
        Assert.True(backend.Describe("node-3")!.Programmed);
        Assert.Equal(["10.240.3.0/24 via 192.168.77.3 dev hr0"], await OursAsync());
        Assert.Contains("10.240.2.0/24 via 192.168.77.2 dev hr0 proto static", await Ns.RunCheckedAsync("ip", "route", "show"), StringComparison.Ordinal);
        Assert.True(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
    }

    [SkippableFact]
    public async Task Clear_OurRoutesGoneForeignKept()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.8.0/24", "via", "192.168.77.8", "proto", "static");

        await backend.ClearAsync(default);

        Assert.Empty(await OursAsync());
        Assert.Contains("10.240.8.0/24 via 192.168.77.8", await Ns.RunCheckedAsync("ip", "route", "show"), StringComparison.Ordinal);
        Assert.Null(backend.Describe("node-2"));
    }

    [SkippableFact]
    public async Task Reconcile_NetlinkFails_NotReadyWithTheMessageThenReadyAgain()
    {
        SkipUnlessRoot();
        // A namespace that is not there yet: opening the rtnetlink socket in it fails.
        var name = $"lashup-hrlate-{Guid.NewGuid().ToString("N")[..8]}";
        var backend = NewBackend(name);
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.ReconcileAsync(Two, default));
            Assert.Contains($"no network namespace {name}", e.Message, StringComparison.Ordinal);
            var readiness = ((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check();
            Assert.False(readiness.IsReady);
            Assert.Contains($"no network namespace {name}", readiness.Reason, StringComparison.Ordinal);
            Assert.Equal(1, backend.NetlinkErrors);

            await NetworkNamespace.RunHostAsync(true, "ip", "netns", "add", name);
            await backend.ReconcileAsync(Table(), default);
            Assert.True(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
        }
        finally
        {
            backend.Dispose();
            await NetworkNamespace.RunHostAsync(false, "ip", "netns", "del", name);
        }
    }

    [Fact]
    public void HasNetAdmin_AsThisProcess_MatchesRoot()
    {
        // The test runs as root (all capabilities) or as a user without any: /proc/self/status agrees either way.
        Assert.Equal(Environment.IsPrivilegedProcess, HostRoutesBackend.HasNetAdmin());
    }
}
