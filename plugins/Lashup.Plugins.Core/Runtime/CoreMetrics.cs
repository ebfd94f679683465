using System.Diagnostics.Metrics;
using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>The core's metrics, observed from the node's counters (meter <c>Lashup.Core</c>).</summary>
internal static class CoreMetrics
{
    public static void Register(IMeterFactory factory, NodeStats stats, Func<IReadOnlyList<Member>> members)
    {
        var meter = factory.Create("Lashup.Core");
        meter.CreateObservableGauge("lashup.core.members", () => Enum.GetValues<MemberState>().Select(state =>
            new Measurement<int>(members().Count(m => m.State == state), new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant()))),
            description: "Known members by state");
        meter.CreateObservableCounter("lashup.core.frames_dropped", () => Enum.GetValues<DropReason>().Where(r => r != DropReason.None).Select(r =>
            new Measurement<long>(Volatile.Read(ref stats.Dropped[(int)r]), new KeyValuePair<string, object?>("reason", r.ToString().ToLowerInvariant()))),
            description: "Received frames dropped, by reason");
        meter.CreateObservableCounter("lashup.core.bytes_sent", () => Volatile.Read(ref stats.BytesSent), "By", "Bytes sent to other nodes (UDP and TCP)");
        meter.CreateObservableCounter("lashup.core.bytes_received", () => Volatile.Read(ref stats.BytesReceived), "By", "Bytes received from other nodes");
        meter.CreateObservableCounter("lashup.core.messages_sent", () => NodeStats.MessageTypes.Select((t, i) =>
            new Measurement<long>(Volatile.Read(ref stats.SentByType[i]), new KeyValuePair<string, object?>("type", t.Name.ToLowerInvariant()))),
            description: "Protocol messages sent, by type");
        meter.CreateObservableCounter("lashup.core.messages_received", () => Volatile.Read(ref stats.MessagesReceived), description: "Protocol messages accepted");
        meter.CreateObservableCounter("lashup.core.probes", () => Volatile.Read(ref stats.ProbesSent), description: "Direct probes of active neighbours");
        meter.CreateObservableCounter("lashup.core.probe_timeouts", () => Volatile.Read(ref stats.ProbeTimeouts), description: "Direct probes unanswered in time (indirect probing followed)");
        meter.CreateObservableCounter("lashup.core.suspicions", () => Volatile.Read(ref stats.Suspicions), description: "Probe rounds (direct and indirect) that failed");
        meter.CreateObservableCounter("lashup.core.neighbors_failed", () => Volatile.Read(ref stats.NeighborsFailed), description: "Neighbours declared failed");
        meter.CreateObservableCounter("lashup.core.multicast_delivered", () => Volatile.Read(ref stats.MulticastDelivered), description: "Broadcasts delivered to this node");
        meter.CreateObservableCounter("lashup.core.multicast_duplicates", () => Volatile.Read(ref stats.MulticastDuplicates), description: "Broadcast copies dropped as duplicates");
        meter.CreateObservableCounter("lashup.core.send_queue_full", () => Volatile.Read(ref stats.SendQueueFull), description: "Outgoing TCP frames dropped because the peer's queue was full (or 1024 peers had connections open)");
        meter.CreateObservableCounter("lashup.core.connections_closed", () => Enum.GetValues<ConnectionCloseReason>().Where(r => r != ConnectionCloseReason.None).Select(r =>
            new Measurement<long>(Volatile.Read(ref stats.ConnectionsClosed[(int)r]), new KeyValuePair<string, object?>("reason", Label(r.ToString())))),
            description: "Inbound stream connections closed or refused by this node, by reason");
        meter.CreateObservableGauge("lashup.core.stream_buffered_bytes", () => new[]
            {
                new Measurement<long>(Volatile.Read(ref stats.StreamBufferedUnauthenticated), new KeyValuePair<string, object?>("authenticated", "false")),
                new Measurement<long>(Volatile.Read(ref stats.StreamBufferedAuthenticated), new KeyValuePair<string, object?>("authenticated", "true")),
            },
            "By",
            "Bytes held by inbound stream connections for frames being read, by whether the connection has authenticated");
        meter.CreateObservableCounter("lashup.core.replies_rate_limited", () => Volatile.Read(ref stats.RepliesRateLimited),
            description: "Replies to addresses no frame has proven, dropped by the reflection limits (plaintext only)");
        meter.CreateObservableGauge("lashup.core.senders_tracked", () => Volatile.Read(ref stats.SendersTracked),
            description: "Senders with a replay window: members, and at most 1024 others");
        meter.CreateObservableCounter("lashup.core.epoch_checks", () => new[]
            {
                new Measurement<long>(Volatile.Read(ref stats.EpochChecks), new KeyValuePair<string, object?>("result", "asked")),
                new Measurement<long>(Volatile.Read(ref stats.EpochsConfirmed), new KeyValuePair<string, object?>("result", "confirmed")),
                new Measurement<long>(Volatile.Read(ref stats.EpochsRefuted), new KeyValuePair<string, object?>("result", "refuted")),
            },
            description: "Members asked to confirm an epoch far ahead (or behind) of their record, and the outcomes");
        meter.CreateObservableCounter("lashup.core.joins_refused", () => Volatile.Read(ref stats.JoinsRefused), description: "Joins refused (throttled or name taken)");
    }

    /// <summary>PascalCase to snake_case (<c>HeaderTimeout</c> → <c>header_timeout</c>).</summary>
    private static string Label(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(c) : c.ToString()));
}
