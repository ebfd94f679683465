using System.Net;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// How <see cref="DnsForwarder"/> forwards names outside Lashup's zones. The server builds it from its options
/// (<see cref="UpstreamParser"/> turns the TOML strings into <see cref="Upstreams"/>); defaults are in the initializers.
/// </summary>
/// <param name="Upstreams">The resolvers to forward to, at least one; all are asked at once and the first answer wins.</param>
internal sealed record ForwarderSettings(IReadOnlyList<IPEndPoint> Upstreams)
{
    /// <summary>How long one upstream exchange may take (UDP, and separately TCP after a truncated answer) before SERVFAIL.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Cached answers at most; 0 disables the cache.</summary>
    public int CacheEntries { get; init; } = 10_000;

    /// <summary>Octets of cached answers at most (a bound for hostile zones that answer with 64 KB records).</summary>
    public long CacheMaxBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>The longest a positive answer is cached, whatever its TTLs; served TTLs are capped to it.</summary>
    public TimeSpan MaxCacheTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The longest an NXDOMAIN or NODATA answer is cached (RFC 2308 §5: the SOA's TTL and MINIMUM, capped by this).</summary>
    public TimeSpan NegativeTtlCap { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Upstream queries (one per upstream asked) waiting for an answer at most; beyond it a query gets SERVFAIL at once.</summary>
    public int MaxInFlight { get; init; } = 1024;

    /// <summary>Consecutive failures (timeouts, send errors, REFUSED/FORMERR/NOTIMP answers) that mark an upstream down.</summary>
    public int FailuresBeforeDown { get; init; } = 3;

    /// <summary>How often an upstream marked down is asked again (one client query rides along as the probe).</summary>
    public TimeSpan DownRetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>UDP sockets per address family, each bound to its own random ephemeral port; a query uses one at random.</summary>
    public int UdpSocketsPerFamily { get; init; } = 4;

    /// <summary>The UDP payload size advertised to upstreams (EDNS0); larger answers come truncated and are fetched over TCP.</summary>
    public ushort UpstreamPayloadSize { get; init; } = 1232;

    /// <summary>The UDP payload size advertised to clients in forwarded answers.</summary>
    public ushort ClientPayloadSize { get; init; } = 1232;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (Upstreams is null || Upstreams.Count == 0)
        {
            throw new ArgumentException("the forwarder needs at least one upstream", nameof(Upstreams));
        }

        if (Upstreams.Any(u => u is null || u.Port == 0))
        {
            throw new ArgumentException("every upstream needs an address and a port other than 0", nameof(Upstreams));
        }

        if (Upstreams.Distinct().Count() != Upstreams.Count)
        {
            throw new ArgumentException("an upstream is listed twice", nameof(Upstreams));
        }

        Check(Timeout > TimeSpan.Zero && Timeout <= TimeSpan.FromMinutes(1), nameof(Timeout), "between 0 and 1 minute");
        Check(CacheEntries >= 0, nameof(CacheEntries), "0 (off) or more");
        Check(CacheMaxBytes > 0, nameof(CacheMaxBytes), "positive");
        Check(MaxCacheTtl >= TimeSpan.Zero && MaxCacheTtl.TotalSeconds <= int.MaxValue, nameof(MaxCacheTtl), "0 or more seconds");
        Check(NegativeTtlCap >= TimeSpan.Zero && NegativeTtlCap.TotalSeconds <= int.MaxValue, nameof(NegativeTtlCap), "0 or more seconds");
        Check(MaxInFlight > 0, nameof(MaxInFlight), "positive");
        Check(FailuresBeforeDown > 0, nameof(FailuresBeforeDown), "positive");
        Check(DownRetryInterval > TimeSpan.Zero, nameof(DownRetryInterval), "positive");
        Check(UdpSocketsPerFamily is > 0 and <= 256, nameof(UdpSocketsPerFamily), "between 1 and 256");
        Check(UpstreamPayloadSize >= 512, nameof(UpstreamPayloadSize), "at least 512");
        Check(ClientPayloadSize >= 512, nameof(ClientPayloadSize), "at least 512");
    }

    private static void Check(bool ok, string name, string expected)
    {
        if (!ok)
        {
            throw new ArgumentException($"forwarder setting {name} must be {expected}", name);
        }
    }
}
