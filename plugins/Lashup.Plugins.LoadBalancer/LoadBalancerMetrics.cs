using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.LoadBalancer.Table;

namespace Lashup.Plugins.LoadBalancer;

/// <summary>
/// The load balancer's instruments (meter <c>Lashup.LoadBalancer</c>), none labelled per VIP: VIPs served, backends by
/// role, how long passes take, drift repaired, malformed entries skipped. Registered when the controller starts.
/// </summary>
internal sealed class LoadBalancerMetrics(IMeterFactory meters, LoadBalancerController controller) : ILifecycleParticipant
{
    private static readonly string[] Roles = ["active", "draining", "excluded", "fail-open"];

    public int Stage => LifecycleStage.Dataplane + 1;

    public string Name => "loadbalancer.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.LoadBalancer");
        var passes = meter.CreateHistogram(
            "lashup.lb.reconcile_seconds",
            "s",
            "Time of a pass of the load balancer: kind=apply (a change, only what differs) or reconcile (everything re-read and repaired)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30] });
        controller.PassCompleted += (kind, elapsed) => passes.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
        meter.CreateObservableGauge("lashup.lb.vips", () => controller.Snapshot.Applied.Vips.Count, description: "VIPs in the table this node serves");
        meter.CreateObservableGauge("lashup.lb.backends", Backends, description: "Backends of the VIPs this node knows, by state (active, draining, excluded, fail-open)");
        meter.CreateObservableGauge("lashup.lb.vips_not_served", () => controller.Snapshot.Desired.Vips.Count - controller.Snapshot.Applied.Vips.Count, description: "VIPs this node does not serve: a name without an address, an address it cannot add, a key another VIP has");
        meter.CreateObservableCounter("lashup.lb.drift_repaired", () => Volatile.Read(ref controller.Stats.DriftRepaired), description: "VIPs, backends and VIP addresses found changed behind the load balancer's back and repaired by a reconcile");
        meter.CreateObservableCounter("lashup.lb.pass_failures", () => Volatile.Read(ref controller.Stats.Failures), description: "Passes that failed (the backend or the address table threw); a reconcile follows");
        meter.CreateObservableGauge("lashup.lb.malformed_entries", () => Volatile.Read(ref controller.Stats.Malformed), description: "Malformed parts of VIP entries in the store (backends, services, keys), skipped");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private IEnumerable<Measurement<int>> Backends()
    {
        var counts = new int[Roles.Length];
        foreach (var vip in controller.Snapshot.Desired.Vips.Values)
        {
            foreach (var backend in vip.Backends)
            {
                counts[(int)backend.Role]++;
            }
        }

        for (var i = 0; i < Roles.Length; i++)
        {
            yield return new Measurement<int>(counts[i], new KeyValuePair<string, object?>("state", Roles[i]));
        }
    }

    /// <summary>The name of a role as the admin API and the metrics write it.</summary>
    public static string RoleName(BackendRole role) => Roles[(int)role];
}
