using System.Collections.Immutable;
using System.Net;
using System.Net.NetworkInformation;

namespace Lashup.Abstractions.Overlay;

/// <summary>One overlay peer: another node's subnet and how to reach it.</summary>
/// <param name="Node">The peer's node name.</param>
/// <param name="Subnet">The peer's overlay subnet, e.g. <c>10.240.3.0/24</c>.</param>
/// <param name="Underlay">The peer's underlay (host) address: where its overlay traffic goes.</param>
/// <param name="VtepAddress">The peer's VTEP address inside the overlay (its subnet's first address), when written.</param>
/// <param name="VtepMac">The peer's VTEP MAC address, when written.</param>
public sealed record OverlayPeer(string Node, IPNetwork Subnet, IPAddress Underlay, IPAddress? VtepAddress, PhysicalAddress? VtepMac)
{
    /// <summary>Whether <paramref name="other"/> is the same peer with the same addresses (MACs compared by value).</summary>
    /// <param name="other">The other peer.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(OverlayPeer? other) =>
        other is not null && Node == other.Node && Subnet == other.Subnet && Underlay.Equals(other.Underlay)
        && Equals(VtepAddress, other.VtepAddress) && Equals(VtepMac, other.VtepMac);

    /// <summary>A hash consistent with <see cref="Equals(OverlayPeer?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() => HashCode.Combine(Node, Subnet, Underlay);
}

/// <summary>This node's own place in the overlay, which a backend programs locally (its device, its address).</summary>
/// <param name="Node">This node's name.</param>
/// <param name="Network">The whole overlay range, e.g. <c>10.240.0.0/16</c>.</param>
/// <param name="Subnet">This node's subnet, e.g. <c>10.240.3.0/24</c>.</param>
/// <param name="Underlay">This node's underlay address (the source of its overlay traffic).</param>
/// <param name="VtepAddress">This node's VTEP address: its subnet's first address.</param>
/// <param name="VtepMac">This node's VTEP MAC, derived from its name (<see cref="OverlayCatalog.VtepMacOf"/>).</param>
public sealed record OverlayLocal(string Node, IPNetwork Network, IPNetwork Subnet, IPAddress Underlay, IPAddress VtepAddress, PhysicalAddress VtepMac)
{
    /// <summary>Whether <paramref name="other"/> holds the same values (MACs compared by value).</summary>
    /// <param name="other">The other.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(OverlayLocal? other) =>
        other is not null && Node == other.Node && Network == other.Network && Subnet == other.Subnet
        && Underlay.Equals(other.Underlay) && VtepAddress.Equals(other.VtepAddress) && VtepMac.Equals(other.VtepMac);

    /// <summary>A hash consistent with <see cref="Equals(OverlayLocal?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() => HashCode.Combine(Node, Subnet, Underlay);
}

/// <summary>The desired overlay state of this node. Immutable.</summary>
/// <param name="Local">This node's subnet and addresses, or null while it holds no subnet (nothing is programmed then).</param>
/// <param name="Peers">The other nodes whose traffic this node routes: every node with a winning claim that is reachable,
/// or unreachable for less than <c>peer_grace</c>; keyed by node name.</param>
public sealed record OverlayTable(OverlayLocal? Local, ImmutableDictionary<string, OverlayPeer> Peers)
{
    /// <summary>No subnet, no peers.</summary>
    public static OverlayTable Empty { get; } = new(null, ImmutableDictionary<string, OverlayPeer>.Empty);
}

/// <summary>
/// What changed between two tables, by value: whether the local part changed, the peers to add or replace and the
/// peers to remove. A backend applies only this (<see cref="IOverlayBackend.ApplyAsync"/>).
/// </summary>
/// <param name="Table">The whole table after the change.</param>
/// <param name="LocalChanged">Whether <see cref="OverlayTable.Local"/> differs (then the backend re-programs its local part).</param>
/// <param name="Upserted">Peers new or changed, ordered by node.</param>
/// <param name="Removed">Nodes no longer peers, ordered.</param>
public sealed record OverlayDelta(OverlayTable Table, bool LocalChanged, ImmutableArray<OverlayPeer> Upserted, ImmutableArray<string> Removed)
{
    /// <summary>Whether nothing changed.</summary>
    public bool IsEmpty => !LocalChanged && Upserted.IsDefaultOrEmpty && Removed.IsDefaultOrEmpty;

    /// <summary>Compares two tables by value.</summary>
    /// <param name="previous">The table programmed now.</param>
    /// <param name="current">The table wanted.</param>
    /// <returns>The change.</returns>
    public static OverlayDelta Between(OverlayTable previous, OverlayTable current)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(current);
        var upserted = current.Peers.Values
            .Where(p => !previous.Peers.TryGetValue(p.Node, out var old) || !old.Equals(p))
            .OrderBy(p => p.Node, StringComparer.Ordinal);
        var removed = previous.Peers.Keys.Where(k => !current.Peers.ContainsKey(k)).Order(StringComparer.Ordinal);
        return new OverlayDelta(current, !Equals(previous.Local, current.Local), [.. upserted], [.. removed]);
    }
}

/// <summary>
/// An overlay data plane (capability <c>overlay.backend</c>): VXLAN, host routes or a vendor's. The overlay plugin computes
/// the desired table from the store and the member list and drives the backend: nothing before both have been read
/// whole, then one <see cref="ReconcileAsync"/> that adopts what a previous run left, then <see cref="ApplyAsync"/> with
/// only what changed, and <see cref="ReconcileAsync"/> again every <c>reconcile_interval</c> to repair drift. Calls never
/// overlap. A backend touches only what it owns (its device, its routes, entries on its device).
/// </summary>
public interface IOverlayBackend
{
    /// <summary>The backend's name, e.g. <c>vxlan</c>.</summary>
    string Name { get; }

    /// <summary>Checks that the backend can work here; throws <see cref="InvalidOperationException"/> with a clear message if not.</summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>When the check is done.</returns>
    ValueTask EnsureSupportedAsync(CancellationToken cancellationToken);

    /// <summary>The MTU containers on this node should use with this backend (written to <c>subnet.env</c>).</summary>
    /// <param name="local">This node's place in the overlay.</param>
    /// <returns>The MTU.</returns>
    int MtuFor(OverlayLocal local);

    /// <summary>
    /// Programs a change from what this backend last programmed (no kernel dump): the local part when it changed, the
    /// upserted peers, the removal of the removed ones. A peer it cannot program is reported by
    /// <see cref="Describe"/>, not thrown; a failure of the kernel is thrown (the overlay reconciles next).
    /// </summary>
    /// <param name="delta">The change.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>When it is programmed.</returns>
    ValueTask ApplyAsync(OverlayDelta delta, CancellationToken cancellationToken);

    /// <summary>
    /// Dumps what is programmed, adopts what this backend owns from an earlier run, and repairs everything that differs
    /// from <paramref name="desired"/> (missing, changed or stale entries). Idempotent.
    /// </summary>
    /// <param name="desired">The whole desired table.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many repairs were needed; 0 when nothing had drifted.</returns>
    ValueTask<int> ReconcileAsync(OverlayTable desired, CancellationToken cancellationToken);

    /// <summary>Removes everything the backend programmed (the backend was switched, or the overlay released).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>When it is removed.</returns>
    ValueTask ClearAsync(CancellationToken cancellationToken);

    /// <summary>How a peer is programmed here, or why not; null when the backend was never given it. Cheap.</summary>
    /// <param name="node">A peer's node name.</param>
    /// <returns>Its state in the data plane.</returns>
    OverlayProgramStatus? Describe(string node);

    /// <summary>This node's local part as programmed (the device, ...), for <c>lashup overlay show</c>; null before the first reconcile.</summary>
    /// <returns>Its state.</returns>
    OverlayProgramStatus? DescribeLocal();
}

/// <summary>A peer's (or the local part's) state in an overlay data plane.</summary>
/// <param name="Programmed">Whether it is programmed.</param>
/// <param name="Reason">Why not, when it is not; or a short note (the device's name, ...).</param>
public sealed record OverlayProgramStatus(bool Programmed, string? Reason)
{
    /// <summary>Programmed, nothing to say.</summary>
    public static OverlayProgramStatus Ok { get; } = new(true, null);

    /// <summary>Not programmed, for <paramref name="reason"/>.</summary>
    /// <param name="reason">Why.</param>
    /// <returns>The status.</returns>
    public static OverlayProgramStatus Refused(string reason) => new(false, reason);
}
