using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>Registers the core's observable metrics once the node has started.</summary>
internal sealed class CoreMetricsRegistration(IMeterFactory meters, CoreRuntime core, Store.KvStore store) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.ReplicatedData + 1;

    public string Name => "core.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        CoreMetrics.Register(meters, core.Stats, () => core.Members);
        var meter = meters.Create("Lashup.Core");
        meter.CreateObservableGauge("lashup.core.store_keys", () => store.Count, description: "Keys in this node's replica");
        meter.CreateObservableCounter("lashup.core.store_local_updates", () => Volatile.Read(ref store.Stats.LocalUpdates), description: "Updates applied on this node");
        meter.CreateObservableCounter("lashup.core.store_write_failures", () => Volatile.Read(ref store.Stats.WriteFailures), description: "Updates refused because the disk write failed");
        meter.CreateObservableGauge("lashup.core.store_watch_backlog", store.MaxWatchBacklog, description: "Keys waiting in the slowest watcher's queue (subscription lag)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
