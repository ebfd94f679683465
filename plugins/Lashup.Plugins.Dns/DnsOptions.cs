using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.Dns;

/// <summary><c>[dns]</c>: the authoritative server for cluster names, and forwarding of the rest.</summary>
public sealed class DnsOptions
{
    // Lists with defaults are empty here and defaulted by the Effective* properties: the configuration binder appends
    // to a list it finds filled, so a default in the initializer would be kept beside the configured values.
    private static readonly string[] DefaultListen = ["127.0.0.1:8053"];
    private static readonly string[] DefaultZones = ["lashup.directory"];
    private static readonly string[] DefaultRecursionFrom = ["127.0.0.0/8", "::1/128"];

    /// <summary>UDP and TCP addresses to serve on ("address:port"). Port 53 needs root (or CAP_NET_BIND_SERVICE).</summary>
    [ConfigurationKeyName("listen")]
    [ListenEndpoint(ListenProtocols.Udp | ListenProtocols.Tcp)]
    public List<string> Listen { get; set; } = [];

    /// <summary><see cref="Listen"/>, or 127.0.0.1:8053 when none is configured.</summary>
    internal IReadOnlyList<string> EffectiveListen => Listen.Count > 0 ? Listen : DefaultListen;

    /// <summary>The zones answered from the cluster's records; the first is where <c>lashup service</c> names show.</summary>
    [ConfigurationKeyName("zones")]
    public List<string> Zones { get; set; } = [];

    /// <summary><see cref="Zones"/> in canonical form (lower case, no trailing dot), or lashup.directory when none is configured.</summary>
    internal IReadOnlyList<string> EffectiveZones =>
        Zones.Count > 0 ? [.. Zones.Select(z => Protocol.DnsName.Normalize(z.Trim()))] : DefaultZones;

    /// <summary>TTL of cluster records, in seconds. Short: records follow the cluster (dcos-dns used 5).</summary>
    [ConfigurationKeyName("ttl")]
    [Range(0, 86_400)]
    public int Ttl { get; set; } = 5;

    /// <summary>TTL of negative answers (NXDOMAIN, NODATA): the SOA minimum, in seconds.</summary>
    [ConfigurationKeyName("negative_ttl")]
    [Range(0, 86_400)]
    public int NegativeTtl { get; set; } = 5;

    /// <summary>Resolvers for names outside the zones ("address[:port]", or "system" for /etc/resolv.conf). Empty: REFUSED.</summary>
    [ConfigurationKeyName("upstreams")]
    public List<string> Upstreams { get; set; } = [];

    /// <summary>How long forwarding waits for an upstream answer before SERVFAIL.</summary>
    [ConfigurationKeyName("forward_timeout")]
    [Range(typeof(Duration), "1ms", "30s")]
    public Duration ForwardTimeout { get; set; } = Duration.FromSeconds(2);

    /// <summary>Entries of the forwarding cache (0 turns it off).</summary>
    [ConfigurationKeyName("cache_size")]
    [Range(0, 10_000_000)]
    public int CacheSize { get; set; } = 10_000;

    /// <summary>Client ranges (CIDR) whose queries may be forwarded. Everyone gets cluster names; only these get recursion. Empty: loopback only.</summary>
    [ConfigurationKeyName("allow_recursion_from")]
    public List<string> AllowRecursionFrom { get; set; } = [];

    /// <summary><see cref="AllowRecursionFrom"/>, or loopback only when none is configured.</summary>
    internal IReadOnlyList<string> EffectiveAllowRecursionFrom => AllowRecursionFrom.Count > 0 ? AllowRecursionFrom : DefaultRecursionFrom;

    /// <summary>UDP sockets (SO_REUSEPORT) and receive threads per listen address; 0 means one per CPU.</summary>
    [ConfigurationKeyName("udp_workers")]
    [Range(0, 64)]
    public int UdpWorkers { get; set; }

    /// <summary>The largest UDP response, and the EDNS payload size advertised (the 2020 flag-day value by default).</summary>
    [ConfigurationKeyName("max_udp_payload")]
    [Range(512, 4096)]
    public int MaxUdpPayload { get; set; } = 1232;

    /// <summary>A TCP connection is closed when no complete query arrives within this long.</summary>
    [ConfigurationKeyName("tcp_idle_timeout")]
    [Range(typeof(Duration), "100ms", "10m")]
    public Duration TcpIdleTimeout { get; set; } = Duration.FromSeconds(10);

    /// <summary>Open TCP connections at most; at the cap a new one replaces the connection idle longest, or is closed if none is idle.</summary>
    [ConfigurationKeyName("tcp_max_connections")]
    [Range(1, 65_536)]
    public int TcpMaxConnections { get; set; } = 256;
}
