using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary>The userspace proxy's instruments (meter <c>Lashup.LoadBalancer.Userspace</c>), none labelled per VIP.</summary>
internal sealed class UserspaceMetrics(IMeterFactory meters, ProxyStats stats, UserspaceBackend backend) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.Dataplane - 1;

    public string Name => "loadbalancer.userspace.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.LoadBalancer.Userspace");
        meter.CreateObservableGauge("lashup.lb.proxy_connections", () => stats.Open, description: "TCP connections and UDP flows open through the proxy");
        Counter(meter, "lashup.lb.proxy_accepted", c => c.Accepted, "TCP connections accepted");
        Counter(meter, "lashup.lb.proxy_refused", c => c.Refused, "Connections reset and UDP flows refused because max_connections were open");
        Counter(meter, "lashup.lb.proxy_no_backend", c => c.NoBackend, "Connections reset and datagrams dropped because the VIP had no backend taking new connections");
        Counter(meter, "lashup.lb.proxy_connect_failures", c => c.ConnectFailures, "Backend connects that failed (refused, unreachable, timed out; UDP: port unreachable)");
        Counter(meter, "lashup.lb.proxy_local_connect_errors", c => c.LocalConnectErrors, "Backend connects that failed for this host's want (descriptors, ports, buffers); they eject no backend");
        Counter(meter, "lashup.lb.proxy_retries", c => c.Retries, "Connections sent to another backend after a failed connect");
        Counter(meter, "lashup.lb.proxy_connect_timeouts", c => c.ConnectTimeouts, "Backend connects that took longer than connect_timeout");
        Counter(meter, "lashup.lb.proxy_idle_timeouts", c => c.IdleTimeouts, "Connections and UDP flows closed after idle_timeout (udp_idle_timeout) without traffic");
        Counter(meter, "lashup.lb.proxy_resets", c => c.Resets, "Connections ended with a reset (a side reset, or no backend took it)");
        Counter(meter, "lashup.lb.proxy_accept_errors", c => c.AcceptErrors, "accept or socket calls that failed for lack of descriptors or memory (the listener pauses 100 ms)");
        meter.CreateObservableCounter("lashup.lb.proxy_bytes", () => new Measurement<long>[]
        {
            new(stats.Sum(c => c.BytesToBackends), new KeyValuePair<string, object?>("direction", "to_backends")),
            new(stats.Sum(c => c.BytesToClients), new KeyValuePair<string, object?>("direction", "to_clients")),
        }, "By", "Bytes proxied");
        meter.CreateObservableCounter("lashup.lb.proxy_udp_flows", () => stats.UdpFlowsOpened, description: "UDP flows opened (one per client address and port)");
        meter.CreateObservableCounter("lashup.lb.proxy_udp_dropped", () => stats.UdpDropped, description: "Datagrams dropped: no backend, or max_udp_flows flows open and none quiet enough to forget");
        meter.CreateObservableCounter("lashup.lb.proxy_udp_evicted", () => stats.UdpEvicted, description: "UDP flows forgotten to make room for a new one at max_udp_flows (the one quiet longest)");
        meter.CreateObservableGauge("lashup.lb.proxy_backends_ejected", () => backend.Vips.Sum(v => v.Pool.Slots.Count(s => s.IsEjected(Environment.TickCount64))), description: "Backends ejected now after failed connects (they get no new connection until their ejection ends)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void Counter(Meter meter, string name, Func<WorkerCounters, long> counter, string description) =>
        meter.CreateObservableCounter(name, () => stats.Sum(counter), description: description);
}
