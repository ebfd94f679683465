using System.Collections.Immutable;
using System.Net;
using System.Net.NetworkInformation;
using Lashup.Abstractions.Overlay;
using Lashup.Host.Tests.Support;
using Lashup.Netlink.Route;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Overlay.Vxlan.Tests;

/// <summary>
/// The backend against this machine's kernel, in a network namespace of each test's own (root; on CI always): an
/// underlay device <c>ul0</c> (192.168.50.1/24, MTU 1500) and what the backend builds on it, read back with dumps and
/// with <c>ip</c>/<c>bridge</c>; applied changes, adoption, drift repaired, foreign state untouched, re-creation.
/// </summary>
public sealed class VxlanKernelTests : IAsyncLifetime
{
    private static readonly PhysicalAddress MacA = PhysicalAddress.Parse("02-4C-00-00-00-0A");
    private static readonly PhysicalAddress MacB = PhysicalAddress.Parse("02-4C-00-00-00-0B");
    private static readonly OverlayLocal Local = VxlanLayoutTests.Local;
    private static readonly OverlayPeer A = new("node-a", IPNetwork.Parse("10.240.2.0/24"), IPAddress.Parse("192.168.50.2"), IPAddress.Parse("10.240.2.0"), MacA);
    private static readonly OverlayPeer B = new("node-b", IPNetwork.Parse("10.240.3.0/24"), IPAddress.Parse("192.168.50.3"), IPAddress.Parse("10.240.3.0"), MacB);
    private static readonly OverlayTable Two = Table(A, B);

    private NetworkNamespace? _ns;
    private RtnlClient? _client;

    private NetworkNamespace Ns => _ns!;

    private RtnlClient Kernel => _client!;

    public async Task InitializeAsync()
    {
        if (OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && TestEnvironment.HasCommand("ip"))
        {
            _ns = await NetworkNamespace.CreateAsync("vx");
            try
            {
                // The underlay: one end of a veth pair inside the namespace (this kernel has no dummy devices).
                await Ns.RunCheckedAsync("ip", "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
                await Ns.RunCheckedAsync("ip", "addr", "add", "192.168.50.1/24", "dev", "ul0");
                await Ns.RunCheckedAsync("ip", "link", "set", "ul0", "up");
                await Ns.RunCheckedAsync("ip", "link", "set", "ul1", "up");
                _client = RtnlClient.Open(TimeSpan.FromSeconds(5), Ns.Name);
            }
            catch
            {
                _ns.Dispose();
                _ns = null;
                throw;
            }
        }
    }

    public Task DisposeAsync()
    {
        _client?.Dispose();
        _ns?.Dispose();
        return Task.CompletedTask;
    }

    private void SkipUnlessRoot()
    {
        Skip.If(_ns is null && !TestEnvironment.IsCi, "needs root and ip (a network namespace of its own); runs on CI");
        Assert.NotNull(_ns);
    }

    private static OverlayTable Table(params OverlayPeer[] peers) =>
        new(Local, peers.ToImmutableDictionary(p => p.Node, p => p, StringComparer.Ordinal));

    private VxlanBackend NewBackend(int vni = 1024, int mtu = 0) =>
        new(new VxlanOptions { Vni = vni, Mtu = mtu }, NullLogger<VxlanBackend>.Instance, () => RtnlClient.Open(TimeSpan.FromSeconds(5), Ns.Name));

    private async Task<VxlanBackend> BuiltAsync(OverlayTable table)
    {
        var backend = NewBackend();
        await backend.EnsureSupportedAsync(default);
        Assert.True(await backend.ReconcileAsync(table, default) > 0);
        return backend;
    }

    private RtnlLink Device() => Kernel.GetLink("lashup0") ?? throw new InvalidOperationException("lashup0 is not there");

    /// <summary>Asserts the kernel holds exactly <paramref name="peers"/>' entries on lashup0 and the VTEP address.</summary>
    private void AssertProgrammed(params OverlayPeer[] peers)
    {
        var index = Device().Index;
        var expected = peers.OrderBy(p => p.Node, StringComparer.Ordinal).Select(p => VxlanLayout.EntriesOf(index, p)).ToList();
        Assert.Equal([new RtnlAddress(index, Local.VtepAddress, 32)], Kernel.DumpAddresses(index).Where(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.Equal(expected.Select(e => e.Neighbour).OrderBy(n => n.Destination.ToString()), Kernel.DumpNeighbours(index).Where(n => n.State == RtnlWire.NUD_PERMANENT).OrderBy(n => n.Destination.ToString()));
        Assert.Equal(expected.Select(e => e.Fdb).OrderBy(e => e.Mac.ToString()), Kernel.DumpFdb(index).OrderBy(e => e.Mac.ToString()));
        Assert.Equal(expected.Select(e => e.Route).OrderBy(r => r.Destination.ToString()), Kernel.DumpRoutes(VxlanLayout.RouteProtocol).OrderBy(r => r.Destination.ToString()));
    }

    [SkippableFact]
    public async Task Reconcile_TwoPeers_DeviceAddressNeighboursFdbRoutesAsDumped()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);

        var link = Device();
        var underlay = Kernel.GetLink("ul0")!;
        Assert.Equal(new RtnlLink(link.Index, "lashup0", true, 1450, Local.VtepMac, "lashup:vxlan", "vxlan", new VxlanSettings(1024, Local.Underlay, 4789, false, underlay.Index)), link);
        AssertProgrammed(A, B);
        var shown = await Ns.RunCheckedAsync("ip", "-d", "link", "show", "lashup0");
        Assert.Contains("vxlan id 1024 local 192.168.50.1 dev ul0", shown, StringComparison.Ordinal);
        Assert.Contains("dstport 4789 nolearning", shown, StringComparison.Ordinal);
        Assert.Contains("10.240.2.0/24 via 10.240.2.0 dev lashup0 onlink", await Ns.RunCheckedAsync("ip", "route", "show", "proto", "0x4c"), StringComparison.Ordinal);
        Assert.Contains("02:4c:00:00:00:0b dst 192.168.50.3 self permanent", await Ns.RunCheckedAsync("bridge", "fdb", "show", "dev", "lashup0"), StringComparison.Ordinal);
        Assert.Equal(OverlayProgramStatus.Ok, backend.Describe("node-a"));
        Assert.Null(backend.Describe("node-z"));
        Assert.True(backend.DescribeLocal()!.Programmed);
        Assert.Contains("mtu 1450", backend.DescribeLocal()!.Reason, StringComparison.Ordinal);
        Assert.Equal(1450, backend.MtuFor(Local));
        Assert.True(backend.Check().IsReady);
        Assert.Equal(0, await backend.ReconcileAsync(Two, default));
    }

    [SkippableFact]
    public async Task Apply_PeerChangedAndRemoved_OnlyThoseChange()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        var index = Device().Index;

        var movedA = A with { Underlay = IPAddress.Parse("192.168.50.22") };
        var next = Table(movedA);
        await backend.ApplyAsync(OverlayDelta.Between(Two, next), default);

        Assert.Equal(index, Device().Index);
        AssertProgrammed(movedA);
        Assert.Null(backend.Describe("node-b"));
        Assert.Equal(0, await backend.ReconcileAsync(next, default));

        // A peer whose claim has no VTEP MAC is refused with why; its old entries go.
        var noMac = Table(movedA with { VtepMac = null });
        await backend.ApplyAsync(OverlayDelta.Between(next, noMac), default);
        AssertProgrammed();
        Assert.Contains("no VTEP MAC", backend.Describe("node-a")!.Reason, StringComparison.Ordinal);
        Assert.False(backend.Describe("node-a")!.Programmed);
    }

    [SkippableFact]
    public async Task Reconcile_NewInstanceOverWhatAnotherLeft_AdoptsWithNoRepairAndNoDuplicate()
    {
        SkipUnlessRoot();
        await BuiltAsync(Two);
        var index = Device().Index;

        var second = NewBackend();
        await second.EnsureSupportedAsync(default);
        Assert.Equal(0, await second.ReconcileAsync(Two, default));

        Assert.Equal(index, Device().Index);
        AssertProgrammed(A, B);
        Assert.Equal(OverlayProgramStatus.Ok, second.Describe("node-b"));
    }

    [SkippableFact]
    public async Task Reconcile_DriftByHand_RepairedInOnePassForeignStateUntouched()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        await Ns.RunCheckedAsync("ip", "neigh", "del", "10.240.2.0", "dev", "lashup0");
        await Ns.RunCheckedAsync("bridge", "fdb", "del", "02:4c:00:00:00:0b", "dev", "lashup0", "dst", "192.168.50.3");
        await Ns.RunCheckedAsync("ip", "route", "del", "10.240.3.0/24", "proto", "0x4c");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.9.0/24", "via", "10.240.9.0", "dev", "lashup0", "onlink", "proto", "0x4c");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.250.0.0/24", "via", "10.240.2.0", "dev", "lashup0", "onlink", "proto", "static");
        await Ns.RunCheckedAsync("ip", "link", "add", "foreign0", "type", "veth", "peer", "name", "foreign1");
        await Ns.RunCheckedAsync("ip", "link", "set", "foreign0", "up");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.251.0.0/24", "dev", "foreign0", "proto", "static");

        Assert.Equal(4, await backend.ReconcileAsync(Two, default));

        AssertProgrammed(A, B);
        Assert.Equal(0, await backend.ReconcileAsync(Two, default));
        Assert.Contains("10.250.0.0/24 via 10.240.2.0 dev lashup0 proto static onlink", await Ns.RunCheckedAsync("ip", "route", "show", "10.250.0.0/24"), StringComparison.Ordinal);
        Assert.Contains("10.251.0.0/24 dev foreign0 proto static", await Ns.RunCheckedAsync("ip", "route", "show", "10.251.0.0/24"), StringComparison.Ordinal);
        Assert.NotNull(Kernel.GetLink("foreign0"));
    }

    [SkippableFact]
    public async Task Reconcile_RemovesRoutesOfLashupsProtocolThatAnotherBackendLeft_NotOtherProtocols()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        // What the host-routes backend leaves when the backend is switched: a route per peer via its underlay.
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.7.0/24", "via", "192.168.50.3", "proto", "0x4c");
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.8.0/24", "via", "192.168.50.3", "proto", "static");

        Assert.Equal(1, await backend.ReconcileAsync(Two, default));

        Assert.Empty(await Ns.RunCheckedAsync("ip", "route", "show", "10.240.7.0/24"));
        Assert.Contains("10.240.8.0/24 via 192.168.50.3", await Ns.RunCheckedAsync("ip", "route", "show", "10.240.8.0/24"), StringComparison.Ordinal);
        AssertProgrammed(A, B);
    }

    [SkippableFact]
    public async Task Reconcile_VtepAddressRemovedByHand_AddressAndTheRoutesAndNeighboursItTookBack()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        // The kernel drops every IPv4 route through a device whose last IPv4 address goes, and flushes its ARP
        // entries (permanent ones too).
        await Ns.RunCheckedAsync("ip", "addr", "del", "10.240.1.0/32", "dev", "lashup0");
        Assert.Empty(Kernel.DumpRoutes(VxlanLayout.RouteProtocol));
        Assert.DoesNotContain(Kernel.DumpNeighbours(Device().Index), n => n.State == RtnlWire.NUD_PERMANENT);

        Assert.Equal(1 + 2 + 2, await backend.ReconcileAsync(Two, default));
        AssertProgrammed(A, B);
    }

    [SkippableFact]
    public async Task Reconcile_ForeignRouteToAPeersSubnet_PeerRefusedRouteUntouched()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "route", "add", "10.240.3.0/24", "via", "192.168.50.254", "proto", "static");
        var backend = NewBackend();
        await backend.ReconcileAsync(Two, default);

        Assert.True(backend.Describe("node-a")!.Programmed);
        var refused = backend.Describe("node-b")!;
        Assert.False(refused.Programmed);
        Assert.Contains("did not install", refused.Reason, StringComparison.Ordinal);
        Assert.True(backend.Check().IsReady);
        Assert.Contains("10.240.3.0/24 via 192.168.50.254 dev ul0 proto static", await Ns.RunCheckedAsync("ip", "route", "show", "10.240.3.0/24"), StringComparison.Ordinal);

        // A change of that peer while the foreign route is there: still refused, the foreign route still untouched.
        var movedB = Table(A, B with { Underlay = IPAddress.Parse("192.168.50.33") });
        await backend.ApplyAsync(OverlayDelta.Between(Two, movedB), default);
        Assert.False(backend.Describe("node-b")!.Programmed);
        Assert.Contains("10.240.3.0/24 via 192.168.50.254 dev ul0 proto static", await Ns.RunCheckedAsync("ip", "route", "show", "10.240.3.0/24"), StringComparison.Ordinal);

        // Once it is gone, the next apply (or reconcile) programs the peer.
        await Ns.RunCheckedAsync("ip", "route", "del", "10.240.3.0/24", "proto", "static");
        await backend.ApplyAsync(OverlayDelta.Between(movedB, Two), default);
        Assert.Equal(OverlayProgramStatus.Ok, backend.Describe("node-b"));
        AssertProgrammed(A, B);
        Assert.Equal(0, await backend.ReconcileAsync(Two, default));
    }

    [SkippableFact]
    public async Task ForeignDeviceNamedLikeOurs_ClearErrorNotReadyUntouched()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "link", "add", "lashup0", "type", "veth", "peer", "name", "lashup1");
        var backend = NewBackend();

        var start = await Assert.ThrowsAsync<InvalidOperationException>(() => backend.EnsureSupportedAsync(default).AsTask());
        Assert.Contains("a device named lashup0 exists that Lashup did not create (kind veth", start.Message, StringComparison.Ordinal);
        var reconcile = await Assert.ThrowsAsync<InvalidOperationException>(() => backend.ReconcileAsync(Two, default).AsTask());
        Assert.Contains("remove or rename it, or set [overlay.vxlan] device to another name", reconcile.Message, StringComparison.Ordinal);
        Assert.False(backend.Check().IsReady);
        Assert.Contains("did not create", backend.Check().Reason, StringComparison.Ordinal);

        await backend.ClearAsync(default);
        var link = Device();
        Assert.Equal("veth", link.Kind);
        Assert.Empty(Kernel.DumpRoutes(VxlanLayout.RouteProtocol));
    }

    [SkippableFact]
    public async Task EnsureSupported_AnotherVxlanDeviceOnOurVniAndPort_NamesIt()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("ip", "link", "add", "other0", "type", "vxlan", "id", "1024", "dstport", "4789");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => NewBackend().EnsureSupportedAsync(default).AsTask());
        Assert.Contains("EEXIST", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("(another VXLAN device uses vni 1024 on port 4789: remove it, or choose another [overlay.vxlan] vni)", e.Message, StringComparison.Ordinal);
        Assert.Equal(["lo", "other0", "ul0", "ul1"], Kernel.DumpLinks().Select(l => l.Name).Order(StringComparer.Ordinal));

        await NewBackend(vni: 1025).EnsureSupportedAsync(default);
        Assert.Equal(["lo", "other0", "ul0", "ul1"], Kernel.DumpLinks().Select(l => l.Name).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Reconcile_ChangedVni_DeviceRecreatedWithEverything()
    {
        SkipUnlessRoot();
        await BuiltAsync(Two);
        var before = Device().Index;

        var changed = NewBackend(vni: 2048);
        Assert.Equal(1 + 1 + 6, await changed.ReconcileAsync(Two, default));

        var link = Device();
        Assert.NotEqual(before, link.Index);
        Assert.Equal(2048u, link.Vxlan!.Vni);
        Assert.Equal("lashup:vxlan", link.Alias);
        AssertProgrammed(A, B);
        Assert.Equal(0, await changed.ReconcileAsync(Two, default));
    }

    [SkippableFact]
    public async Task Reconcile_MtuTheUnderlayCannotCarry_ClearErrorNothingCreated()
    {
        SkipUnlessRoot();
        var backend = NewBackend(mtu: 1480);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => backend.ReconcileAsync(Two, default).AsTask());
        Assert.Equal("[overlay.vxlan] mtu = 1480 does not fit the underlay: ul0 (which holds 192.168.50.1) has MTU 1500, and VXLAN over IPv4 adds 50 bytes, so at most 1450; lower mtu, or set mtu = 0 for 1450", e.Message);
        Assert.False(backend.Check().IsReady);
        Assert.Null(Kernel.GetLink("lashup0"));
    }

    [SkippableFact]
    public async Task Clear_RemovesTheDeviceWithItsEntriesAndRoutes()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        await backend.ClearAsync(default);
        Assert.Null(Kernel.GetLink("lashup0"));
        Assert.Empty(Kernel.DumpRoutes(VxlanLayout.RouteProtocol));
        Assert.Null(backend.Describe("node-a"));
        Assert.Null(backend.DescribeLocal());
    }

    [SkippableFact]
    public async Task Reconcile_KernelRefusal_NotReadyWithTheKernelsMessageCountedAndThrown()
    {
        SkipUnlessRoot();
        var backend = await BuiltAsync(Two);
        // A peer whose VTEP address is this node's own: the kernel refuses a route via a local address.
        var bad = Table(A, B with { VtepAddress = Local.VtepAddress });
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => backend.ReconcileAsync(bad, default).AsTask());
        Assert.StartsWith("vxlan reconcile: RTM_NEWROUTE (replace) 10.240.3.0/24 via 10.240.1.0", e.Message, StringComparison.Ordinal);
        Assert.False(backend.Check().IsReady);
        Assert.Equal(e.Message, backend.Check().Reason);
        Assert.Contains("EINVAL (Invalid argument): \"Nexthop has invalid gateway\"", e.Message, StringComparison.Ordinal);
        Assert.True(backend.NetlinkErrors >= 1);

        // Its neighbour entry went in; the next reconcile puts B back as it was.
        Assert.Equal(2, await backend.ReconcileAsync(Two, default));
        AssertProgrammed(A, B);
        Assert.True(backend.Check().IsReady);
    }
}
