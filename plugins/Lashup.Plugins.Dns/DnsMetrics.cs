using System.Diagnostics.Metrics;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Server;

namespace Lashup.Plugins.Dns;

/// <summary>The DNS plugin's instruments (meter <c>Lashup.Dns</c>): query counts by type and rcode, latency, the index.</summary>
internal sealed class DnsMetrics
{
    public DnsMetrics(IMeterFactory meters, DnsStats stats, RecordIndex index)
    {
        Meter = meters.Create("Lashup.Dns");
        Latency = Meter.CreateHistogram(
            "lashup.dns.query_duration",
            "s",
            "Time from a query's arrival to its response being sent (forwarded queries included)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5] });
        Meter.CreateObservableCounter("lashup.dns.queries", () => Queries(stats), description: "Queries answered, by query type and response code");
        Meter.CreateObservableCounter("lashup.dns.dropped", () => Volatile.Read(ref stats.Dropped), description: "Packets dropped without an answer (no header, or not a query)");
        Meter.CreateObservableCounter("lashup.dns.truncated", () => Volatile.Read(ref stats.Truncated), description: "UDP answers truncated (TC set) for lack of room");
        Meter.CreateObservableCounter("lashup.dns.tcp_connections", () => Volatile.Read(ref stats.TcpConnections), description: "TCP connections accepted");
        Meter.CreateObservableCounter("lashup.dns.tcp_refused", () => Volatile.Read(ref stats.TcpRefused), description: "TCP connections closed at once: tcp_max_connections reached, every connection with a query in progress");
        Meter.CreateObservableCounter("lashup.dns.tcp_evicted", () => Volatile.Read(ref stats.TcpEvicted), description: "Idle TCP connections closed to make room for a new one at tcp_max_connections (the one idle longest)");
        Meter.CreateObservableCounter("lashup.dns.tcp_timeouts", () => Volatile.Read(ref stats.TcpTimeouts), description: "TCP connections closed because no complete query arrived in tcp_idle_timeout");
        Meter.CreateObservableCounter("lashup.dns.source_errors", () => Volatile.Read(ref stats.SourceErrors), description: "Record-source lookups that threw or returned unwritable records");
        Meter.CreateObservableCounter("lashup.dns.forwarded", () => Volatile.Read(ref stats.Forwarded), description: "Queries sent to forwarding");
        Meter.CreateObservableCounter("lashup.dns.forward_refused", () => Volatile.Read(ref stats.ForwardRefused), description: "Queries for other names refused (no upstreams, or client outside allow_recursion_from)");
        Meter.CreateObservableCounter("lashup.dns.forward_overload", () => Volatile.Read(ref stats.ForwardOverload), description: "Queries answered SERVFAIL because 4096 were already waiting for forwarding");
        Meter.CreateObservableGauge("lashup.dns.index_names", () => index.NameCount, description: "Names in the DNS index (empty non-terminals included)");
        Meter.CreateObservableGauge("lashup.dns.index_records", () => index.RecordCount, description: "Records in the DNS index");
    }

    public Meter Meter { get; }

    public Histogram<double> Latency { get; }

    private static IEnumerable<Measurement<long>> Queries(DnsStats stats)
    {
        for (var t = 0; t <= DnsStats.Types.Length; t++)
        {
            for (var c = 0; c < DnsStats.Codes.Length; c++)
            {
                var value = stats.Get(t, c);
                if (value > 0)
                {
                    yield return new Measurement<long>(value, new("type", DnsStats.TypeName(t)), new("rcode", DnsStats.CodeName(c)));
                }
            }
        }
    }
}
