using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.LoadBalancer;

/// <summary>
/// <c>[loadbalancer]</c>: VIPs from the replicated store, served by every node through the backend chosen with
/// <c>backend = "..."</c> (the host's selector key, configured in <c>[loadbalancer.&lt;backend&gt;]</c>).
/// </summary>
public sealed class LoadBalancerOptions
{
    /// <summary>The range named VIPs get their addresses from (CIDR); the same on every node.</summary>
    [ConfigurationKeyName("named_vip_range")]
    public string NamedVipRange { get; set; } = "10.200.0.0/16";

    /// <summary>How often the backend re-reads what it programmed and repairs drift.</summary>
    [ConfigurationKeyName("reconcile_interval")]
    [Range(typeof(Duration), "1s", "1h")]
    public Duration ReconcileInterval { get; set; } = Duration.FromSeconds(30);

    /// <summary>Leave what was programmed in the kernel (VIP addresses, rules) when the daemon stops, so a restart serves on.</summary>
    [ConfigurationKeyName("keep_on_stop")]
    public bool KeepOnStop { get; set; } = true;

    /// <summary>The overlay's range (<c>[overlay] range</c>), when configured: named VIPs must not take its addresses.</summary>
    internal string? OverlayRange { get; set; }
}
