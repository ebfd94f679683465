namespace Lashup.Abstractions.Plugins;

/// <summary>
/// Well-known capability names. A capability without a dot is a subsystem with its own TOML section
/// (<c>[dns]</c>) and an <c>enabled</c> key; a capability <c>parent.key</c> is chosen inside the parent's section by
/// <c>key = "name"</c> (one plugin) or <c>key = ["a", "b"]</c> (several), e.g. <c>[loadbalancer] backend = "userspace"</c>.
/// Vendors may declare capabilities of their own following the same rule.
/// </summary>
public static class Capabilities
{
    /// <summary>The gossip/CRDT control plane: membership, multicast and the replicated store.</summary>
    public const string Core = "core";

    /// <summary>The cluster DNS server.</summary>
    public const string Dns = "dns";

    /// <summary>Extra record sources chained into the DNS server, selected by <c>[dns] sources = [...]</c>.</summary>
    public const string DnsSources = "dns.sources";

    /// <summary>The virtual-IP load balancer.</summary>
    public const string LoadBalancer = "loadbalancer";

    /// <summary>The data plane that programs VIPs, selected by <c>[loadbalancer] backend = "..."</c>.</summary>
    public const string LoadBalancerBackend = "loadbalancer.backend";

    /// <summary>The overlay network: a subnet per node.</summary>
    public const string Overlay = "overlay";

    /// <summary>The data plane that programs overlay routes, selected by <c>[overlay] backend = "..."</c>.</summary>
    public const string OverlayBackend = "overlay.backend";
}
