using System.Collections.Immutable;
using System.Net;
using System.Net.NetworkInformation;

namespace Lashup.Abstractions.Overlay;

/// <summary>One overlay peer: a node's subnet and how to reach it.</summary>
/// <param name="Node">The peer's node name.</param>
/// <param name="Subnet">The peer's overlay subnet, e.g. <c>10.240.3.0/24</c>.</param>
/// <param name="Underlay">The peer's underlay (host) address.</param>
/// <param name="VtepAddress">The peer's VTEP address inside the overlay, when the backend uses one.</param>
/// <param name="VtepMac">The peer's VTEP MAC address, when the backend uses one.</param>
public sealed record OverlayPeer(string Node, IPNetwork Subnet, IPAddress Underlay, IPAddress? VtepAddress, PhysicalAddress? VtepMac);

/// <summary>The desired overlay state of this node. Immutable.</summary>
/// <param name="LocalSubnet">This node's own subnet, or null while it has none yet.</param>
/// <param name="Peers">Every other reachable node with a subnet, keyed by node name.</param>
public sealed record OverlayTable(IPNetwork? LocalSubnet, ImmutableDictionary<string, OverlayPeer> Peers)
{
    /// <summary>No subnet, no peers.</summary>
    public static OverlayTable Empty { get; } = new(null, ImmutableDictionary<string, OverlayPeer>.Empty);
}

/// <summary>
/// An overlay data plane (capability <c>overlay.backend</c>): VXLAN, host routes or a vendor's. The overlay plugin
/// hands over the desired table on every change; the backend reconciles incrementally and cleans up peers that left.
/// </summary>
public interface IOverlayBackend
{
    /// <summary>The backend's name, e.g. <c>vxlan</c>.</summary>
    string Name { get; }

    /// <summary>Checks that the backend can work here; throws <see cref="InvalidOperationException"/> with a clear message if not.</summary>
    ValueTask EnsureSupportedAsync(CancellationToken cancellationToken);

    /// <summary>Makes routes, devices and neighbour entries match <paramref name="desired"/>. Idempotent.</summary>
    ValueTask ApplyAsync(OverlayTable desired, CancellationToken cancellationToken);

    /// <summary>Removes everything the backend programmed.</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken);
}
