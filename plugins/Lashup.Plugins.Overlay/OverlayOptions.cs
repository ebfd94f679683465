using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.Overlay;

/// <summary>
/// <c>[overlay]</c>: a subnet per node from one range, claimed through the replicated store, programmed by the backend
/// chosen with <c>backend = "..."</c> (configured in <c>[overlay.&lt;backend&gt;]</c>).
/// </summary>
public sealed class OverlayOptions
{
    /// <summary>The overlay's range (IPv4 CIDR, the same on every node).</summary>
    [ConfigurationKeyName("range")]
    public string Range { get; set; } = "10.240.0.0/16";

    /// <summary>The prefix length of each node's subnet (longer than the range's, at most 30).</summary>
    [ConfigurationKeyName("subnet_prefix")]
    [Range(8, 30)]
    public int SubnetPrefix { get; set; } = 24;

    /// <summary>The address other nodes send this node's overlay traffic to; empty: the core's advertised address.</summary>
    [ConfigurationKeyName("underlay_address")]
    public string UnderlayAddress { get; set; } = "";

    /// <summary>An unreachable peer stays programmed this long (a short partition costs no reprogramming), then goes until it is back.</summary>
    [ConfigurationKeyName("peer_grace")]
    [Range(typeof(Duration), "0s", "1h")]
    public Duration PeerGrace { get; set; } = Duration.FromSeconds(60);

    /// <summary>How often the backend re-reads the kernel and repairs drift.</summary>
    [ConfigurationKeyName("reconcile_interval")]
    [Range(typeof(Duration), "1s", "1h")]
    public Duration ReconcileInterval { get; set; } = Duration.FromSeconds(30);

    /// <summary>The core's <c>expire_after</c>: a node absent from the member list this long has its claim released.</summary>
    internal TimeSpan ExpireAfter { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The load balancer's named VIP range (<c>[loadbalancer] named_vip_range</c>), when it is on: the overlay must not overlap it.</summary>
    internal string? NamedVipRange { get; set; }
}
