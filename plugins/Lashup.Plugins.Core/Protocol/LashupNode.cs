using System.Collections.Immutable;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// One node of the core protocol: HyParView membership, SWIM-style failure detection on active links, the flooded
/// global member graph (Lashup's lashup_gm) and tree multicast. A single-threaded state machine: every entry point
/// (<see cref="Receive"/>, timers, API calls) runs on the thread of its <see cref="INodeExecutor"/>, time comes from a
/// <see cref="TimeProvider"/> and randomness from a seeded <see cref="Random"/>, so the simulator can run thousands of
/// nodes in virtual time and replay a run from its seed.
/// </summary>
internal sealed partial class LashupNode
{
    private readonly NodeSettings _settings;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly INodeNetwork _network;
    private readonly INodeExecutor _executor;
    private readonly ILogger _logger;
    private readonly SenderWindows _windows;
    private readonly Func<ulong>? _nonces;
    private ulong _seq;
    private long _epoch;
    private int _generation;
    private bool _running;

    public LashupNode(
        NodeRef self,
        long epoch,
        NodeSettings settings,
        IEnumerable<string> seeds,
        IReadOnlyDictionary<string, string> metadata,
        TimeProvider time,
        Random random,
        INodeNetwork network,
        INodeExecutor executor,
        ILogger? logger = null,
        NodeStats? stats = null,
        Func<ulong>? nonces = null,
        IMembershipPersistence? membership = null)
    {
        Self = self;
        Epoch = epoch;
        _settings = settings;
        _time = time;
        _random = random;
        _network = network;
        _executor = executor;
        _logger = logger ?? NullLogger.Instance;
        Stats = stats ?? new NodeStats();
        _nonces = nonces;
        _windows = new SenderWindows(settings.StrangerWindows);
        _multicastSeen = new SenderWindows(settings.StrangerWindows);
        _replyLimiter = new ReplyLimiter(time, settings.ReplyLimits);
        _seeds = [.. seeds.Where(s => s != self.Address).Distinct(StringComparer.Ordinal)];
        _metadata = metadata.ToDictionary(StringComparer.Ordinal);
        _membershipStore = membership;
        InitGraph();
        InitDepartures();
    }

    public NodeRef Self { get; }

    /// <summary>This incarnation's epoch: persisted and bumped on every restart, so our new records win.</summary>
    public long Epoch
    {
        get => Volatile.Read(ref _epoch);
        private set => Volatile.Write(ref _epoch, value);
    }

    public NodeStats Stats { get; }

    public bool IsRunning => _running;

    /// <summary>Set when another node refused our join for a reason retrying cannot fix (e.g. our name is taken).</summary>
    public string? FatalError { get; private set; }

    /// <summary>Names of the active view.</summary>
    public IReadOnlyCollection<string> ActiveView => _active.Keys;

    /// <summary>Names of the passive view.</summary>
    public IEnumerable<string> PassiveView => _passive.Select(p => p.Name);

    public void Start()
    {
        if (_running)
        {
            return;
        }

        _running = true;
        if (_seeds.Count == 0 && _graph.Count == 1)
        {
            _departuresSettled = true; // the first node of a cluster: nobody to compare the departure record with
        }

        BumpOwnRecord(flood: false);
        RecomputeGraphNow();
        Every(Jitter(_settings.JoinRetryInterval), JoinTick, runNow: true);
        ScheduleProbeTick();
        ScheduleShuffle();
        Every(Jitter(_settings.GmSyncInterval), GraphSyncTick);
        Every(Jitter(_settings.GmRefreshInterval), () => BumpOwnRecord(flood: true));
        Every(Jitter(_settings.RelinkInterval), RelinkTick);
        Every(TimeSpan.FromSeconds(60), ExpireTick);
        Every(DepartureTickInterval, DepartureTick);
    }

    /// <summary>
    /// For the simulator, before <see cref="Start"/>: begin as a member of a converged cluster (these views, these
    /// members' records, which must list the same neighbours as the views) instead of joining, so that thousands of
    /// simulated nodes need not bootstrap through the join floods (every link change reaches every node).
    /// </summary>
    internal void Prewire(IEnumerable<NodeRef> active, IEnumerable<NodeRef> passive, IEnumerable<AdjacencyRecord> records)
    {
        if (_running)
        {
            throw new InvalidOperationException("a node is prewired before it starts");
        }

        foreach (var peer in active)
        {
            _active[peer.Name] = new ActivePeer(peer);
        }

        foreach (var peer in passive.Where(p => p.Name != Self.Name && !_active.ContainsKey(p.Name)).Take(_settings.PassiveViewSize))
        {
            _passive.Add(peer);
        }

        foreach (var record in records.Where(r => r.Name != Self.Name))
        {
            Store(record);
        }
    }

    /// <summary>Leaves gracefully: floods a "left" record and disconnects every neighbour, then stops all timers.</summary>
    public void Stop(bool graceful)
    {
        if (!_running)
        {
            return;
        }

        if (graceful)
        {
            _left = true;
            BumpOwnRecord(flood: false);
            var record = _graph[Self.Name].Record;
            foreach (var peer in _active.Values)
            {
                Send(peer.Ref.Address, new AdjacencyUpdate(record), reliable: true);
                Send(peer.Ref.Address, new Disconnect(Leaving: true), reliable: true);
            }
        }

        // Pending one-shot timers may still fire: they find the node stopped (or a newer generation) and do nothing.
        _running = false;
        _generation++;
    }

    /// <summary>Handles one decoded envelope from the network.</summary>
    public void Receive(Envelope envelope)
    {
        if (!_running)
        {
            return;
        }

        if (envelope.From == Self.Name)
        {
            if (envelope.FromAddress != Self.Address)
            {
                // Another live process uses our name; its messages must not be taken for ours.
                Stats.Drop(DropReason.Invalid);
            }

            return;
        }

        // The answer to an epoch check (a probe with an id only its receiver knows) is handled before the replay
        // window: it may be exactly what corrects that window.
        if (envelope.Body is Ack ack)
        {
            OnEpochCheckAnswer(envelope, ack);
        }

        var known = _graph.GetValueOrDefault(envelope.From)?.Record;
        var window = _windows.Get(envelope.From, known?.Epoch);
        Stats.SendersTracked = _windows.Count;
        if (!window.Accept(envelope.Epoch, envelope.Seq))
        {
            Stats.Drop(DropReason.Replayed);
            if (known is not null && envelope.Epoch < window.Epoch)
            {
                // A member's frame from before the epoch we hold for it: in flight since it restarted, or the record
                // we hold is a forgery, or the member lost its data folder. Ask the member (at most once per check
                // period): in plaintext at the address of its record, never at one the frame names (an off-path forger
                // would answer there); with a keyring, where the frame says (a key holder wrote it: a member that lost
                // its data folder and came back at another address is found there).
                CheckEpoch(envelope.From, _settings.AuthenticatedFrames ? envelope.FromAddress : known.Address, pending: null);
            }

            return;
        }

        Stats.MessagesReceived++;
        var from = new NodeRef(envelope.From, envelope.FromAddress);
        switch (envelope.Body)
        {
            case Join m: OnJoin(from, m); break;
            case JoinReply m: OnJoinReply(from, m); break;
            case ForwardJoin m: OnForwardJoin(from, m); break;
            case NeighborRequest m: OnNeighborRequest(from, m); break;
            case NeighborReply m: OnNeighborReply(from, m); break;
            case Disconnect m: OnDisconnect(from, m); break;
            case Shuffle m: OnShuffle(from, m); break;
            case ShuffleReply m: OnShuffleReply(m); break;
            case Ping m: Reply(from.Address, new Ack(m.ProbeId)); break;
            case Ack m: OnAck(from, m); break;
            case PingRequest m: OnPingRequest(from, m); break;
            case IndirectAck m: OnIndirectAck(m); break;
            case AdjacencyUpdate m: OnAdjacencyUpdate(from, m.Record); break;
            case GmDigest m: OnGmDigest(from, m); break;
            case GmRecords m: OnGmRecords(m); break;
            case MulticastData m: OnMulticast(from, m); break;
            case DirectData m: OnDirect(from, m); break;
            case Wire.Departures m: OnDepartures(from, m); break;
            default: Stats.Drop(DropReason.Invalid); break;
        }
    }

    private void Send(string address, Message message, bool reliable = false)
    {
        Stats.MessagesSent++;
        Stats.CountSent(message);
        _network.Send(address, new Envelope(Self.Name, Self.Address, Epoch, Interlocked.Increment(ref _seq), message), reliable);
    }

    /// <summary>
    /// The first frame of every stream connection the transport opens (<see cref="ConnectionHello"/>): this node's own
    /// envelope with the next sequence number. Called on the transport's threads, hence the atomic reads.
    /// </summary>
    public Envelope Hello() => new(Self.Name, Self.Address, Epoch, Interlocked.Increment(ref _seq), ConnectionHello.Message);

    /// <summary>Runs <paramref name="action"/> on the node thread after <paramref name="delay"/> unless stopped; the timer is one-shot.</summary>
    private ITimer After(TimeSpan delay, Action action)
    {
        var generation = _generation;
        ITimer? timer = null;
        timer = _time.CreateTimer(
            _ => _executor.Post(() =>
            {
                timer?.Dispose();
                if (_running && generation == _generation)
                {
                    action();
                }
            }),
            null,
            delay < TimeSpan.Zero ? TimeSpan.Zero : delay,
            Timeout.InfiniteTimeSpan);
        return timer;
    }

    private static void Cancel(ITimer? timer) => timer?.Dispose();

    private void Every(TimeSpan period, Action action, bool runNow = false)
    {
        void Tick()
        {
            action();
            After(Jitter(period), Tick);
        }

        After(runNow ? TimeSpan.Zero : period, Tick);
    }

    /// <summary><paramref name="t"/> plus up to 25% random jitter, so nodes do not act in lock step.</summary>
    private TimeSpan Jitter(TimeSpan t) => t + TimeSpan.FromTicks((long)(t.Ticks * 0.25 * _random.NextDouble()));

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private List<T> Sample<T>(IEnumerable<T> items, int count)
    {
        var list = items.ToList();
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = _random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }

        return list.Count > count ? list.GetRange(0, count) : list;
    }

    private static ImmutableArray<string> SortedNames(IEnumerable<string> names) => [.. names.Order(StringComparer.Ordinal)];

    [LoggerMessage(Level = LogLevel.Information, Message = "Neighbour {Peer} joined the active view ({Count} active)")]
    private partial void LogNeighborUp(NodeRef peer, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Neighbour {Peer} left the active view: {Reason} ({Count} active)")]
    private partial void LogNeighborDown(NodeRef peer, string reason, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Join refused by {Peer}: {Reason}")]
    private partial void LogJoinRefused(NodeRef peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Another node holds a newer record under our name {Name} (epoch {Epoch}); moving to epoch {NewEpoch}")]
    private partial void LogEpochAdopted(string name, long epoch, long newEpoch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Member {Name} is now {State}")]
    private partial void LogMemberState(string name, string state);
}
