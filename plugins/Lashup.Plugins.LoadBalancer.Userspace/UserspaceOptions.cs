using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary><c>[loadbalancer.userspace]</c>: the in-process TCP and UDP proxy.</summary>
public sealed class UserspaceOptions
{
    /// <summary>
    /// How long a backend has to accept a connection; then the next backend is tried (and this one ejected for a
    /// while). At least 250 ms: the workers check timeouts every 250 ms, so a shorter one would not be kept.
    /// </summary>
    [ConfigurationKeyName("connect_timeout")]
    [Range(typeof(Duration), "250ms", "1m")]
    public Duration ConnectTimeout { get; set; } = Duration.FromSeconds(2);

    /// <summary>A TCP connection with no byte either way for this long is closed.</summary>
    [ConfigurationKeyName("idle_timeout")]
    [Range(typeof(Duration), "1s", "7d")]
    public Duration IdleTimeout { get; set; } = new(TimeSpan.FromMinutes(10));

    /// <summary>A UDP flow (one client address and port) with no datagram either way for this long is forgotten.</summary>
    [ConfigurationKeyName("udp_idle_timeout")]
    [Range(typeof(Duration), "1s", "1h")]
    public Duration UdpIdleTimeout { get; set; } = Duration.FromSeconds(30);

    /// <summary>Open TCP connections, at most; more are refused (reset).</summary>
    [ConfigurationKeyName("max_connections")]
    [Range(1, 1_048_576)]
    public int MaxConnections { get; set; } = 65_536;

    /// <summary>
    /// Open UDP flows (one per client address and port), at most; a budget apart from <see cref="MaxConnections"/>. At
    /// the limit the flow quiet longest (1 s at least) is forgotten to make room; if none is, the datagram is dropped.
    /// </summary>
    [ConfigurationKeyName("max_udp_flows")]
    [Range(1, 1_048_576)]
    public int MaxUdpFlows { get; set; } = 65_536;

    /// <summary>Proxy threads, one epoll set each; 0 means one per CPU this process may run on.</summary>
    [ConfigurationKeyName("workers")]
    [Range(0, 256)]
    public int Workers { get; set; }

    /// <summary>
    /// Serve every VIP on this address (with the VIP's port) instead of the VIP's own address. Empty: the VIP's own. For
    /// running several nodes on one host (tests, demos) or exposing VIPs on one node address; VIP addresses then need
    /// not be local.
    /// </summary>
    [ConfigurationKeyName("listen_address")]
    public string ListenAddress { get; set; } = "";
}
