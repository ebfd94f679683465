namespace Lashup.Abstractions.LoadBalancing;

/// <summary>
/// A load-balancer data plane (capability <c>loadbalancer.backend</c>): the userspace proxy, nftables DNAT, IPVS or a
/// vendor's. The load-balancer plugin computes the desired table and hands it over on every change and periodically;
/// the backend reconciles incrementally and repairs drift in what it programmed.
/// </summary>
public interface ILoadBalancerBackend
{
    /// <summary>The backend's name, e.g. <c>nftables</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Checks that the backend can work on this machine (kernel module, privileges) and throws
    /// <see cref="InvalidOperationException"/> with an operator-facing message when it cannot.
    /// </summary>
    ValueTask EnsureSupportedAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Makes the data plane match <paramref name="desired"/>: adds, changes and removes only what differs from what is
    /// programmed now (re-read from the kernel where there is one, so drift is repaired). Idempotent.
    /// </summary>
    ValueTask ApplyAsync(LoadBalancerTable desired, CancellationToken cancellationToken);

    /// <summary>Removes everything the backend programmed (on shutdown or when disabled).</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken);
}
