using System.Collections.Immutable;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Plugins;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>Stores for unit tests, with a hand-driven departure record and a broadcast that records what it is given.</summary>
internal static class TestStores
{
    /// <summary>A store of <paramref name="node"/> in <paramref name="dir"/> (SQLite unless <paramref name="disk"/>), started.</summary>
    public static async Task<KvStore> OpenAsync(
        string node,
        string dir,
        CoreOptions? options = null,
        TimeProvider? time = null,
        TestDepartures? departures = null,
        IKvBroadcast? broadcast = null,
        Func<IKvPersistence>? disk = null,
        string cluster = "test")
    {
        var store = Create(node, dir, options, time, departures, broadcast, disk, cluster);
        await store.StartAsync(CancellationToken.None);
        return store;
    }

    /// <summary>A store, not started.</summary>
    public static KvStore Create(
        string node,
        string dir,
        CoreOptions? options = null,
        TimeProvider? time = null,
        TestDepartures? departures = null,
        IKvBroadcast? broadcast = null,
        Func<IKvPersistence>? disk = null,
        string cluster = "test") =>
        new(
            Options.Create(options ?? new CoreOptions()),
            new NodeInfo(node, cluster, dir),
            time ?? TimeProvider.System,
            NullLoggerFactory.Instance,
            departures ?? new TestDepartures(),
            broadcast ?? new CapturingBroadcast(),
            disk);
}

/// <summary>A departure record driven by the test: what it says departed, retired, settled; what the store published.</summary>
internal sealed class TestDepartures : IDepartureRecord
{
    private readonly Dictionary<string, Departure> _departed = new(StringComparer.Ordinal);
    private long _version;

    public DepartureSnapshot Departures { get; private set; } = DepartureSnapshot.Empty;

    public bool HasMajority { get; set; } = true;

    public bool Settled { get; set; } = true;

    /// <summary>Every identity the store published, with the one it replaced.</summary>
    public List<(string Replica, string? Previous)> Published { get; } = [];

    public List<string> Retired { get; } = [];

    public IReadOnlyCollection<string> Mentioned { get; private set; } = [];

    public TestDepartures Depart(string replica, bool retired = false, DepartureReason reason = DepartureReason.Unreachable)
    {
        _departed[replica] = new Departure(replica, 0, _departed.TryGetValue(replica, out var earlier) ? earlier.Reason : reason, retired);
        Departures = new DepartureSnapshot(_departed.ToImmutableDictionary(StringComparer.Ordinal), ++_version);
        return this;
    }

    public void PublishReplica(string replica, string? previous)
    {
        Published.Add((replica, previous));
        if (previous is not null && previous != replica)
        {
            // As membership does: the store itself superseded it (not the cluster removing it).
            Depart(previous, reason: DepartureReason.Superseded);
        }
    }

    public void Retire(string replica)
    {
        Retired.Add(replica);
        Depart(replica, retired: true);
    }

    public void Mention(IReadOnlyCollection<string> replicas) => Mentioned = replicas;
}

/// <summary>Records what the store broadcasts.</summary>
internal sealed class CapturingBroadcast : IKvBroadcast
{
    public List<(KvKey Key, string Writer, ulong Counter, CrdtMap Delta)> Deltas { get; } = [];

    public List<(KvEntry Entry, string Sender)> Entries { get; } = [];

    public bool Delta(KvKey key, string writer, ulong counter, CrdtMap delta)
    {
        Deltas.Add((key, writer, counter, delta));
        return true;
    }

    public bool Entry(KvEntry entry, string sender)
    {
        Entries.Add((entry, sender));
        return true;
    }
}
