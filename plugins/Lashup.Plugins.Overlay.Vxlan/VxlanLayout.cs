using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Overlay;
using Lashup.Netlink.Route;

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary>What one peer needs on the device: flannel's vxlan layout.</summary>
/// <param name="Neighbour">The permanent neighbour: the peer's VTEP address → its VTEP MAC.</param>
/// <param name="Fdb">The FDB entry: the peer's VTEP MAC → its underlay address.</param>
/// <param name="Route">The onlink route: the peer's subnet via its VTEP address, with our protocol.</param>
internal sealed record PeerEntries(RtnlNeighbour Neighbour, RtnlFdbEntry Fdb, RtnlRoute Route);

/// <summary>The entries found on our device (and our routes through it) by a dump.</summary>
internal sealed record KernelEntries(
    IReadOnlyList<RtnlAddress> Addresses,
    IReadOnlyList<RtnlNeighbour> Neighbours,
    IReadOnlyList<RtnlFdbEntry> Fdb,
    IReadOnlyList<RtnlRoute> Routes);

/// <summary>What an operation of a <see cref="VxlanBatch"/> does, so that its refusal is judged.</summary>
internal enum VxlanOp
{
    /// <summary>Adds or changes an entry (a refusal is a failure).</summary>
    Set,

    /// <summary>Adds a peer's route that must not replace a foreign one (EEXIST: the peer is refused).</summary>
    AddRoute,

    /// <summary>Removes an entry (already gone is fine).</summary>
    Delete,
}

/// <summary>An <see cref="RtnlBatch"/> with, per operation, what it does and for which peer.</summary>
internal sealed class VxlanBatch
{
    private readonly List<(VxlanOp Op, string? Peer)> _tags = [];

    public RtnlBatch Batch { get; } = new();

    public int Count => Batch.Count;

    public IReadOnlyList<(VxlanOp Op, string? Peer)> Tags => _tags;

    public VxlanBatch Add(VxlanOp op, string? peer, Func<RtnlBatch, RtnlBatch> message)
    {
        var before = Batch.Count;
        message(Batch);
        for (var i = before; i < Batch.Count; i++)
        {
            _tags.Add((op, peer));
        }

        return this;
    }
}

/// <summary>
/// The kernel state the vxlan backend wants, and the batches that get there: the device (<see cref="DeviceSpec"/>), the
/// VTEP address, and per peer <see cref="PeerEntries"/>; <see cref="Changes"/> from what was last programmed (an
/// apply), <see cref="Repairs"/> from a dump (a reconcile). Pure: no kernel here.
/// </summary>
internal static class VxlanLayout
{
    /// <summary>
    /// The rtm_protocol of our routes (0x4c, 'L'; iproute2's rt_protos leaves it free): a route of another protocol is
    /// never changed or removed, whatever device it uses.
    /// </summary>
    public const byte RouteProtocol = 0x4c;

    /// <summary>The alias that marks the device as the backend's own; a device of our name without it is foreign.</summary>
    public const string Alias = "lashup:vxlan";

    /// <summary>The bytes VXLAN adds to a frame over IPv4 (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14).</summary>
    public const int OverheadIPv4 = 50;

    /// <summary>The bytes VXLAN adds over IPv6 (outer IPv6 40).</summary>
    public const int OverheadIPv6 = 70;

    public static int OverheadOf(IPAddress underlay) => underlay.AddressFamily == AddressFamily.InterNetworkV6 ? OverheadIPv6 : OverheadIPv4;

    /// <summary>
    /// The device's MTU over an underlay device of MTU <paramref name="underlayMtu"/>: the configured one, which must fit,
    /// else the underlay's less VXLAN's overhead.
    /// </summary>
    /// <exception cref="InvalidOperationException">The configured MTU does not fit the underlay.</exception>
    public static int MtuOver(int configured, int underlayMtu, IPAddress underlay, string underlayDevice)
    {
        var overhead = OverheadOf(underlay);
        var most = Math.Min(underlayMtu - overhead, VxlanOptions.MaxMtu);
        if (configured == 0)
        {
            return Math.Max(most, VxlanOptions.MinMtu);
        }

        return configured <= most
            ? configured
            : throw new InvalidOperationException(
                $"[overlay.vxlan] mtu = {configured} does not fit the underlay: {underlayDevice} (which holds {underlay}) has MTU {underlayMtu}, and VXLAN over {(overhead == OverheadIPv6 ? "IPv6" : "IPv4")} adds {overhead} bytes, so at most {most}; lower mtu, or set mtu = 0 for {most}");
    }

    /// <summary>The device for <paramref name="local"/>: VNI, port, local underlay address, learning off, MTU, MAC, alias; up.</summary>
    public static VxlanLinkSpec DeviceSpec(VxlanOptions options, OverlayLocal local, int underlayIndex, int mtu) =>
        new(options.Device, new VxlanSettings((uint)options.Vni, local.Underlay, (ushort)options.Port, Learning: false, underlayIndex), mtu, local.VtepMac, Alias, Up: true);

    /// <summary>Why the existing device <paramref name="link"/> (ours) differs from <paramref name="spec"/> so that it is re-created, or null.</summary>
    public static string? DeviceDifference(RtnlLink link, VxlanLinkSpec spec)
    {
        if (link.Kind != "vxlan" || link.Vxlan is not { } vxlan)
        {
            return $"it is of kind {link.Kind ?? "none"}, not vxlan";
        }

        var want = spec.Vxlan;
        var differences = new List<string>();
        if (vxlan.Vni != want.Vni)
        {
            differences.Add($"vni {vxlan.Vni} → {want.Vni}");
        }

        if (vxlan.Port != want.Port)
        {
            differences.Add($"port {vxlan.Port} → {want.Port}");
        }

        if (!Equals(vxlan.Local, want.Local))
        {
            differences.Add($"local {vxlan.Local?.ToString() ?? "none"} → {want.Local}");
        }

        if (vxlan.Learning)
        {
            differences.Add("learning on → off");
        }

        if (vxlan.UnderlayIndex != want.UnderlayIndex)
        {
            differences.Add($"underlay device #{vxlan.UnderlayIndex} → #{want.UnderlayIndex}");
        }

        if (link.Mtu != spec.Mtu)
        {
            differences.Add($"mtu {link.Mtu} → {spec.Mtu}");
        }

        if (!Equals(link.Mac, spec.Mac))
        {
            differences.Add($"mac {(link.Mac is { } mac ? RtnlBatch.FormatMac(mac) : "none")} → {RtnlBatch.FormatMac(spec.Mac!)}");
        }

        return differences.Count == 0 ? null : string.Join(", ", differences);
    }

    /// <summary>Why <paramref name="peer"/> cannot be programmed next to <paramref name="local"/>, or null when it can.</summary>
    public static string? Refusal(OverlayLocal? local, OverlayPeer peer)
    {
        if (local is null)
        {
            return "this node holds no subnet yet: nothing is programmed";
        }

        if (peer.VtepAddress is null || peer.VtepMac is null)
        {
            return $"its claim has no {(peer.VtepAddress is null ? "VTEP address" : "VTEP MAC")} (written by a node that is not on vxlan?): the neighbour and FDB entries need both";
        }

        if (peer.VtepAddress.AddressFamily != AddressFamily.InterNetwork || peer.Subnet.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            return $"its VTEP address {peer.VtepAddress} or subnet {peer.Subnet} is not IPv4";
        }

        if (peer.VtepMac.GetAddressBytes().Length != 6)
        {
            return "its VTEP MAC is not 6 bytes";
        }

        if (peer.Underlay.AddressFamily != local.Underlay.AddressFamily)
        {
            return $"its underlay {peer.Underlay} is not of this node's underlay's family ({local.Underlay}): one VXLAN device speaks one";
        }

        return null;
    }

    /// <summary>A peer's entries on the device of index <paramref name="index"/> (the peer was checked by <see cref="Refusal"/>).</summary>
    public static PeerEntries EntriesOf(int index, OverlayPeer peer)
    {
        var vtep = peer.VtepAddress ?? throw new ArgumentException($"{peer.Node} has no VTEP address", nameof(peer));
        var mac = peer.VtepMac ?? throw new ArgumentException($"{peer.Node} has no VTEP MAC", nameof(peer));
        return new PeerEntries(
            new RtnlNeighbour(index, vtep, mac),
            new RtnlFdbEntry(index, mac, peer.Underlay),
            new RtnlRoute(peer.Subnet.BaseAddress, peer.Subnet.PrefixLength, vtep, index, OnLink: true, RouteProtocol));
    }

    /// <summary>The VTEP address on the device: the subnet's first address, /32 (as flannel).</summary>
    public static RtnlAddress VtepOf(int index, OverlayLocal local) => new(index, local.VtepAddress, 32);

    /// <summary>
    /// An apply: from <paramref name="programmed"/> (what was last programmed, by peer) to <paramref name="changes"/>
    /// (each changed peer's entries, null for a peer to remove). Every removal first (route, neighbour, FDB entry), then
    /// every addition (neighbour and FDB before the route that uses them), so that a key one peer leaves and another
    /// takes in the same change ends with the new one.
    /// </summary>
    public static VxlanBatch Changes(IReadOnlyDictionary<string, PeerEntries> programmed, IEnumerable<KeyValuePair<string, PeerEntries?>> changes)
    {
        var batch = new VxlanBatch();
        var sets = new List<(string Node, PeerEntries? Old, PeerEntries New)>();
        foreach (var (node, wanted) in changes)
        {
            var old = programmed.GetValueOrDefault(node);
            if (wanted is null)
            {
                if (old is not null)
                {
                    batch.Add(VxlanOp.Delete, node, b => b.DeleteRoute(old.Route))
                        .Add(VxlanOp.Delete, node, b => b.DeleteNeighbour(old.Neighbour))
                        .Add(VxlanOp.Delete, node, b => b.DeleteFdb(old.Fdb));
                }

                continue;
            }

            if (old is not null)
            {
                if (!SameKey(old.Route, wanted.Route))
                {
                    batch.Add(VxlanOp.Delete, node, b => b.DeleteRoute(old.Route));
                }

                if (!old.Neighbour.Destination.Equals(wanted.Neighbour.Destination))
                {
                    batch.Add(VxlanOp.Delete, node, b => b.DeleteNeighbour(old.Neighbour));
                }

                if (!old.Fdb.Mac.Equals(wanted.Fdb.Mac))
                {
                    batch.Add(VxlanOp.Delete, node, b => b.DeleteFdb(old.Fdb));
                }
            }

            sets.Add((node, old, wanted));
        }

        foreach (var (node, old, wanted) in sets)
        {
            if (old is null || !old.Neighbour.Equals(wanted.Neighbour))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceNeighbour(wanted.Neighbour));
            }

            if (old is null || !old.Fdb.Equals(wanted.Fdb))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceFdb(wanted.Fdb));
            }

            if (old is null || !SameKey(old.Route, wanted.Route))
            {
                batch.Add(VxlanOp.AddRoute, node, b => b.AddRoute(wanted.Route));
            }
            else if (!SameRoute(old.Route, wanted.Route))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceRoute(wanted.Route));
            }
        }

        return batch;
    }

    /// <summary>
    /// A reconcile: what turns <paramref name="kernel"/> (the dump of our device and our routes through it) into the
    /// VTEP address <paramref name="vtep"/> and <paramref name="desired"/>. Missing or changed entries are set, stale
    /// ones (on our device: permanent neighbours, FDB entries, IPv4 addresses; routes of our protocol through it)
    /// removed. A missing route is added without replacing (a foreign route to the same subnet is left, and the peer
    /// refused); the VTEP address goes first and stale addresses last (the kernel drops every IPv4 route through a
    /// device when its last IPv4 address goes).
    /// </summary>
    public static VxlanBatch Repairs(RtnlAddress vtep, IReadOnlyDictionary<string, PeerEntries> desired, KernelEntries kernel)
    {
        var batch = new VxlanBatch();
        var index = vtep.InterfaceIndex;
        if (!kernel.Addresses.Any(a => a.InterfaceIndex == index && a.Address.Equals(vtep.Address) && a.PrefixLength == vtep.PrefixLength))
        {
            batch.Add(VxlanOp.Set, null, b => b.ReplaceAddress(vtep));
        }

        var peers = desired.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var neighbours = kernel.Neighbours.Where(n => n.InterfaceIndex == index && n.State == Netlink.Route.RtnlWire.NUD_PERMANENT).ToList();
        var fdb = kernel.Fdb.Where(e => e.InterfaceIndex == index).ToList();
        var routes = kernel.Routes.Where(r => r.OutputInterface == index && r.Protocol == RouteProtocol).ToList();

        // Stale entries first: an FDB remote to the wrong underlay goes before the right one is set.
        var wantedNeighbours = peers.Select(p => p.Value.Neighbour.Destination).ToHashSet();
        foreach (var stale in neighbours.Where(n => !wantedNeighbours.Contains(n.Destination)))
        {
            batch.Add(VxlanOp.Delete, null, b => b.DeleteNeighbour(stale));
        }

        var wantedFdb = peers.Select(p => p.Value.Fdb).ToList();
        foreach (var stale in fdb.Where(e => !wantedFdb.Any(w => w.Mac.Equals(e.Mac) && Equals(w.Destination, e.Destination))))
        {
            batch.Add(VxlanOp.Delete, null, b => b.DeleteFdb(stale));
        }

        var wantedRoutes = peers.Select(p => p.Value.Route).ToList();
        foreach (var stale in routes.Where(r => !wantedRoutes.Any(w => SameKey(w, r))))
        {
            batch.Add(VxlanOp.Delete, null, b => b.DeleteRoute(stale));
        }

        foreach (var (node, wanted) in peers)
        {
            if (!neighbours.Any(n => n.Equals(wanted.Neighbour)))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceNeighbour(wanted.Neighbour));
            }

            if (!fdb.Any(e => e.Equals(wanted.Fdb)))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceFdb(wanted.Fdb));
            }

            var route = routes.FirstOrDefault(r => SameKey(r, wanted.Route));
            if (route is null)
            {
                batch.Add(VxlanOp.AddRoute, node, b => b.AddRoute(wanted.Route));
            }
            else if (!SameRoute(route, wanted.Route))
            {
                batch.Add(VxlanOp.Set, node, b => b.ReplaceRoute(wanted.Route));
            }
        }

        foreach (var stale in kernel.Addresses.Where(a => a.InterfaceIndex == index && a.Address.AddressFamily == AddressFamily.InterNetwork
                     && !(a.Address.Equals(vtep.Address) && a.PrefixLength == vtep.PrefixLength)))
        {
            batch.Add(VxlanOp.Delete, null, b => b.DeleteAddress(stale));
        }

        return batch;
    }

    /// <summary>Whether two routes have the same key in the table (destination and prefix length).</summary>
    public static bool SameKey(RtnlRoute a, RtnlRoute b) => a.Destination.Equals(b.Destination) && a.PrefixLength == b.PrefixLength;

    /// <summary>Whether two routes are the same (the kernel's default IPv6 metric aside).</summary>
    public static bool SameRoute(RtnlRoute a, RtnlRoute b) =>
        SameKey(a, b) && Equals(a.Gateway, b.Gateway) && a.OutputInterface == b.OutputInterface && a.OnLink == b.OnLink
        && a.Protocol == b.Protocol && a.Table == b.Table;
}
