using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.LoadBalancer.Ipvs;

/// <summary><c>[loadbalancer.ipvs]</c>: the kernel's IPVS, programmed over generic netlink.</summary>
public sealed class IpvsOptions
{
    /// <summary>
    /// The IPVS scheduler of every VIP's service, one of the kernel's: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq,
    /// fo, ovf, mh, twos. <c>wlc</c> (weighted least-connection, as dcos-l4lb used) by default.
    /// </summary>
    [ConfigurationKeyName("scheduler")]
    public string Scheduler { get; set; } = "wlc";
}
