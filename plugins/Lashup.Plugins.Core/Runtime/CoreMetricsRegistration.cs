using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>Registers the core's observable metrics once the node has started.</summary>
internal sealed class CoreMetricsRegistration(IMeterFactory meters, CoreRuntime core, Store.KvStore store, Store.KvReplicator replicator) : ILifecycleParticipant
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
        meter.CreateObservableCounter("lashup.core.store_commits", () => Volatile.Read(ref store.Stats.Commits), description: "Transactions (one fsync each) that committed local updates or queued-up deltas together; updates and deltas merged per commit is the group commit's batch size");
        meter.CreateObservableCounter("lashup.core.store_deltas_sent", () => Volatile.Read(ref store.Stats.DeltasSent), description: "Deltas of local updates broadcast");
        meter.CreateObservableCounter("lashup.core.store_deltas_merged", () => Volatile.Read(ref store.Stats.DeltasMerged), description: "Deltas from other nodes merged");
        meter.CreateObservableCounter("lashup.core.store_deltas_skipped", () => Volatile.Read(ref store.Stats.DeltasSkipped), description: "Deltas left to anti-entropy (duplicate or after a gap)");
        meter.CreateObservableCounter("lashup.core.store_sync_rounds", () => Volatile.Read(ref store.Stats.SyncRounds), description: "Anti-entropy rounds started");
        meter.CreateObservableCounter("lashup.core.store_sync_bytes", () => Volatile.Read(ref store.Stats.SyncBytes), "By", "Anti-entropy bytes sent");
        meter.CreateObservableCounter("lashup.core.store_entries_repaired", () => Volatile.Read(ref store.Stats.EntriesRepaired), description: "Entries brought up to date by anti-entropy");
        meter.CreateObservableCounter("lashup.core.store_bad_messages", () => Volatile.Read(ref store.Stats.BadMessages), description: "Replication messages dropped as malformed (or a delta whose writer is not its sender)");
        meter.CreateObservableCounter("lashup.core.store_inbox_dropped", () => Volatile.Read(ref replicator.InboxDropped), description: "Replication messages dropped because the inbox was full");
        meter.CreateObservableCounter("lashup.core.store_prunes_performed", () => Volatile.Read(ref store.Stats.PrunesPerformed), description: "Departed replicas this node collapsed as pruning owner");
        meter.CreateObservableCounter("lashup.core.store_pruned_entries_cleaned", () => Volatile.Read(ref store.Stats.PrunedEntriesCleaned), description: "Entries (held or merged) cleaned of a pruned replica");
        meter.CreateObservableCounter("lashup.core.store_pruned_deltas_dropped", () => Volatile.Read(ref store.Stats.PrunedDeltasDropped), description: "Deltas (and collapsed entries) written by a departed replica, dropped");
        meter.CreateObservableCounter("lashup.core.store_prune_removes_translated", () => Volatile.Read(ref store.Stats.RemovesTranslated), description: "Removes of a pruned replica's dots applied to the dots that replaced them");
        meter.CreateObservableCounter("lashup.core.store_prune_mismatches", () => Volatile.Read(ref store.Stats.PruneMismatches), description: "Prunes learnt while holding other updates of the pruned replica than its owner (those only here are dropped)");
        meter.CreateObservableCounter("lashup.core.store_prune_markers_deleted", () => Volatile.Read(ref store.Stats.MarkersDeleted), description: "Pruning markers deleted after prune_marker_ttl");
        meter.CreateObservableCounter("lashup.core.store_replica_discards", () => Volatile.Read(ref store.Stats.ReplicaDiscards), description: "Times this node discarded its replica because membership recorded its identity as departed");
        meter.CreateObservableCounter("lashup.core.store_departed_exchanges_refused", () => Volatile.Read(ref store.Stats.DepartedExchangesRefused), description: "Anti-entropy messages refused from a node that speaks as a departed replica");
        meter.CreateObservableGauge("lashup.core.departures", () => ((Store.IDepartureRecord)core).Departures.Count, description: "Replica identities in the departure record (departed for good)");
        meter.CreateObservableCounter("lashup.core.store_quarantined", () => Volatile.Read(ref store.Stats.Quarantined), description: "Undecodable entries quarantined (rows of the store file at start, entries refused from peers)");
        meter.CreateObservableGauge("lashup.core.store_quarantined_keys", () => store.Quarantined().Count, description: "Keys quarantined now (see lashup kv quarantine)");
        meter.CreateObservableGauge("lashup.core.store_watch_backlog", store.MaxWatchBacklog, description: "Keys waiting in the slowest watcher's queue (subscription lag)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
