using System.Collections.Immutable;
using System.Net;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>
/// A load-balancer data plane (capability <c>loadbalancer.backend</c>): the userspace proxy, nftables DNAT, IPVS or a
/// vendor's. The load-balancer plugin computes the desired table from the store and the member list and drives the
/// backend: nothing before the store and the member list have been read whole (a start never flushes working rules),
/// then one <see cref="ReconcileAsync"/> that adopts what a previous run left, then <see cref="ApplyAsync"/> with only
/// what changed, and <see cref="ReconcileAsync"/> again every <c>reconcile_interval</c> to repair drift. Calls never
/// overlap. A backend touches only what it owns (its own table, its own VIPs' services, its sockets).
/// </summary>
public interface ILoadBalancerBackend
{
    /// <summary>The backend's name, e.g. <c>userspace</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Whether the data plane needs each VIP's address to be an address of this host (a proxy binds it; IPVS needs it
    /// local). The load-balancer plugin then adds non-local VIP addresses to <c>lo</c> (labelled <c>lo:lashup</c>,
    /// when it may) before the VIP is applied, removes them after, and leaves out VIPs whose address it could not add.
    /// </summary>
    bool NeedsLocalAddresses { get; }

    /// <summary>
    /// Checks that the backend can work on this machine (kernel module, privileges, platform) and throws
    /// <see cref="InvalidOperationException"/> with an operator-facing message when it cannot.
    /// </summary>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>When the check is done.</returns>
    ValueTask EnsureSupportedAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Programs a change: adds or replaces the <see cref="LoadBalancerDelta.Upserted"/> entries and removes the
    /// <see cref="LoadBalancerDelta.Removed"/> VIPs, from what this backend last programmed; it does not re-read the
    /// kernel (that is <see cref="ReconcileAsync"/>'s). A VIP it cannot program (its port is taken, ...) is reported by
    /// <see cref="Describe"/>, not thrown.
    /// </summary>
    /// <param name="delta">The change.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>When the change is programmed.</returns>
    ValueTask ApplyAsync(LoadBalancerDelta delta, CancellationToken cancellationToken);

    /// <summary>
    /// Re-reads what is programmed (the kernel's state, where there is one), adopts what this backend owns from an
    /// earlier run, and repairs everything that differs from <paramref name="desired"/>: missing or changed VIPs and
    /// backends are programmed, stale ones removed. Idempotent.
    /// </summary>
    /// <param name="desired">The whole desired table.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many repairs were needed (VIPs or backends added, changed or removed); 0 when nothing had drifted.</returns>
    ValueTask<int> ReconcileAsync(LoadBalancerTable desired, CancellationToken cancellationToken);

    /// <summary>Removes everything the backend programmed (the load balancer stops without <c>keep_on_stop</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>When it is removed.</returns>
    ValueTask ClearAsync(CancellationToken cancellationToken);

    /// <summary>What is programmed for <paramref name="vip"/> now, or why not; null when the backend was never given it. Cheap.</summary>
    /// <param name="vip">A VIP of the table.</param>
    /// <returns>Its state in the data plane.</returns>
    VipProgramStatus? Describe(VipKey vip);
}

/// <summary>A VIP's state in a data plane (<see cref="ILoadBalancerBackend.Describe"/>).</summary>
/// <param name="Programmed">Whether it serves traffic.</param>
/// <param name="Reason">Why not, when it does not (one line, for <c>lashup vip list</c>).</param>
/// <param name="Backends">Its backends as programmed; empty when the backend does not track them one by one.</param>
public sealed record VipProgramStatus(bool Programmed, string? Reason, ImmutableArray<BackendProgramStatus> Backends)
{
    /// <summary>Programmed, with no per-backend detail.</summary>
    public static VipProgramStatus Ok { get; } = new(true, null, []);

    /// <summary>Not programmed, for <paramref name="reason"/>.</summary>
    /// <param name="reason">Why.</param>
    /// <returns>The status.</returns>
    public static VipProgramStatus NotProgrammed(string reason) => new(false, reason, []);
}

/// <summary>A backend's state in a data plane.</summary>
/// <param name="Endpoint">The backend.</param>
/// <param name="Programmed">Whether new connections may go to it (false while drained, ejected, ...).</param>
/// <param name="Reason">Why not, or a note (e.g. <c>ejected for 4s after 3 failed connects</c>); null when nothing to say.</param>
/// <param name="Connections">Connections (or flows) open to it through this node now, when the data plane counts them; else null.</param>
public sealed record BackendProgramStatus(IPEndPoint Endpoint, bool Programmed, string? Reason, int? Connections);
