using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Simulator;

/// <summary>Network conditions of a simulation; change them at any time.</summary>
internal sealed class NetworkConditions
{
    /// <summary>Probability that a datagram is lost (TCP messages are not lost, only delayed).</summary>
    public double Loss { get; set; }

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

    public List<SimNode> Nodes { get; } = [];

    public IEnumerable<SimNode> Live => Nodes.Where(n => n.IsUp);

    public long MessagesDelivered { get; private set; }

    public long MessagesLost { get; private set; }

    public long BytesSent { get; private set; }

    /// <summary>Adds and starts a node that joins through <paramref name="seeds"/> (addresses).</summary>
    public SimNode AddNode(IEnumerable<string> seeds, IReadOnlyDictionary<string, string>? metadata = null, string? name = null)
    {
        var index = Nodes.Count;
        var address = $"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}:7470";
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

        if (!_byAddress.TryGetValue(address, out var to) || !from.IsUp
            || (_partition.Count > 0 && _partition.GetValueOrDefault(from.Address) != _partition.GetValueOrDefault(address)))
        {
            MessagesLost++;
            return;
        }

        if (!reliable && Sim.Random.NextDouble() < Network.Loss)
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

/// <summary>One simulated node: a <see cref="LashupNode"/> with its clock, network endpoint and executor.</summary>
internal sealed class SimNode : INodeNetwork, INodeExecutor
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

    public long Epoch => Node?.Epoch ?? 0;

    internal void Start(long epoch)
    {
        Incarnation++;
        IsUp = true;
        Node = new LashupNode(
            new NodeRef(Name, Address), epoch, _cluster.Settings, _seeds, _metadata, Clock, new Random(_seed + Incarnation), this, this);
        Node.Start();
    }

    /// <summary>Kills the node (no goodbye): its timers and in-flight messages to it vanish.</summary>
    public void Crash()
    {
        Node?.Stop(graceful: false);
        IsUp = false;
    }

    /// <summary>Leaves gracefully, then goes down.</summary>
    public void Leave()
    {
        Node?.Stop(graceful: true);
        IsUp = false;
    }

    /// <summary>Restarts a crashed node with the next epoch, as the daemon does from its persisted epoch.</summary>
    public void Restart() => Start(Epoch + 1);

    void INodeNetwork.Send(string address, Envelope envelope, bool reliable) => _cluster.Deliver(this, address, envelope, reliable);

    void INodeExecutor.Post(Action action)
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
