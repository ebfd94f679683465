using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.Options;

namespace Lashup.Simulator;

/// <summary>
/// A replica's "disk" in the simulator: rows in memory that outlive the store (a crashed node's store is disposed,
/// its rows are not), so a restarted node reloads every acknowledged write, as from SQLite.
/// </summary>
internal sealed class InMemoryKvPersistence(string path) : IKvPersistence
{
    private readonly SortedDictionary<string, (byte[] Value, byte[] Version)> _rows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _meta = new(StringComparer.Ordinal);

    public string Path => path;

    /// <summary>Empties the disk, rows and local settings, as an operator who deletes a node's data folder.</summary>
    public void Wipe()
    {
        _rows.Clear();
        _meta.Clear();
    }

    public int Count => _rows.Count;

    /// <summary>Makes a row's value undecodable, its version still readable (a corrupted page, a bad older build).</summary>
    public void CorruptValue(string key) => _rows[key] = ([0xc1, 0xc1, 0xc1], _rows[key].Version);

    public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll() => [.. _rows.Select(r => (r.Key, r.Value.Value, r.Value.Version))];

    /// <summary>A failure hook: called with each key about to be written; returning true crashes the node there
    /// (<see cref="SimulatedCrashException"/>, caught by the replica, which then takes its node down).</summary>
    public Func<string, bool>? CrashOnPut { get; set; }

    /// <summary>A failure hook: returning true fails the write of that key as a full or failing disk would.</summary>
    public Func<string, bool>? FailPut { get; set; }

    public void Put(string key, byte[] value, byte[] version)
    {
        if (FailPut?.Invoke(key) == true)
        {
            throw new KvPersistenceException($"cannot write \"{key}\" in {path}: simulated disk failure");
        }

        if (CrashOnPut?.Invoke(key) == true)
        {
            throw new SimulatedCrashException(key);
        }

        _rows[key] = (value, version);
    }

    /// <summary>One transaction: the hook runs for every row before any is written, so a crash writes none.</summary>
    public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta)
    {
        foreach (var row in rows)
        {
            if (CrashOnPut?.Invoke(row.Key) == true)
            {
                throw new SimulatedCrashException(row.Key);
            }
        }

        foreach (var row in rows)
        {
            _rows[row.Key] = (row.Value, row.Version);
        }

        foreach (var (name, value) in meta)
        {
            _meta[name] = value;
        }

        if (CrashAfterPutAll?.Invoke() == true)
        {
            throw new SimulatedCrashException("after a committed transaction");
        }
    }

    /// <summary>A failure hook: returning true crashes the node right after a transaction committed (before the
    /// store applies it in memory or broadcasts it).</summary>
    public Func<bool>? CrashAfterPutAll { get; set; }

    public void Delete(string key) => _rows.Remove(key);

    public void Reset(IReadOnlyList<(string Name, string Value)> meta)
    {
        _rows.Clear();
        _meta.Clear();
        foreach (var (name, value) in meta)
        {
            _meta[name] = value;
        }
    }

    public string? GetMeta(string name) => _meta.GetValueOrDefault(name);

    public void PutMeta(string name, string value) => _meta[name] = value;

    public void Dispose()
    {
        // The rows are the disk: they survive the store.
    }
}

/// <summary>A crash injected by <see cref="InMemoryKvPersistence.CrashOnPut"/> while writing <paramref name="key"/>.</summary>
internal sealed class SimulatedCrashException(string key) : Exception($"simulated crash while writing {key}");

/// <summary>
/// One simulated node's replica of the store: the daemon's <see cref="KvStore"/> over <see cref="InMemoryKvPersistence"/>
/// and the daemon's replication protocol (<see cref="KvReplication"/>) over the node's simulated network, with the
/// anti-entropy timer on the node's virtual clock. Messages are handled on the node's executor (one event later), as
/// the daemon's replication worker does.
/// </summary>
internal sealed class SimReplica : IReplicationNetwork
{
    private readonly SimNode _node;
    private readonly TimeSpan _syncInterval;
    private readonly InMemoryKvPersistence _disk;
    private readonly Random _random;
    private readonly CoreOptions _options;
    private ITimer? _timer;

    public SimReplica(SimNode node, TimeSpan syncInterval, int seed, CoreOptions options)
    {
        _options = options;
        _node = node;
        _syncInterval = syncInterval;
        _disk = new InMemoryKvPersistence($"memory:{node.Name}");
        _random = new Random(seed);
    }

    /// <summary>The running store (a new one after each restart).</summary>
    public KvStore Store { get; private set; } = null!;

    public KvReplication Replication { get; private set; } = null!;

    /// <summary>The "disk" (survives crashes; carries the failure hook).</summary>
    public InMemoryKvPersistence Disk => _disk;

    /// <summary>Rows on the "disk".</summary>
    public int PersistedCount => _disk.Count;

    public string LocalName => _node.Name;

    public int MaxPayloadSize => _node.Node!.MaxMulticastPayload;

    /// <summary>Opens the store from the disk and starts replicating (at every node start).</summary>
    internal void Start()
    {
        Store = new KvStore(
            Options.Create(_options), new NodeInfo(_node.Name, "sim", "/nonexistent"), _node.Clock, SimLog.For(_node.Name, _node.Clock),
            departures: _node, broadcast: new KvBroadcast(this), openPersistence: () => _disk, random: _random);
        Store.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        Replication = new KvReplication(Store, this, _node, _random);
        var node = _node.Node!;
        node.Subscribe(KvReplication.DeltaTopic, Enqueue);
        node.Subscribe(KvReplication.SyncTopic, Enqueue);
        _timer = _node.Clock.CreateTimer(_ => _node.Post(SyncRound), null, _syncInterval, _syncInterval);
    }

    /// <summary>Stops with the node: timers end, the store closes, the disk stays.</summary>
    internal void Stop()
    {
        _timer?.Dispose();
        _timer = null;
        Store.Dispose();
    }

    void IReplicationNetwork.Broadcast(string topic, ReadOnlyMemory<byte> payload) => _node.Node!.Broadcast(topic, payload.ToArray());

    void IReplicationNetwork.SendDirect(string node, string topic, byte[] payload) => _node.Node!.SendDirect(node, topic, payload);

    IReadOnlyCollection<Abstractions.Cluster.Member> IReplicationNetwork.Members => [.. _node.Node!.Members];

    ValueTask<IReadOnlyList<string>> IReplicationNetwork.ActiveNeighborsAsync() =>
        ValueTask.FromResult<IReadOnlyList<string>>([.. _node.Node!.ActiveView.Order(StringComparer.Ordinal)]);

    private void Enqueue(MulticastMessage message)
    {
        var (origin, topic, payload) = (message.Origin, message.Topic, message.Payload.ToArray());
        _node.Post(() => Replication.Receive(topic, origin, payload));
    }

    private void SyncRound()
    {
        Task<string?> round;
        try
        {
            round = Replication.SyncRoundAsync();
        }
        catch (SimulatedCrashException)
        {
            _node.Crash();
            return;
        }

        if (round.IsFaulted)
        {
            if (round.Exception!.GetBaseException() is SimulatedCrashException)
            {
                _node.Crash();
                return;
            }

            throw round.Exception!.GetBaseException();
        }
    }
}
