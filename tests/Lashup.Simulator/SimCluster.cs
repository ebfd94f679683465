using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Store;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Simulator;

/// <summary>Network conditions of a simulation; change them at any time.</summary>
internal sealed class NetworkConditions
{
    /// <summary>Probability that a datagram is lost.</summary>
    public double Loss { get; set; }

    /// <summary>Probability that a stream (TCP) message is lost, as when its connection breaks (default: never; only delayed).</summary>
    public double StreamLoss { get; set; }

    /// <summary>Probability that a datagram is delivered twice.</summary>
    public double Duplication { get; set; }

    /// <summary>Fixed one-way delay of every message.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Extra random delay in [0, Jitter): reorders messages.</summary>
    public TimeSpan Jitter { get; set; }
}

/// <summary>
/// N protocol nodes over an in-memory network in one <see cref="Simulation"/>: seeded loss, delay, duplication,
/// reordering, partitions, crashes and restarts. Not thread-safe: everything runs on the caller's thread.
/// </summary>
internal sealed class SimCluster
{
    private readonly Dictionary<string, SimNode> _byAddress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _partition = new(StringComparer.Ordinal);
    private readonly FrameCodec? _codec;

    public SimCluster(int seed, NodeSettings? settings = null, bool measureBytes = false)
    {
        Sim = new Simulation(seed);
        Settings = settings ?? new NodeSettings();
        _codec = measureBytes ? new FrameCodec("sim", null, 16 * 1024 * 1024) : null;
    }

    public Simulation Sim { get; }

    public NodeSettings Settings { get; }

    public NetworkConditions Network { get; } = new();

    /// <summary>Whether nodes started from now on run a replica of the store (<see cref="SimNode.Kv"/>).</summary>
    public bool StoreEnabled { get; set; }

    /// <summary>The store's anti-entropy period (<c>kv_sync_interval</c>).</summary>
    public TimeSpan KvSyncInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The store's options (expire_after, prune_marker_ttl, ...); the defaults unless a scenario sets them.</summary>
    public Lashup.Plugins.Core.CoreOptions StoreOptions { get; set; } = new();

    /// <summary>Store payload bytes sent: deltas (once per tree edge) and anti-entropy messages, lost ones included.</summary>
    public long StoreDeltaBytes { get; private set; }

    public long StoreSyncBytes { get; private set; }

    public List<SimNode> Nodes { get; } = [];

    public IEnumerable<SimNode> Live => Nodes.Where(n => n.IsUp);

    /// <summary>Whether every live node's store takes writes (one that was away for expire_after waits to learn
    /// whether it was removed meanwhile).</summary>
    public bool StoresSynced => !StoreEnabled || Live.All(n => n.Kv is null || !n.Kv.Store.AwaitingDepartures);

    public long MessagesDelivered { get; private set; }

    public long MessagesLost { get; private set; }

    public long BytesSent { get; private set; }

    /// <summary>Adds and starts a node that joins through <paramref name="seeds"/> (addresses).</summary>
    public SimNode AddNode(IEnumerable<string> seeds, IReadOnlyDictionary<string, string>? metadata = null, string? name = null)
    {
        var index = Nodes.Count;
        var address = AddressOf(index);
        var node = new SimNode(this, name ?? $"node-{index:D5}", address, [.. seeds], metadata ?? new Dictionary<string, string>(), Sim.Seed * 7919 + index);
        Nodes.Add(node);
        _byAddress[address] = node;
        node.Start(epoch: 1);
        return node;
    }

    /// <summary>Starts <paramref name="count"/> nodes, each joining through one of the first three, spread over <paramref name="over"/>.</summary>
    public void Bootstrap(int count, TimeSpan over)
    {
        var first = AddNode([]);
        for (var i = 1; i < count; i++)
        {
            var seeds = Nodes.Take(Math.Min(3, Nodes.Count)).Select(n => n.Address).ToList();
            Sim.After(TimeSpan.FromTicks(over.Ticks * i / Math.Max(1, count)), () => AddNode(seeds));
        }

        _ = first;
    }

    /// <summary>
    /// Starts <paramref name="count"/> nodes as an already converged cluster (a warm start): symmetric random active
    /// views of <see cref="NodeSettings.ActiveViewSize"/>, full random passive views, and every member's record on every
    /// node, so no join floods. Each node's seeds are the first three nodes (used when it restarts).
    /// </summary>
    public void Prewire(int count)
    {
        var first = Nodes.Count;
        var names = Enumerable.Range(first, count).Select(i => $"node-{i:D5}").ToArray();
        var refs = names.Select((name, i) => new NodeRef(name, AddressOf(first + i))).ToArray();
        var links = Enumerable.Range(0, count).Select(_ => new HashSet<int>()).ToArray();

        // Random pairing of "stubs" (each node's free view slots); a self-link or a repeated pair leaves a slot free.
        var stubs = Enumerable.Range(0, count).SelectMany(i => Enumerable.Repeat(i, Settings.ActiveViewSize)).OrderBy(_ => Sim.Random.Next()).ToList();
        for (var i = 0; i + 1 < stubs.Count; i += 2)
        {
            var (a, b) = (stubs[i], stubs[i + 1]);
            if (a != b && links[a].Add(b))
            {
                links[b].Add(a);
            }
        }

        var records = Enumerable.Range(0, count).Select(i => new AdjacencyRecord(
            names[i], refs[i].Address, 1, 1, [.. links[i].Select(j => names[j]).Order(StringComparer.Ordinal)], new Dictionary<string, string>(), false)).ToArray();
        var seeds = refs.Take(3).Select(r => r.Address).ToList();
        for (var i = 0; i < count; i++)
        {
            var passive = Enumerable.Range(0, Settings.PassiveViewSize + Settings.ActiveViewSize + 1)
                .Select(_ => Sim.Random.Next(count)).Where(j => j != i && !links[i].Contains(j)).Distinct().Select(j => refs[j]).ToList();
            var node = new SimNode(this, names[i], refs[i].Address, seeds, new Dictionary<string, string>(), Sim.Seed * 7919 + first + i);
            Nodes.Add(node);
            _byAddress[node.Address] = node;
            node.Start(epoch: 1, new SimNode.Prewiring([.. links[i].Select(j => refs[j])], passive, records));
        }
    }

    /// <summary>Puts each node in a group; messages between groups are dropped (UDP and TCP).</summary>
    public void Partition(Func<SimNode, int> group)
    {
        _partition.Clear();
        foreach (var n in Nodes)
        {
            _partition[n.Address] = group(n);
        }
    }

    public void Heal() => _partition.Clear();

    /// <summary>Whether every live node sees exactly the live nodes as alive and the others as not alive.</summary>
    public bool Converged()
    {
        var live = Live.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in Live)
        {
            var alive = 0;
            foreach (var m in n.Node!.Members)
            {
                var isAlive = m.State == MemberState.Alive;
                if (isAlive != live.Contains(m.Name))
                {
                    return false;
                }

                alive += isAlive ? 1 : 0;
            }

            if (alive != live.Count)
            {
                return false;
            }
        }

        return true;
    }

    private static string AddressOf(int index) => $"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}:7470";

    /// <summary>Whether every live node can reach every other live node through the member graph it holds.</summary>
    public bool OverlayConnected()
    {
        var live = Live.Count();
        return Live.All(n => n.Node!.ReachableCount == live);
    }

    internal void Deliver(SimNode from, string address, Envelope envelope, bool reliable)
    {
        if (_codec is not null)
        {
            BytesSent += _codec.Encode(envelope).Length;
        }

        switch (envelope.Body)
        {
            case MulticastData { Topic: KvReplication.DeltaTopic } m: StoreDeltaBytes += m.Payload.Length; break;
            case DirectData { Topic: KvReplication.SyncTopic } m: StoreSyncBytes += m.Payload.Length; break;
        }

        if (!_byAddress.TryGetValue(address, out var to) || !from.IsUp
            || (_partition.Count > 0 && _partition.GetValueOrDefault(from.Address) != _partition.GetValueOrDefault(address)))
        {
            MessagesLost++;
            return;
        }

        if (reliable ? Network.StreamLoss > 0 && Sim.Random.NextDouble() < Network.StreamLoss : Sim.Random.NextDouble() < Network.Loss)
        {
            MessagesLost++;
            return;
        }

        var copies = !reliable && Sim.Random.NextDouble() < Network.Duplication ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            var delay = Network.Delay + TimeSpan.FromTicks((long)(Network.Jitter.Ticks * Sim.Random.NextDouble()));
            var incarnation = to.Incarnation;
            Sim.After(delay, () =>
            {
                if (to.IsUp && to.Incarnation == incarnation)
                {
                    MessagesDelivered++;
                    to.Node!.Receive(envelope);
                }
            });
        }
    }
}

/// <summary>
/// One simulated node: a <see cref="LashupNode"/> with its clock, network endpoint and executor, and its "disk" (the
/// store's rows and membership's state), which outlives a crash.
/// </summary>
internal sealed class SimNode : INodeNetwork, INodeExecutor, IDepartureRecord
{
    private readonly SimCluster _cluster;
    private readonly List<string> _seeds;
    private readonly IReadOnlyDictionary<string, string> _metadata;
    private readonly int _seed;

    internal SimNode(SimCluster cluster, string name, string address, List<string> seeds, IReadOnlyDictionary<string, string> metadata, int seed)
    {
        _cluster = cluster;
        Name = name;
        Address = address;
        _seeds = seeds;
        _metadata = metadata;
        _seed = seed;
        Clock = new SimClock(cluster.Sim);
    }

    public string Name { get; }

    public string Address { get; }

    public SimClock Clock { get; }

    public bool IsUp { get; private set; }

    public int Incarnation { get; private set; }

    internal LashupNode? Node { get; private set; }

    /// <summary>This node's replica of the store, when <see cref="SimCluster.StoreEnabled"/> (it keeps its "disk" across restarts).</summary>
    public SimReplica? Kv { get; private set; }

    /// <summary>Membership's state on "disk" (the departure record and the reference membership); survives crashes.</summary>
    public InMemoryMembershipPersistence Membership { get; } = new();

    public long Epoch => Node?.Epoch ?? 0;

    internal void Start(long epoch, Prewiring? prewire = null)
    {
        Incarnation++;
        IsUp = true;
        Node = new LashupNode(
            new NodeRef(Name, Address), epoch, _cluster.Settings, _seeds, _metadata, Clock, new Random(_seed + Incarnation), this, this,
            membership: Membership);
        if (prewire is not null)
        {
            Node.Prewire(prewire.Active, prewire.Passive, prewire.Records);
        }

        Node.Start();
        if (_cluster.StoreEnabled)
        {
            Kv ??= new SimReplica(this, _cluster.KvSyncInterval, _seed ^ 0x5eed, _cluster.StoreOptions);
            Kv.Start();
        }
    }

    /// <summary>Kills the node (no goodbye): its timers and in-flight messages to it vanish.</summary>
    public void Crash()
    {
        Node?.Stop(graceful: false);
        Kv?.Stop();
        IsUp = false;
    }

    /// <summary>Leaves gracefully, then goes down.</summary>
    public void Leave()
    {
        Node?.Stop(graceful: true);
        Kv?.Stop();
        IsUp = false;
    }

    /// <summary>Empties the node's data folder (store rows and settings, membership's state), as an operator who deletes
    /// it; the node must be down.</summary>
    public void WipeDataFolder()
    {
        Kv?.Disk.Wipe();
        Membership.Wipe();
    }

    /// <summary>Restarts a crashed node with the next epoch, as the daemon does from its persisted epoch.</summary>
    public void Restart() => Start(Epoch + 1);

    /// <summary>Restarts a crashed node with these seeds added (the first node has none; a restart after the others
    /// expired it needs somebody to join through).</summary>
    public void Restart(IEnumerable<SimNode> seeds)
    {
        _seeds.AddRange(seeds.Select(s => s.Address).Where(a => !_seeds.Contains(a)));
        Restart();
    }

    void INodeNetwork.Send(string address, Envelope envelope, bool reliable) => _cluster.Deliver(this, address, envelope, reliable);

    DepartureSnapshot IDepartureRecord.Departures => Node?.Departures ?? DepartureSnapshot.Empty;

    bool IDepartureRecord.HasMajority => Node?.HasMajority ?? false;

    bool IDepartureRecord.Settled => Node?.DeparturesSettled ?? false;

    void IDepartureRecord.PublishReplica(string replica, string? previous) => Node?.SetLocalReplica(replica, previous);

    void IDepartureRecord.Retire(string replica) => Node?.Retire(replica);

    void IDepartureRecord.Mention(IReadOnlyCollection<string> replicas) => Node?.Mention(replicas);

    /// <summary>A warm start's views and member records (<see cref="SimCluster.Prewire"/>).</summary>
    internal sealed record Prewiring(List<NodeRef> Active, List<NodeRef> Passive, AdjacencyRecord[] Records);

    void INodeExecutor.Post(Action action) => Post(action);

    /// <summary>Runs <paramref name="action"/> as the node's next event, unless the node goes down first.</summary>
    internal void Post(Action action)
    {
        var incarnation = Incarnation;
        _cluster.Sim.At(_cluster.Sim.Now, () =>
        {
            if (IsUp && Incarnation == incarnation)
            {
                action();
            }
        });
    }
}

/// <summary>Membership's state in memory; like a disk, it outlives the node (and is emptied by a wipe).</summary>
internal sealed class InMemoryMembershipPersistence : IMembershipPersistence
{
    private string? _saved;

    public MembershipState Load() => _saved is null ? MembershipState.Empty : MembershipState.Parse(_saved);

    public void Save(MembershipState state) => _saved = state.ToText();

    public void Wipe() => _saved = null;
}
