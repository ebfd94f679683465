using System.Diagnostics.Metrics;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>Why the forwarder answered SERVFAIL (the <c>reason</c> tag of <c>lashup.dns.forward.errors</c>).</summary>
internal enum ForwardError
{
    /// <summary>No upstream answered within the timeout.</summary>
    Timeout,

    /// <summary>Every upstream asked answered SERVFAIL, REFUSED, FORMERR or NOTIMP, or could not be sent to.</summary>
    UpstreamError,

    /// <summary>Too many upstream queries in flight: answered at once.</summary>
    Overload,

    /// <summary>The answer was truncated over UDP and the TCP retry failed.</summary>
    Tcp,

    /// <summary>The forwarder was shutting down.</summary>
    Shutdown,
}

/// <summary>
/// The forwarder's instruments, on the server's meter (<c>Lashup.Dns</c>). Names follow the core's
/// (<c>lashup.core.*</c>); a Prometheus exporter shows <c>lashup.dns.cache.hits</c> as
/// <c>lashup_dns_cache_hits_total</c>.
/// </summary>
internal sealed class ForwarderMetrics
{
    private static readonly KeyValuePair<string, object?>[] _errorTags =
    [
        new("reason", "timeout"),
        new("reason", "upstream_error"),
        new("reason", "overload"),
        new("reason", "tcp"),
        new("reason", "shutdown"),
    ];

    private static readonly KeyValuePair<string, object?> _udp = new("transport", "udp");
    private static readonly KeyValuePair<string, object?> _tcp = new("transport", "tcp");

    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Counter<long> _upstreamQueries;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;

    public ForwarderMetrics(Meter meter, Func<int> cacheEntries, Func<long> cacheEvictions, Func<int> healthyUpstreams)
    {
        _requests = meter.CreateCounter<long>("lashup.dns.forward.requests", description: "Queries handed to the forwarder (names outside Lashup's zones)");
        _errors = meter.CreateCounter<long>("lashup.dns.forward.errors", description: "Forwarded queries answered SERVFAIL, by reason");
        _upstreamQueries = meter.CreateCounter<long>("lashup.dns.forward.upstream_queries", description: "Queries sent to upstreams, by transport");
        _dropped = meter.CreateCounter<long>("lashup.dns.forward.responses_dropped", description: "Datagrams from upstream sockets that answered no pending query (unknown source, id or question, malformed)");
        _cacheHits = meter.CreateCounter<long>("lashup.dns.cache.hits", description: "Forwarded queries answered from the cache");
        _cacheMisses = meter.CreateCounter<long>("lashup.dns.cache.misses", description: "Forwarded queries the cache could not answer");
        meter.CreateObservableGauge("lashup.dns.cache.entries", cacheEntries, description: "Answers in the forwarder's cache");
        meter.CreateObservableCounter("lashup.dns.cache.evictions", cacheEvictions, description: "Unexpired answers evicted to make room");
        meter.CreateObservableGauge("lashup.dns.forward.upstreams_healthy", healthyUpstreams, description: "Upstreams currently marked up");
    }

    public void Request() => _requests.Add(1);

    public void Error(ForwardError reason) => _errors.Add(1, _errorTags[(int)reason]);

    public void UpstreamQuery(bool tcp) => _upstreamQueries.Add(1, tcp ? _tcp : _udp);

    public void Dropped() => _dropped.Add(1);

    public void CacheHit() => _cacheHits.Add(1);

    public void CacheMiss() => _cacheMisses.Add(1);
}
