using System.Collections.Immutable;
using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Protocol;

// The departure record: which replica identities left the cluster for good. Grow-only and permanent, persisted, flooded
// to active neighbours when it grows and exchanged whole when two nodes' digests differ (with the member-graph sync).
// The store's pruning consumes it (Store/KvPruning.cs): only a departed identity is pruned, and a departed identity
// never writes again (its deltas and exchanges are refused; a node that learns its own identity departed discards its
// replica and re-syncs under a new one).
//
// An identity departs when
// - its node moved on to a new identity (it discarded its replica, or its store file was created again: a node that
//   finds a record of its own name and address with another identity than its own records that one): only the node
//   itself says so, since identities have no order and epochs restart with a wiped data folder;
// - it was not seen alive for expire_after by a node that reached a majority of its reference membership all that time.
//   The reference: the identities admitted by a node on the majority side (seen alive by it), minus the departed;
//   persisted, and exchanged with the departure record, so a node that joins or comes back judges against the
//   cluster's; members that left gracefully do not count for the majority. A node counts as a majority only once it
//   compared its record with a peer (or has none to compare with), and a node in a minority admits nobody: newcomers it
//   sees wait until it is on the majority side again. So a side that is cut off, or restarted while cut off, for any
//   length of time stays a minority of the reference it had, even if new nodes join it, and decides nothing; a whole
//   cluster that was down decides nothing until a majority is back, and then only about identities missing for
//   expire_after since;
// - it is named in the store's data, its node publishes another identity (or is unknown), and it was not seen alive for
//   expire_after of continuous majority (an incarnation that departed before this node knew the cluster).
// Nodes of a version before identities publish none: they are not judged (their replicas are not pruned until upgraded).
internal sealed partial class LashupNode
{
    private readonly IMembershipPersistence? _membershipStore;
    private readonly Dictionary<string, Departure> _departed = new(StringComparer.Ordinal);

    // The reference membership: identity → when it was last seen alive (persisted).
    private readonly Dictionary<string, RosterEntry> _roster = new(StringComparer.Ordinal);

    // When an identity was last seen alive in this run (a restart breaks the continuity of a majority).
    private readonly Dictionary<string, DateTimeOffset> _aliveThisRun = new(StringComparer.Ordinal);

    // Identities seen alive while this node was in a minority: admitted once it is on the majority side again.
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);

    // Identities seen leaving gracefully in this run (kept after their member expired from the graph, until they depart
    // or come back): they do not count for the majority.
    private readonly HashSet<string> _leftIdentities = new(StringComparer.Ordinal);

    // Identities the store names that the roster does not hold, with when first named (this run).
    private Dictionary<string, DateTimeOffset> _mentioned = new(StringComparer.Ordinal);
    private readonly List<Departure> _departuresToFlood = [];
    private readonly HashSet<string> _departurePeers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _departuresSyncedWith = new(StringComparer.Ordinal);
    private DateTimeOffset? _majoritySince;
    private DateTimeOffset _membershipSavedAt = DateTimeOffset.MinValue;
    private bool _membershipDirty;
    private bool _departureFloodPending;
    private ulong _departuresHash = DepartureSnapshot.Hash([], []);
    private volatile DepartureSnapshot _departureSnapshot = DepartureSnapshot.Empty;
    private volatile bool _hasMajority;
    private volatile bool _departuresSettled;

    /// <summary>The departure record (any thread).</summary>
    public DepartureSnapshot Departures => _departureSnapshot;

    /// <summary>Whether this node reaches a majority of its reference membership (any thread; as of the last tick).</summary>
    public bool HasMajority => _hasMajority;

    /// <summary>
    /// Whether this node has compared its departure record with a peer since it started (so it knows what that peer
    /// knows), or has nobody to compare with (no seeds, no member). Any thread.
    /// </summary>
    public bool DeparturesSettled => _departuresSettled;

    /// <summary>The identity this node publishes (its store's), or null before the store opened.</summary>
    public string? LocalReplica => _metadata.GetValueOrDefault(ReplicaId.MetadataKey);

    /// <summary>Identities in the reference membership (node thread).</summary>
    public IReadOnlyCollection<string> Roster => _roster.Keys;

    /// <summary>
    /// Publishes this node's store identity in its record; <paramref name="previous"/>, if another, departs (its
    /// store was discarded or moved on: nothing will write under it again).
    /// </summary>
    public void SetLocalReplica(string replica, string? previous)
    {
        if (previous is not null && !string.Equals(previous, replica, StringComparison.Ordinal))
        {
            Depart(previous, DepartureReason.Superseded);
        }

        if (LocalReplica == replica)
        {
            return;
        }

        if (_earlierOwnIdentity is { } earlier && earlier != replica)
        {
            Depart(earlier, DepartureReason.Superseded);
        }

        _earlierOwnIdentity = null;
        _metadata[ReplicaId.MetadataKey] = replica;
        BumpOwnRecord(flood: _running);
        ObserveAlive(replica, _time.GetUtcNow());
        SaveMembership(force: true);
    }

    /// <summary>Marks a departed identity retired: its prune was performed and its marker expired.</summary>
    public void Retire(string replica)
    {
        if (_departed.TryGetValue(replica, out var d) && !d.Retired)
        {
            var retired = d with { Retired = true };
            _departed[replica] = retired;
            DeparturesChanged([retired]);
        }
    }

    /// <summary>The identities the store's data names (replacing the previous list): those never seen alive are judged.</summary>
    public void Mention(IReadOnlyCollection<string> replicas)
    {
        var now = _time.GetUtcNow();
        var next = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var replica in replicas)
        {
            if (!_departed.ContainsKey(replica) && !_roster.ContainsKey(replica) && replica != LocalReplica)
            {
                next[replica] = _mentioned.GetValueOrDefault(replica, now);
            }
        }

        _mentioned = next;
    }

    private void InitDepartures()
    {
        if (_membershipStore is null)
        {
            return;
        }

        MembershipState state;
        try
        {
            state = _membershipStore.Load();
        }
        catch (InvalidOperationException e)
        {
            // Relearnt: the record from peers, the reference as members are seen alive (until then this node is a
            // minority of itself plus nobody, and judges nothing by name alone: see DepartureTick).
            LogMembershipUnreadable(e.Message);
            state = MembershipState.Empty;
        }

        foreach (var d in state.Departures)
        {
            _departed[d.Replica] = _departed.TryGetValue(d.Replica, out var held) ? held.Merge(d) : d;
        }

        foreach (var r in state.Roster.Where(r => !_departed.ContainsKey(r.Replica)))
        {
            _roster[r.Replica] = r;
        }

        PublishDepartures();
    }

    /// <summary>
    /// A record of this node's name and address that publishes another identity than this node's: an earlier
    /// incarnation of it, whose store is gone (this node's store was created since, or moved on). It departs.
    /// </summary>
    private void CheckOwnIdentity(AdjacencyRecord record)
    {
        if (record.Address != Self.Address || ReplicaId.PublishedBy(record) is not { } published)
        {
            return;
        }

        if (LocalReplica is not { } mine)
        {
            _earlierOwnIdentity = published; // judged once the store publishes this node's identity
        }
        else if (published != mine)
        {
            Depart(published, DepartureReason.Superseded);
        }
    }

    // An identity a record of this node's name and address published before this node's store opened.
    private string? _earlierOwnIdentity;

    /// <summary>
    /// Records <paramref name="replica"/> seen alive now (its persisted time is refreshed by the tick). A new identity
    /// joins the reference only if this node is on the majority side (or it is this node's own); otherwise it waits.
    /// </summary>
    private void ObserveAlive(string replica, DateTimeOffset now)
    {
        if (_departed.ContainsKey(replica))
        {
            return;
        }

        _aliveThisRun[replica] = now;
        if (_roster.ContainsKey(replica))
        {
            return;
        }

        if (_hasMajority || replica == LocalReplica)
        {
            Admit(replica, now.ToUnixTimeMilliseconds());
        }
        else
        {
            _pending.Add(replica);
        }
    }

    private void Admit(string replica, long seenAt)
    {
        if (_roster.TryAdd(replica, new RosterEntry(replica, seenAt)))
        {
            _pending.Remove(replica);
            _mentioned.Remove(replica);
            _membershipDirty = true;
            _departuresHash = DepartureSnapshot.Hash(_departed.Values, _roster.Keys);
        }
    }

    /// <summary>Every identity alive in the member graph now (node thread), after a recomputation.</summary>
    private void ObserveAliveMembers()
    {
        var now = _time.GetUtcNow();
        foreach (var node in _graph.Values)
        {
            if (node.State == MemberState.Alive && ReplicaId.PublishedBy(node.Record) is { } replica)
            {
                ObserveAlive(replica, now);
            }
        }
    }

    /// <summary>Records a departure decided here; true if it is news.</summary>
    private bool Depart(string replica, DepartureReason reason)
    {
        if (_departed.ContainsKey(replica))
        {
            return false;
        }

        var departure = new Departure(replica, _time.GetUtcNow().ToUnixTimeMilliseconds(), reason, false);
        _departed[replica] = departure;
        LogDeparted(replica, reason.ToString());
        DeparturesChanged([departure]);
        return true;
    }

    /// <summary>After entries were added or changed: roster and mentions updated, snapshot published, flood queued, saved.</summary>
    private void DeparturesChanged(IReadOnlyList<Departure> changed, string? from = null)
    {
        foreach (var d in changed)
        {
            _roster.Remove(d.Replica);
            _pending.Remove(d.Replica);
            _mentioned.Remove(d.Replica);
            _aliveThisRun.Remove(d.Replica);
            _leftIdentities.Remove(d.Replica);
        }

        PublishDepartures();
        SaveMembership(force: true);
        _departuresToFlood.AddRange(changed);
        if (_running && !_departureFloodPending)
        {
            _departureFloodPending = true;
            After(_settings.FloodDelay, () =>
            {
                _departureFloodPending = false;
                var entries = _departuresToFlood.Select(d => _departed[d.Replica].ToWire()).DistinctBy(e => e.Replica).ToArray();
                _departuresToFlood.Clear();
                foreach (var peer in _active.Values.Where(p => p.Ref.Name != from && _departurePeers.Contains(p.Ref.Name)))
                {
                    foreach (var chunk in entries.Chunk(MessageValidator.MaxDepartureEntries))
                    {
                        Send(peer.Ref.Address, new Wire.Departures(chunk, Complete: false), reliable: chunk.Length > 64);
                    }
                }
            });
        }
    }

    private void PublishDepartures()
    {
        _departuresHash = DepartureSnapshot.Hash(_departed.Values, _roster.Keys);
        _departureSnapshot = new DepartureSnapshot(_departed.ToImmutableDictionary(StringComparer.Ordinal), _departureSnapshot.Version + 1);
    }

    /// <summary>Entries of a peer's record: merged; what is news here floods on (a whole record also settles this node).</summary>
    private void OnDepartures(NodeRef from, Wire.Departures m)
    {
        _departurePeers.Add(from.Name);
        var changed = new List<Departure>();
        foreach (var entry in m.Entries)
        {
            var incoming = Departure.FromWire(entry);
            if (_departed.TryGetValue(incoming.Replica, out var held))
            {
                var merged = held.Merge(incoming);
                if (merged != held)
                {
                    _departed[incoming.Replica] = merged;
                    changed.Add(merged);
                }
            }
            else
            {
                _departed[incoming.Replica] = incoming;
                changed.Add(incoming);
                LogLearnedDeparture(incoming.Replica, from.Name);
            }
        }

        if (changed.Count > 0)
        {
            DeparturesChanged(changed, from.Name);
        }

        // The sender's reference membership: identities a node on the majority side admitted (and not departed). Not
        // the sender's own: every node counts itself, whether or not a majority ever admitted it (a node that joins a
        // side that is cut off must not spread itself into that side's reference).
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var replica in m.Roster ?? [])
        {
            if (!_departed.ContainsKey(replica) && ReplicaId.NodeOf(replica) != from.Name)
            {
                Admit(replica, nowMs);
            }
        }

        if (m.Complete)
        {
            SettledWith(from.Name);
        }
    }

    /// <summary>A peer's digest: if its departure record differs, it is sent this node's whole record.</summary>
    private void OnDeparturesDigest(NodeRef from, GmDigest digest)
    {
        if (digest.DeparturesHash == 0)
        {
            return; // a node of a version before the departure record
        }

        _departurePeers.Add(from.Name);
        var count = _departed.Count + _roster.Count;
        if (digest.DeparturesCount == 0 || (digest.DeparturesCount == count && digest.DeparturesHash == _departuresHash))
        {
            SettledWith(from.Name); // it knows nothing this node does not
        }

        if (count > 0 && (digest.DeparturesCount != count || digest.DeparturesHash != _departuresHash))
        {
            var chunks = _departed.Values.Select(d => d.ToWire()).Chunk(MessageValidator.MaxDepartureEntries).ToList();
            if (chunks.Count == 0)
            {
                chunks.Add([]);
            }

            for (var i = 0; i < chunks.Count; i++)
            {
                var last = i == chunks.Count - 1;
                Reply(from.Address, new Wire.Departures(chunks[i], Complete: last, Roster: last ? [.. _roster.Keys] : null), reliable: true);
            }
        }
    }

    private void SettledWith(string peer)
    {
        if (_departuresSyncedWith.Count < 1024)
        {
            _departuresSyncedWith.Add(peer);
        }

        _departuresSettled = true;
    }

    /// <summary>
    /// Which identities of the reference membership are reachable now, and whether this node reaches a majority of it
    /// (and since when). Run after every recomputation of the member graph and on every tick, so that a node that
    /// loses its majority stops acting as one at once.
    /// </summary>
    private (HashSet<string> Reachable, List<string> Reference) UpdateMajority(DateTimeOffset now)
    {
        var reachable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in _graph.Values)
        {
            if (ReplicaId.PublishedBy(node.Record) is not { } replica || _departed.ContainsKey(replica))
            {
                continue;
            }

            if (node.State == MemberState.Alive)
            {
                reachable.Add(replica);
                _leftIdentities.Remove(replica);
            }
            else if (node.State == MemberState.Left)
            {
                _leftIdentities.Add(replica);
            }
        }

        if (LocalReplica is { } self && !_departed.ContainsKey(self))
        {
            reachable.Add(self);
        }

        // Members that left gracefully do not count: they cannot decide anything, and keeping them would leave the
        // survivors of a quick scale-down a minority for good.
        // Only once this node compared its record with a peer (a node that joins, or comes back, learns the cluster's
        // reference first: alone with its own, it would take itself and whoever it sees for the majority).
        var reference = _roster.Keys.Where(r => !_leftIdentities.Contains(r) || reachable.Contains(r)).ToList();
        var majority = _departuresSettled && reference.Count > 0 && 2 * reference.Count(reachable.Contains) > reference.Count;
        _majoritySince = majority ? _majoritySince ?? now : null;
        _hasMajority = majority;
        if (majority && _pending.Count > 0)
        {
            foreach (var replica in _pending.Where(reachable.Contains).ToList())
            {
                Admit(replica, now.ToUnixTimeMilliseconds());
            }
        }

        return (reachable, reference);
    }

    /// <summary>
    /// The periodic judgement: which identities of the reference membership are reachable, whether this node reaches a
    /// majority of it (and since when), and which identities departed.
    /// </summary>
    private void DepartureTick()
    {
        var now = _time.GetUtcNow();
        var expire = _settings.ExpireAfter;
        var self = LocalReplica;
        if (_seeds.Count == 0 && _graph.Count == 1)
        {
            _departuresSettled = true; // nobody to learn from: the first node of a cluster
        }

        var (reachable, reference) = UpdateMajority(now);

        // Seen alive now: the member graph may not have changed for days, and it is the last time an identity was
        // reachable, not the last recomputation, that its departure is measured from.
        var nowMs = now.ToUnixTimeMilliseconds();
        foreach (var replica in reachable)
        {
            ObserveAlive(replica, now);
            if (_roster.ContainsKey(replica))
            {
                _roster[replica] = new RosterEntry(replica, nowMs);
            }
        }

        if (_majoritySince is { } since)
        {
            foreach (var replica in _roster.Keys.Where(r => !reachable.Contains(r) && r != self).ToList())
            {
                var seen = _aliveThisRun.GetValueOrDefault(replica, DateTimeOffset.MinValue);
                if (now - (seen > since ? seen : since) >= expire)
                {
                    Depart(replica, DepartureReason.Unreachable);
                }
            }

            // Names in data are judged only against a reference of more than this node: one that lost its roster (or
            // never had one, as right after an upgrade) and is cut off must not take everyone it reads for departed.
            foreach (var (replica, first) in reference.Count >= 2 ? _mentioned.ToList() : [])
            {
                var node = _graph.GetValueOrDefault(ReplicaId.NodeOf(replica));
                if (node is not null && ReplicaId.PublishedBy(node.Record) is not { } published)
                {
                    continue; // a node of a version before identities: not judged
                }

                if (_roster.ContainsKey(replica) || _departed.ContainsKey(replica) || replica == self)
                {
                    _mentioned.Remove(replica);
                }
                else if (now - (first > since ? first : since) >= expire)
                {
                    Depart(replica, DepartureReason.Unknown);
                }
            }
        }

        SaveMembership(force: false);
    }

    /// <summary>Saves the departure record and the roster: at once on a change, else (last-seen times) at most every
    /// tenth of expire_after and at least every minute.</summary>
    private void SaveMembership(bool force)
    {
        if (_membershipStore is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var every = TimeSpan.FromTicks(Math.Min(_settings.ExpireAfter.Ticks / 10, TimeSpan.FromMinutes(1).Ticks));
        if (!force && !_membershipDirty && now - _membershipSavedAt < every)
        {
            return;
        }

        try
        {
            _membershipStore.Save(new MembershipState([.. _departed.Values], [.. _roster.Values]));
            _membershipSavedAt = now;
            _membershipDirty = false;
        }
        catch (IOException e)
        {
            _membershipDirty = true; // retried at the next tick
            Stats.MembershipSaveFailures++;
            LogMembershipSaveFailed(e.Message);
        }
    }

    private TimeSpan DepartureTickInterval =>
        TimeSpan.FromTicks(Math.Clamp(_settings.ExpireAfter.Ticks / 20, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(1).Ticks));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} departed for good ({Reason}); its entries will be pruned")]
    private partial void LogDeparted(string replica, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Learnt from {Peer} that replica {Replica} departed for good")]
    private partial void LogLearnedDeparture(string replica, string peer);

    [LoggerMessage(Level = LogLevel.Error, Message = "The saved departure record cannot be read ({Reason}); starting without it: it is relearnt from peers")]
    private partial void LogMembershipUnreadable(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot save the departure record: {Reason}; retried")]
    private partial void LogMembershipSaveFailed(string reason);
}
