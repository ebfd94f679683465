using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

// The global member graph (Lashup's lashup_gm): every node floods its own adjacency (its active view) and metadata,
// versioned by (epoch, counter); every node keeps all records, computes reachability from itself over the directed
// graph, and derives member states. Floods lost on the way are repaired by periodic digest exchange with a neighbour
// and by the exchange two nodes make when a link between them comes up.
internal sealed partial class LashupNode
{
    private readonly Dictionary<string, GraphNode> _graph = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata;

    // The last record of each member expired here, kept for another expire_after: a record that is not newer is
    // refused, so that a neighbour that has not expired the member yet (expiry ticks are not aligned) cannot bring it
    // back through the graph sync, which would restart its expiry clock (and, from there, other nodes') for ever.
    private readonly Dictionary<string, (long Epoch, long Counter, DateTimeOffset At)> _expired = new(StringComparer.Ordinal);
    private long _ownCounter;
    private bool _left;
    private bool _graphDirty;
    private bool _floodPending;
    private int _graphShape;
    private int _visitStamp;

    /// <summary>Raised on the node thread after the member list changed, with the changes in order.</summary>
    public event Action<IReadOnlyList<MembershipChange>>? MembersChanged;

    /// <summary>Every known member as of the last recomputation (node thread only).</summary>
    public IReadOnlyCollection<Member> Members => _members.Values;

    /// <summary>The number of members this node can reach, itself included.</summary>
    public int ReachableCount { get; private set; }

    private sealed class GraphNode(AdjacencyRecord record)
    {
        public AdjacencyRecord Record { get; set; } = record;

        public MemberState State { get; set; } = MemberState.Unreachable;

        public DateTimeOffset Since { get; set; }

        /// <summary>The record changed since the member list was last rebuilt.</summary>
        public bool Changed { get; set; } = true;

        /// <summary>The record's neighbours resolved to graph nodes (unknown names left out), valid for <see cref="ResolvedShape"/>.</summary>
        public GraphNode[] Resolved { get; set; } = [];

        public int ResolvedShape { get; set; } = -1;

        public int Visited { get; set; }
    }

    /// <summary>The neighbours of <paramref name="node"/> as graph nodes; re-resolved when its record or the set of nodes changed.</summary>
    private GraphNode[] Neighbors(GraphNode node)
    {
        if (node.ResolvedShape != _graphShape)
        {
            var resolved = new List<GraphNode>(node.Record.Neighbors.Length);
            foreach (var name in node.Record.Neighbors)
            {
                if (_graph.TryGetValue(name, out var n))
                {
                    resolved.Add(n);
                }
            }

            node.Resolved = [.. resolved];
            node.ResolvedShape = _graphShape;
        }

        return node.Resolved;
    }

    /// <summary>Publishes (or with null removes) a metadata entry about this node.</summary>
    public void SetMetadata(string key, string? value)
    {
        if (value is null ? !_metadata.Remove(key) : _metadata.TryGetValue(key, out var old) && old == value)
        {
            return;
        }

        if (value is not null)
        {
            _metadata[key] = value;
        }

        BumpOwnRecord(flood: true);
    }

    /// <summary>What this node believes about <paramref name="name"/>, or null if it does not know it.</summary>
    public MemberState? StateOf(string name) => _members.TryGetValue(name, out var m) ? m.State : null;

    /// <summary>The member-graph record of <paramref name="name"/>, if known.</summary>
    public AdjacencyRecord? RecordOf(string name) => _graph.TryGetValue(name, out var n) ? n.Record : null;

    private void InitGraph()
    {
        _graph[Self.Name] = new GraphNode(new AdjacencyRecord(Self.Name, Self.Address, Epoch, 0, [], new(_metadata), false))
        {
            State = MemberState.Alive,
            Since = _time.GetUtcNow(),
        };
    }

    private void BumpOwnRecord(bool flood)
    {
        var record = new AdjacencyRecord(
            Self.Name, Self.Address, Epoch, ++_ownCounter, [.. SortedNames(_active.Keys)], new(_metadata, StringComparer.Ordinal), _left);
        var self = _graph[Self.Name];
        self.Record = record;
        self.Changed = true;
        self.ResolvedShape = -1;
        MarkGraphDirty();
        if (flood && _running && !_floodPending)
        {
            // Coalesce: several view changes in a few milliseconds (a join storm) go out as one flood.
            _floodPending = true;
            After(_settings.FloodDelay, () =>
            {
                _floodPending = false;
                var current = _graph[Self.Name].Record;
                foreach (var peer in _active.Values)
                {
                    Send(peer.Ref.Address, new AdjacencyUpdate(current));
                }
            });
        }
    }

    private void OnAdjacencyUpdate(NodeRef from, AdjacencyRecord record)
    {
        Stats.AdjacencyFloodsReceived++;
        if (Store(record))
        {
            Flood(record, except: from.Name);
        }
    }

    /// <summary>Sends <paramref name="record"/> on to every neighbour but <paramref name="except"/> and the record's member.</summary>
    private void Flood(AdjacencyRecord record, string? except)
    {
        foreach (var peer in _active.Values)
        {
            if (peer.Ref.Name != except && peer.Ref.Name != record.Name)
            {
                Send(peer.Ref.Address, new AdjacencyUpdate(record));
            }
        }
    }

    /// <summary>
    /// Keeps <paramref name="record"/> if it is news; returns whether it was. In plaintext, a record of a member we know
    /// that is more than <see cref="NodeSettings.MaxEpochStep"/> epochs ahead of the one we hold, or that names another
    /// address, is not believed as it comes (it may be a forgery relayed in good faith): the member is asked first
    /// (<see cref="CheckEpoch"/>), at the address we know it at, and the newest record that came meanwhile and that its
    /// answer vouches for is kept (<paramref name="confirmed"/>). A restart at the same address bumps the epoch by one,
    /// so that record of a member's next incarnation is believed at once; with a keyring (only key holders make records)
    /// every record is.
    /// </summary>
    private bool Store(AdjacencyRecord record, bool confirmed = false)
    {
        if (record.Name == Self.Name)
        {
            CheckOwnIdentity(record);
            // Never past long.MaxValue: a forged record at the largest epoch must not make us wrap to a negative one.
            if (record.Address == Self.Address && record.IsNewerThan(Epoch, _ownCounter) && record.Epoch < long.MaxValue)
            {
                // Our data directory was lost and an older incarnation's record lives on: move past it.
                var newEpoch = record.Epoch + 1;
                LogEpochAdopted(Self.Name, record.Epoch, newEpoch);
                Epoch = newEpoch;
                _ownCounter = 0;
                BumpOwnRecord(flood: true);
            }

            return false;
        }

        if (_expired.TryGetValue(record.Name, out var gone))
        {
            if (!record.IsNewerThan(gone.Epoch, gone.Counter))
            {
                return false;
            }

            _expired.Remove(record.Name); // it came back (restarted, or its partition healed): a member again
        }

        if (_graph.TryGetValue(record.Name, out var node))
        {
            if (!record.IsNewerThan(node.Record))
            {
                return false;
            }

            if (!confirmed && !_settings.AuthenticatedFrames
                && (record.Epoch - node.Record.Epoch > _settings.MaxEpochStep || record.Address != node.Record.Address))
            {
                if (!AnsweredFor(record))
                {
                    CheckEpoch(record.Name, node.Record.Address, pending: record);
                    return false;
                }

                Stats.EpochsConfirmed++;
            }

            foreach (var dropped in node.Record.Neighbors)
            {
                if (Array.IndexOf(record.Neighbors, dropped) < 0)
                {
                    ProbeSoon(dropped);
                }
            }

            node.Record = record;
            node.Changed = true;
            node.ResolvedShape = -1;
        }
        else
        {
            _graph[record.Name] = new GraphNode(record) { Since = _time.GetUtcNow() };
            _graphShape++;
        }

        // The member's own record at this epoch is believed: its earlier epochs' frames are refused from now on.
        _windows.Confirm(record.Name, record.Epoch);
        _multicastSeen.Confirm(record.Name, record.Epoch);
        MarkGraphDirty();
        return true;
    }

    private void SendDigest(string address, bool wantReply)
    {
        var versions = _graph.Values.Select(n => new GmVersion(n.Record.Name, n.Record.Epoch, n.Record.Counter)).ToArray();
        Reply(address, new GmDigest(versions, wantReply, _departed.Count + _roster.Count, _departuresHash), reliable: true);
    }

    private void GraphSyncTick()
    {
        if (_active.Count > 0)
        {
            SendDigest(Pick(_active.Values.Select(p => p.Ref).ToList()).Address, wantReply: true);
        }
    }

    private void OnGmDigest(NodeRef from, GmDigest digest)
    {
        OnDeparturesDigest(from, digest);
        var theirs = new Dictionary<string, GmVersion>(digest.Versions.Length, StringComparer.Ordinal);
        foreach (var v in digest.Versions)
        {
            theirs[v.Name] = v;
        }

        var newer = _graph.Values
            .Select(n => n.Record)
            .Where(r => !theirs.TryGetValue(r.Name, out var v) || r.IsNewerThan(v.Epoch, v.Counter))
            .ToArray();
        if (newer.Length > 0)
        {
            Reply(from.Address, new GmRecords(newer), reliable: true);
        }

        if (digest.WantReply)
        {
            SendDigest(from.Address, wantReply: false);
        }
    }

    private void OnGmRecords(GmRecords m)
    {
        foreach (var record in m.Records)
        {
            Store(record);
        }
    }

    private void MarkGraphDirty()
    {
        if (_graphDirty)
        {
            return;
        }

        _graphDirty = true;
        if (_running)
        {
            // Coalesce a burst of updates (a digest exchange brings many) into one recomputation.
            After(_settings.GraphRecomputeDelay, RecomputeGraphNow);
        }
    }

    private void RecomputeGraphNow()
    {
        _graphDirty = false;
        _treeChildren.Clear();
        var stamp = ++_visitStamp;
        var start = _graph[Self.Name];
        start.Visited = stamp;
        var queue = new Queue<GraphNode>();
        queue.Enqueue(start);
        var reachableCount = 1;
        while (queue.Count > 0)
        {
            foreach (var neighbor in Neighbors(queue.Dequeue()))
            {
                if (neighbor.Visited != stamp)
                {
                    neighbor.Visited = stamp;
                    reachableCount++;
                    queue.Enqueue(neighbor);
                }
            }
        }

        ReachableCount = reachableCount;
        var now = _time.GetUtcNow();
        List<MembershipChange>? changes = null;
        foreach (var node in _graph.Values)
        {
            var state = node.Record.Left ? MemberState.Left : node.Visited == stamp ? MemberState.Alive : MemberState.Unreachable;
            if (node.Record.Name == Self.Name)
            {
                state = _left ? MemberState.Left : MemberState.Alive;
            }

            if (state != node.State)
            {
                node.State = state;
                node.Since = now;
                node.Changed = true;
                LogMemberState(node.Record.Name, state.ToString());
            }

            if (!node.Changed)
            {
                continue;
            }

            node.Changed = false;
            var existing = _members.GetValueOrDefault(node.Record.Name);
            if (existing is not null && existing.State == node.State && existing.Address.ToString() == node.Record.Address
                && SameMetadata(existing.Metadata, node.Record.Metadata))
            {
                continue;
            }

            var member = new Member(
                node.Record.Name,
                IPEndPoint.Parse(node.Record.Address),
                node.State,
                node.Record.Metadata.ToImmutableDictionary(StringComparer.Ordinal),
                node.Since);
            _members[member.Name] = member;
            (changes ??= []).Add(new MembershipChange(existing is null ? MembershipChangeKind.Joined : MembershipChangeKind.Updated, member));
        }

        ObserveAliveMembers();
        UpdateMajority(now);
        if (changes is not null)
        {
            MembersChanged?.Invoke(changes);
        }
    }

    private static bool SameMetadata(ImmutableDictionary<string, string> a, Dictionary<string, string> b) =>
        a.Count == b.Count && b.All(kv => a.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private void RelinkTick()
    {
        var unreachable = _graph.Values
            .Where(n => n.State == MemberState.Unreachable && !_active.ContainsKey(n.Record.Name))
            .Select(n => new NodeRef(n.Record.Name, n.Record.Address))
            .ToList();
        if (unreachable.Count > 0)
        {
            // A healed partition re-merges through this, without waiting for shuffles to mix the passive views.
            RequestNeighbor(Pick(unreachable), highPriority: true);
            return;
        }

        // Nothing unreachable, but a seed that is no live member here: the other side of a partition that lasted past
        // expire_after (both sides forgot each other, and several nodes on this side keep each other's views non-empty,
        // so nobody rejoins), or a seed that is down. Knock once per tick: a healed partition re-merges through it, and
        // the departure record it brings tells the side that was cut off what the majority decided meanwhile.
        var alive = _graph.Values.Where(n => n.State == MemberState.Alive).Select(n => n.Record.Address).ToHashSet(StringComparer.Ordinal);
        var elsewhere = _seeds.Where(s => !alive.Contains(s)).ToList();
        if (elsewhere.Count > 0 && _active.Count > 0)
        {
            Send(Pick(elsewhere), new Join(Self));
        }
    }

    private void ExpireTick()
    {
        var now = _time.GetUtcNow();
        foreach (var name in _expired.Where(e => now - e.Value.At >= _settings.ExpireAfter).Select(e => e.Key).ToList())
        {
            _expired.Remove(name);
        }

        var expired = _graph.Values
            .Where(n => n.Record.Name != Self.Name && n.State != MemberState.Alive && now - n.Since >= _settings.ExpireAfter)
            .ToList();
        if (expired.Count == 0)
        {
            return;
        }

        var changes = new List<MembershipChange>();
        _graphShape++;
        foreach (var node in expired)
        {
            _expired[node.Record.Name] = (node.Record.Epoch, node.Record.Counter, now);
            _graph.Remove(node.Record.Name);
            _windows.Remove(node.Record.Name);
            _multicastSeen.Remove(node.Record.Name);
            _epochChecks.Remove(node.Record.Name);
            if (_members.Remove(node.Record.Name, out var member))
            {
                changes.Add(new MembershipChange(MembershipChangeKind.Removed, member));
            }
        }

        MarkGraphDirty();
        MembersChanged?.Invoke(changes);
    }
}
