using System.Net;
using System.Net.NetworkInformation;
using Lashup.Abstractions.Overlay;
using Lashup.Netlink.Route;

namespace Lashup.Plugins.Overlay.Vxlan.Tests;

/// <summary>The batches the backend builds, read back as their operations (what the kernel is asked, in order).</summary>
public sealed class VxlanLayoutTests
{
    private const int Dev = 7;
    private static readonly PhysicalAddress MacA = PhysicalAddress.Parse("02-4C-00-00-00-0A");
    private static readonly PhysicalAddress MacB = PhysicalAddress.Parse("02-4C-00-00-00-0B");
    private static readonly PhysicalAddress MacC = PhysicalAddress.Parse("02-4C-00-00-00-0C");

    internal static readonly OverlayLocal Local = new(
        "node-1", IPNetwork.Parse("10.240.0.0/16"), IPNetwork.Parse("10.240.1.0/24"), IPAddress.Parse("192.168.50.1"),
        IPAddress.Parse("10.240.1.0"), PhysicalAddress.Parse("02-4C-00-00-00-01"));

    private static OverlayPeer Peer(string node, string subnet, string underlay, PhysicalAddress? mac) =>
        new(node, IPNetwork.Parse(subnet), IPAddress.Parse(underlay), IPNetwork.Parse(subnet).BaseAddress, mac);

    private static readonly OverlayPeer A = Peer("node-a", "10.240.2.0/24", "192.168.50.2", MacA);
    private static readonly OverlayPeer B = Peer("node-b", "10.240.3.0/24", "192.168.50.3", MacB);

    private static Dictionary<string, PeerEntries> Entries(params OverlayPeer[] peers) =>
        peers.ToDictionary(p => p.Node, p => VxlanLayout.EntriesOf(Dev, p), StringComparer.Ordinal);

    private static readonly RtnlAddress Vtep = VxlanLayout.VtepOf(Dev, Local);

    private static KernelEntries Kernel(IEnumerable<RtnlAddress>? addresses = null, IEnumerable<PeerEntries>? peers = null) =>
        new([.. addresses ?? [Vtep]], [.. (peers ?? []).Select(p => p.Neighbour)], [.. (peers ?? []).Select(p => p.Fdb)], [.. (peers ?? []).Select(p => p.Route)]);

    [Fact]
    public void Repairs_EmptyDevice_VtepAddressFirstThenNeighbourFdbRoutePerPeer()
    {
        var batch = VxlanLayout.Repairs(Vtep, Entries(A, B), Kernel(addresses: []));

        Assert.Equal(
            [
                "RTM_NEWADDR (replace) 10.240.1.0/32 dev #7",
                "RTM_NEWNEIGH (replace) 10.240.2.0 lladdr 02:4c:00:00:00:0a dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0a dst 192.168.50.2 dev #7",
                "RTM_NEWROUTE 10.240.2.0/24 via 10.240.2.0 dev #7 onlink proto 76 table 254",
                "RTM_NEWNEIGH (replace) 10.240.3.0 lladdr 02:4c:00:00:00:0b dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0b dst 192.168.50.3 dev #7",
                "RTM_NEWROUTE 10.240.3.0/24 via 10.240.3.0 dev #7 onlink proto 76 table 254",
            ],
            batch.Batch.Operations);
        Assert.Equal([VxlanOp.Set, VxlanOp.Set, VxlanOp.Set, VxlanOp.AddRoute, VxlanOp.Set, VxlanOp.Set, VxlanOp.AddRoute], batch.Tags.Select(t => t.Op));
        Assert.Equal([null, "node-a", "node-a", "node-a", "node-b", "node-b", "node-b"], batch.Tags.Select(t => t.Peer));
    }

    [Fact]
    public void Repairs_KernelAsWanted_Nothing()
    {
        var entries = Entries(A, B);
        var ipv6LinkLocal = new RtnlAddress(Dev, IPAddress.Parse("fe80::4c:ff:fe00:1"), 64);
        var batch = VxlanLayout.Repairs(Vtep, entries, Kernel([Vtep, ipv6LinkLocal], entries.Values));
        Assert.Equal(0, batch.Count);
    }

    [Fact]
    public void Repairs_Drift_StaleRemovedFirstMissingAndChangedSetStaleAddressLast()
    {
        var entries = Entries(A, B);
        var a = entries["node-a"];
        var staleRoute = new RtnlRoute(IPAddress.Parse("10.240.9.0"), 24, IPAddress.Parse("10.240.9.0"), Dev, OnLink: true, VxlanLayout.RouteProtocol);
        var kernel = new KernelEntries(
            [Vtep, new RtnlAddress(Dev, IPAddress.Parse("10.9.9.9"), 24)],
            // A's neighbour has another MAC; B's is missing; a stale permanent one and a kernel-made (reachable) one.
            [a.Neighbour with { Mac = MacC }, new RtnlNeighbour(Dev, IPAddress.Parse("10.240.9.0"), MacC), new RtnlNeighbour(Dev, IPAddress.Parse("10.240.8.0"), MacC, 0x02)],
            // A's FDB entry points at a wrong underlay; B's is missing.
            [a.Fdb with { Destination = IPAddress.Parse("192.168.50.99") }],
            // A's route has another gateway; B's is missing; a stale route of ours.
            [a.Route with { Gateway = IPAddress.Parse("10.240.2.1") }, staleRoute]);

        var batch = VxlanLayout.Repairs(Vtep, entries, kernel);

        Assert.Equal(
            [
                "RTM_DELNEIGH 10.240.9.0 dev #7 state 0x80",
                "RTM_DELNEIGH fdb 02:4c:00:00:00:0a dst 192.168.50.99 dev #7",
                "RTM_DELROUTE 10.240.9.0/24 via 10.240.9.0 dev #7 onlink proto 76 table 254",
                "RTM_NEWNEIGH (replace) 10.240.2.0 lladdr 02:4c:00:00:00:0a dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0a dst 192.168.50.2 dev #7",
                "RTM_NEWROUTE (replace) 10.240.2.0/24 via 10.240.2.0 dev #7 onlink proto 76 table 254",
                "RTM_NEWNEIGH (replace) 10.240.3.0 lladdr 02:4c:00:00:00:0b dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0b dst 192.168.50.3 dev #7",
                "RTM_NEWROUTE 10.240.3.0/24 via 10.240.3.0 dev #7 onlink proto 76 table 254",
                "RTM_DELADDR 10.9.9.9/24 dev #7",
            ],
            batch.Batch.Operations);
    }

    [Fact]
    public void Repairs_ForeignRoutesAndOtherDevices_NotTouched()
    {
        var entries = Entries(A);
        var a = entries["node-a"];
        var foreign = new RtnlRoute(IPAddress.Parse("10.250.0.0"), 24, IPAddress.Parse("10.240.2.0"), Dev, OnLink: true, 4);
        var otherDevice = a.Route with { Destination = IPAddress.Parse("10.240.7.0"), OutputInterface = Dev + 1 };
        var kernel = new KernelEntries([Vtep], [a.Neighbour], [a.Fdb], [a.Route, foreign, otherDevice]);
        Assert.Equal(0, VxlanLayout.Repairs(Vtep, entries, kernel).Count);
    }

    [Fact]
    public void Changes_NewChangedRemovedPeers_RemovalsFirstThenOnlyWhatDiffers()
    {
        var programmed = Entries(A, B);
        var movedA = A with { Underlay = IPAddress.Parse("192.168.50.22") };
        var c = Peer("node-c", "10.240.3.0/24", "192.168.50.4", MacC);
        var changes = new List<KeyValuePair<string, PeerEntries?>>
        {
            new("node-a", VxlanLayout.EntriesOf(Dev, movedA)),
            new("node-c", VxlanLayout.EntriesOf(Dev, c)),
            new("node-b", null),
        };

        var batch = VxlanLayout.Changes(programmed, changes);

        // B leaves 10.240.3.0/24 and C takes it in the same change: B's entries go first, then C's are added.
        Assert.Equal(
            [
                "RTM_DELROUTE 10.240.3.0/24 via 10.240.3.0 dev #7 onlink proto 76 table 254",
                "RTM_DELNEIGH 10.240.3.0 dev #7 state 0x80",
                "RTM_DELNEIGH fdb 02:4c:00:00:00:0b dst 192.168.50.3 dev #7",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0a dst 192.168.50.22 dev #7",
                "RTM_NEWNEIGH (replace) 10.240.3.0 lladdr 02:4c:00:00:00:0c dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) fdb 02:4c:00:00:00:0c dst 192.168.50.4 dev #7",
                "RTM_NEWROUTE 10.240.3.0/24 via 10.240.3.0 dev #7 onlink proto 76 table 254",
            ],
            batch.Batch.Operations);
    }

    [Fact]
    public void Changes_PeerMovedSubnet_OldRouteAndNeighbourRemovedNewAdded()
    {
        var moved = Peer("node-a", "10.240.5.0/24", "192.168.50.2", MacA);
        var batch = VxlanLayout.Changes(Entries(A), [new("node-a", VxlanLayout.EntriesOf(Dev, moved))]);
        Assert.Equal(
            [
                "RTM_DELROUTE 10.240.2.0/24 via 10.240.2.0 dev #7 onlink proto 76 table 254",
                "RTM_DELNEIGH 10.240.2.0 dev #7 state 0x80",
                "RTM_NEWNEIGH (replace) 10.240.5.0 lladdr 02:4c:00:00:00:0a dev #7 state 0x80",
                "RTM_NEWROUTE 10.240.5.0/24 via 10.240.5.0 dev #7 onlink proto 76 table 254",
            ],
            batch.Batch.Operations);
    }

    [Fact]
    public void Changes_RemovalOfUnknownPeer_Nothing() =>
        Assert.Equal(0, VxlanLayout.Changes(Entries(A), [new("node-x", null)]).Count);

    [Fact]
    public void Refusal_PeerWithoutVtepMacOrOtherFamily_SaysWhy()
    {
        Assert.Null(VxlanLayout.Refusal(Local, A));
        Assert.Contains("no VTEP MAC", VxlanLayout.Refusal(Local, A with { VtepMac = null }), StringComparison.Ordinal);
        Assert.Contains("no VTEP address", VxlanLayout.Refusal(Local, A with { VtepAddress = null }), StringComparison.Ordinal);
        Assert.Contains("not of this node's underlay's family", VxlanLayout.Refusal(Local, A with { Underlay = IPAddress.Parse("fd00::2") }), StringComparison.Ordinal);
        Assert.Contains("holds no subnet", VxlanLayout.Refusal(null, A), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 1500, "192.168.50.1", 1450)]
    [InlineData(0, 1500, "fd00::1", 1430)]
    [InlineData(0, 9000, "192.168.50.1", 8950)]
    [InlineData(0, 65536, "127.0.0.1", 65485)]
    [InlineData(1400, 1500, "192.168.50.1", 1400)]
    [InlineData(1450, 1500, "192.168.50.1", 1450)]
    public void MtuOver_ZeroOrFitting_TheMtu(int configured, int underlayMtu, string underlay, int expected) =>
        Assert.Equal(expected, VxlanLayout.MtuOver(configured, underlayMtu, IPAddress.Parse(underlay), "eth0"));

    [Fact]
    public void MtuOver_ConfiguredLargerThanUnderlayCarries_ClearError()
    {
        var e = Assert.Throws<InvalidOperationException>(() => VxlanLayout.MtuOver(1451, 1500, IPAddress.Parse("192.168.50.1"), "eth0"));
        Assert.Equal("[overlay.vxlan] mtu = 1451 does not fit the underlay: eth0 (which holds 192.168.50.1) has MTU 1500, and VXLAN over IPv4 adds 50 bytes, so at most 1450; lower mtu, or set mtu = 0 for 1450", e.Message);
    }

    [Fact]
    public void DeviceDifference_ChangedSettings_NamesEach()
    {
        var spec = VxlanLayout.DeviceSpec(new VxlanOptions(), Local, 3, 1450);
        var same = new RtnlLink(9, "lashup0", true, 1450, Local.VtepMac, VxlanLayout.Alias, "vxlan", spec.Vxlan);
        Assert.Null(VxlanLayout.DeviceDifference(same, spec));
        var drifted = same with { Mtu = 1400, Vxlan = spec.Vxlan with { Vni = 7, Port = 8472, Learning = true } };
        Assert.Equal("vni 7 → 1024, port 8472 → 4789, learning on → off, mtu 1400 → 1450", VxlanLayout.DeviceDifference(drifted, spec));
        Assert.Equal("it is of kind dummy, not vxlan", VxlanLayout.DeviceDifference(same with { Kind = "dummy", Vxlan = null }, spec));
    }

    [Theory]
    [InlineData("lashup0", 0, null)]
    [InlineData("lashup-overlay-1", 0, "overlay.vxlan.device: expected an interface name of 1-15 ASCII characters without '/', ':' or spaces (e.g. \"lashup0\"), got \"lashup-overlay-1\"")]
    [InlineData("a b", 0, "overlay.vxlan.device: expected an interface name of 1-15 ASCII characters without '/', ':' or spaces (e.g. \"lashup0\"), got \"a b\"")]
    [InlineData("lashup0", 575, "overlay.vxlan.mtu: expected 0 (the underlay's MTU less 50, less 70 over IPv6) or 576-65485, got 575")]
    [InlineData("lashup0", 65485, null)]
    public void Validator_DeviceAndMtu(string device, int mtu, string? error)
    {
        var result = new VxlanOptionsValidator().Validate(null, new VxlanOptions { Device = device, Mtu = mtu });
        Assert.Equal(error, result.Failed ? result.FailureMessage : null);
    }

    [Fact]
    public void EntriesOf_Peer_FlannelLayout()
    {
        var entries = VxlanLayout.EntriesOf(Dev, A);
        Assert.Equal(new RtnlNeighbour(Dev, IPAddress.Parse("10.240.2.0"), MacA), entries.Neighbour);
        Assert.Equal(new RtnlFdbEntry(Dev, MacA, IPAddress.Parse("192.168.50.2")), entries.Fdb);
        Assert.Equal(new RtnlRoute(IPAddress.Parse("10.240.2.0"), 24, IPAddress.Parse("10.240.2.0"), Dev, OnLink: true, 0x4c), entries.Route);
    }
}
