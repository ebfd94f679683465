using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Overlay;

/// <summary>The overlay's instruments (meter <c>Lashup.Overlay</c>), none labelled per node.</summary>
internal sealed class OverlayMetrics(IMeterFactory meters, OverlayController controller) : ILifecycleParticipant
{
    private static readonly string[] States = ["programmed", "unreachable", "lost-claim", "refused"];

    public int Stage => LifecycleStage.Dataplane - 1;

    public string Name => "overlay.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.Overlay");
        meter.CreateObservableGauge("lashup.overlay.peers", () =>
        {
            var claims = controller.Snapshot.Claims;
            return States.Select(s => new Measurement<int>(claims.Count(c => c.State == s), new KeyValuePair<string, object?>("state", s)));
        }, description: "Other nodes' claims by state on this node: programmed, unreachable, lost-claim, refused");
        var passes = meter.CreateHistogram(
            "lashup.overlay.reconcile_seconds",
            "s",
            "Time of a pass of the overlay: kind=apply (a change, only what differs) or reconcile (the kernel re-read and repaired)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30] });
        controller.PassCompleted += (kind, elapsed) => passes.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
        meter.CreateObservableCounter("lashup.overlay.drift_repaired", () => Interlocked.Read(ref controller.Stats.DriftRepaired), description: "Entries found changed behind the overlay's back and repaired");
        meter.CreateObservableCounter("lashup.overlay.claim_conflicts", () => Interlocked.Read(ref controller.Stats.ClaimConflicts), description: "Times this node's claim lost its subnet to an earlier claim and it claimed anew");
        meter.CreateObservableCounter("lashup.overlay.pass_failures", () => Interlocked.Read(ref controller.Stats.Failures), description: "Passes that failed (a full reconcile follows within a second)");
        meter.CreateObservableGauge("lashup.overlay.malformed_claims", () => controller.Stats.Malformed, description: "Malformed claims in the store, skipped");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
