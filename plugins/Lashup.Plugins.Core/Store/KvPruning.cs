using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Crdt;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The removed-replica pruning protocol, run once per anti-entropy tick (leaderless; Akka DistributedData's
/// PruningInitialized → PruningPerformed, adapted). A replica is <em>removed</em> here when its node is no member of
/// the member graph (it left or failed and then expired after <c>expire_after</c>), or when a later incarnation of its
/// node (<c>node~N</c>) has written.
/// <list type="number">
/// <item>The pruning owner of a removed replica is the lowest-named reachable member, if it has run for at least
/// <c>expire_after</c> (so its member view is complete) and reaches more than half of the members it knows. It opens
/// the marker <c>lashup/prune/&lt;replica&gt;</c> with its own acknowledgement.</item>
/// <item>Every node that knows the marker and cannot reach the replica's node acknowledges it with its
/// <em>footprint</em> of the replica (a hash of the replica's update counts, present dots and counter entries in every
/// key), re-acknowledging whenever the footprint changes.</item>
/// <item>The owner performs once every member it sees as reachable (itself included) acknowledged it as owner with its
/// own current footprint: all of them hold exactly what it holds of the replica, so collapsing it loses nothing they
/// hold. It collapses every key naming the replica into its own replica (one local update per key, replicated
/// normally), then writes <c>performed</c> with the time.</item>
/// <item>Every node that knows a performed marker cleans that replica out of every key, once, and out of every delta
/// and entry it merges afterwards; deltas the replica wrote are dropped (<see cref="KvStore"/>).</item>
/// <item>Markers are deleted <c>prune_marker_ttl</c> after they were performed (or opened).</item>
/// </list>
/// A node is pruned only if the owner reached a majority of its reference membership (every member it has seen alive,
/// persisted, shrunk only while it is on the majority side) continuously since it last saw the node alive; the verdicts
/// are persisted. A node cut off for longer than <c>expire_after</c> sees the others expire but stays a minority of its
/// reference membership, so it prunes nobody, restarted or not; and every node refuses a performed marker for a node it
/// reaches. A candidate performs only once every other candidate named in the marker has expired from its member graph
/// (one that performed and crashed comes back with its collapse within that time). Two owners can still both perform
/// with reachability that disagrees, or when a crashed owner returns after <c>expire_after</c>; their collapses would
/// then both count the removed replica's counter totals (README).
/// </summary>
internal sealed class KvPruning
{
    private readonly KvStore store;
    private readonly IReplicationNetwork network;

    // The reference membership of the majority judgement: every member seen alive here, persisted, and shrunk only
    // while this node reaches a majority of it (a member leaves it when it left gracefully or expired from the member
    // graph). A node cut off (or restarted while cut off) keeps judging against the membership it had, so it never
    // becomes "the majority" of itself.
    private readonly SortedSet<string> _reference = new(StringComparer.Ordinal);

    // Node → whether it departed while this node had been continuously in contact with a majority since it last saw it
    // alive. Persisted; a node seen alive again loses its verdict.
    private readonly SortedDictionary<string, bool> _verdicts = new(StringComparer.Ordinal);

    // Node → when this node last saw it alive (this run only: a restart breaks the continuity of contact).
    private readonly Dictionary<string, DateTimeOffset> _lastAlive = new(StringComparer.Ordinal);

    // Removed replica → the other nodes seen offering themselves as owner of its prune, with when first seen doing so
    // (Unix ms). Persisted: a candidate that performed and crashed before its collapse spread must not be taken over
    // while it may still come back with it.
    private readonly SortedDictionary<string, SortedDictionary<string, long>> _candidates = new(StringComparer.Ordinal);

    // Node → when this node last saw it alive (Unix ms). Persisted (at most every tenth of expire_after, and at most
    // every minute), for the candidate rule above; unlike _lastAlive it survives a restart.
    private readonly Dictionary<string, long> _seenAt = new(StringComparer.Ordinal);
    private DateTimeOffset _seenSaved = DateTimeOffset.MinValue;

    // Since when this node has been continuously in contact with a majority of the reference membership (null: not now).
    private DateTimeOffset? _majoritySince;
    private bool _loaded;
    private HashSet<string> _reachableNow = new(StringComparer.Ordinal);
    private Dictionary<string, int> _latest = new(StringComparer.Ordinal);

    public KvPruning(KvStore store, IReplicationNetwork network)
    {
        this.store = store;
        this.network = network;
        store.MayApplyPrune = MayApply;
    }

    /// <summary>
    /// Whether this node applies a performed marker of <paramref name="removed"/>: never for a replica whose node it
    /// reaches now (an old incarnation excepted), nor before it knows the cluster (it has run for expire_after); its
    /// own current replica only if it may have been cut off (it has not reached a majority for the last expire_after).
    /// </summary>
    private bool MayApply(string removed)
    {
        var now = store.Time.GetUtcNow();
        var window = store.Options.ExpireAfter.Value;
        if (string.Equals(removed, store.ReplicaName, StringComparison.Ordinal))
        {
            return _majoritySince is not { } since || now - since < window;
        }

        if (now - store.StartedAt < window || !_loaded)
        {
            return false; // its reachability view is not complete yet
        }

        var node = KvStore.NodeOf(removed);
        return _latest.GetValueOrDefault(node) > KvStore.IncarnationOf(removed) || !_reachableNow.Contains(node);
    }

    private void Load()
    {
        _loaded = true;
        foreach (var line in (store.GetPruneState() ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ');
            if (parts is ["m", var name])
            {
                _reference.Add(name);
            }
            else if (parts is ["v", var node, var verdict])
            {
                _verdicts[node] = verdict == "1";
            }
            else if (parts is ["s", var seen, var seenMs] && long.TryParse(seenMs, System.Globalization.CultureInfo.InvariantCulture, out var seenAt))
            {
                _seenAt[seen] = seenAt;
            }
            else if (parts is ["c", var replica, var candidate, var sinceMs] && long.TryParse(sinceMs, System.Globalization.CultureInfo.InvariantCulture, out var since))
            {
                if (!_candidates.TryGetValue(replica, out var candidates))
                {
                    candidates = new SortedDictionary<string, long>(StringComparer.Ordinal);
                    _candidates[replica] = candidates;
                }

                candidates[candidate] = since;
            }
        }
    }

    private void Save()
    {
        _seenSaved = store.Time.GetUtcNow();
        store.PutPruneState(string.Join('\n', _reference.Select(m => $"m {m}")
            .Concat(_verdicts.Select(v => $"v {v.Key} {(v.Value ? 1 : 0)}"))
            .Concat(_seenAt.Select(s => FormattableString.Invariant($"s {s.Key} {s.Value}")))
            .Concat(_candidates.SelectMany(r => r.Value.Select(c => FormattableString.Invariant($"c {r.Key} {c.Key} {c.Value}"))))));
    }

    /// <returns>Whether this node reaches more than half of its reference membership.</returns>
    private bool RecordDepartures(IReadOnlyCollection<Member> members, HashSet<string> reachable, HashSet<string> names, bool settled)
    {
        if (!_loaded)
        {
            Load();
        }

        var now = store.Time.GetUtcNow();
        var window = store.Options.ExpireAfter.Value;
        var changed = false;
        var nowMs = now.ToUnixTimeMilliseconds();
        foreach (var name in reachable)
        {
            _lastAlive[name] = now;
            _seenAt[name] = nowMs;
            changed |= _reference.Add(name);
            changed |= _verdicts.Remove(name); // it is back: a later departure is judged afresh
        }

        var majority = 2 * _reference.Count(reachable.Contains) > _reference.Count;
        _majoritySince = majority ? _majoritySince ?? now : null;
        if (settled)
        {
            var left = members.Where(m => m.State == MemberState.Left).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var name in _reference.Where(n => !reachable.Contains(n) && (left.Contains(n) || !names.Contains(n))).ToList())
            {
                if (!_verdicts.ContainsKey(name))
                {
                    // Departed (left, or expired from the member graph). It may be pruned from here only if this node
                    // has reached a majority continuously since it last saw it alive (or, seen alive only before this
                    // node's restart, for at least expire_after now).
                    var continuous = _majoritySince is { } since
                                     && (_lastAlive.TryGetValue(name, out var seen) ? since <= seen : now - since >= window);
                    _verdicts[name] = left.Contains(name) || continuous;
                    changed = true;
                }

                if (majority || left.Contains(name))
                {
                    // Shrinks only while this node is on the majority side, except for a member that left gracefully:
                    // it cannot prune, and keeping it would leave the survivors of a quick scale-down a minority for good.
                    changed |= _reference.Remove(name);
                }
            }
        }

        // Last-seen times are saved with any other change, else at most every tenth of expire_after (and every minute).
        var every = TimeSpan.FromTicks(Math.Min(window.Ticks / 10, TimeSpan.FromMinutes(1).Ticks));
        if (changed || now - _seenSaved >= every)
        {
            Save();
        }

        return majority;
    }

    /// <summary>Whether this node may own the prune of <paramref name="node"/>'s replica as a departed node.</summary>
    private bool DepartedFromMajority(string node)
    {
        if (_verdicts.TryGetValue(node, out var verdict))
        {
            return verdict;
        }

        // Never seen alive here (it departed before this node knew it): only after expire_after of continuous majority.
        return !_reference.Contains(node) && !_lastAlive.ContainsKey(node)
               && _majoritySince is { } since && store.Time.GetUtcNow() - since >= store.Options.ExpireAfter.Value;
    }

    /// <summary>
    /// Records the other nodes seen offering themselves as owner of <paramref name="removed"/>'s prune, forgets those
    /// that now name another owner, and tells whether one of the rest may still have performed: it is reachable (and
    /// still offers itself), or was seen alive here less than <c>prune_marker_ttl</c> ago. Persisted, so neither the
    /// marker's expiry nor a restart of this node forgets a candidate.
    /// </summary>
    private bool CandidateMayHavePerformed(string removed, PruneMarker marker, string me, HashSet<string> reachable)
    {
        var now = store.Time.GetUtcNow().ToUnixTimeMilliseconds();
        var changed = false;
        if (!_candidates.TryGetValue(removed, out var candidates))
        {
            candidates = new SortedDictionary<string, long>(StringComparer.Ordinal);
        }

        foreach (var ack in marker.Acks)
        {
            if (ack.Node == ack.Owner && ack.Node != me && !candidates.ContainsKey(ack.Node))
            {
                candidates[ack.Node] = now; // when first seen offering itself: it was alive then
                changed = true;
            }
        }

        foreach (var node in candidates.Keys.ToList())
        {
            var offers = marker.Acks.Any(a => a.Node == node && a.Owner == node);
            if (!offers && marker.Acks.Any(a => a.Node == node))
            {
                candidates.Remove(node); // it acknowledged another owner since: it has not performed
                changed = true;
            }
        }

        if (candidates.Count == 0)
        {
            changed |= _candidates.Remove(removed);
        }
        else if (changed)
        {
            _candidates[removed] = candidates;
        }

        if (changed)
        {
            Save();
        }

        var ttl = (long)store.Options.PruneMarkerTtl.Value.TotalMilliseconds;
        return candidates.Any(c => reachable.Contains(c.Key) || now - Math.Max(c.Value, _seenAt.GetValueOrDefault(c.Key)) < ttl);
    }

    /// <summary>Forgets verdicts of nodes that no data, marker or reference member names any more.</summary>
    private void ForgetVerdicts(IEnumerable<string> replicas)
    {
        var all = replicas.ToHashSet(StringComparer.Ordinal);
        var named = all.Select(KvStore.NodeOf).ToHashSet(StringComparer.Ordinal);
        var stale = _verdicts.Keys.Where(n => !named.Contains(n) && !_reference.Contains(n)).ToList();
        foreach (var n in stale)
        {
            _verdicts.Remove(n);
        }

        // Candidates of a prune that is applied here, or of a replica nothing names any more (its marker and data are
        // gone), are no longer needed.
        var done = _candidates.Keys.Where(r => store.Pruned.ContainsKey(r) || !all.Contains(r)).ToList();
        foreach (var r in done)
        {
            _candidates.Remove(r);
        }

        var candidates = _candidates.Values.SelectMany(c => c.Keys).ToHashSet(StringComparer.Ordinal);
        var unseen = _seenAt.Keys.Where(n => !named.Contains(n) && !_reference.Contains(n) && !candidates.Contains(n)).ToList();
        foreach (var n in unseen)
        {
            _seenAt.Remove(n);
        }

        if (stale.Count > 0 || done.Count > 0 || unseen.Count > 0)
        {
            Save();
        }
    }

    /// <summary>One tick: delete expired markers, then open, acknowledge and perform prunes.</summary>
    public void Tick()
    {
        store.TouchLastActive();
        store.DeleteExpiredMarkers();
        var me = network.LocalName;
        var members = network.Members;
        var names = members.Select(m => m.Name).Append(me).ToHashSet(StringComparer.Ordinal);
        var reachable = members.Where(m => m.State == MemberState.Alive).Select(m => m.Name).Append(me).ToHashSet(StringComparer.Ordinal);
        var owner = reachable.Min(StringComparer.Ordinal)!;
        var settled = store.Time.GetUtcNow() - store.StartedAt >= store.Options.ExpireAfter.Value;
        var majority = RecordDepartures(members, reachable, names, settled);
        _reachableNow = reachable;
        var replicas = store.ReplicasInData();
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var replica in replicas.Keys.Append(store.ReplicaName))
        {
            var node = KvStore.NodeOf(replica);
            latest[node] = Math.Max(latest.GetValueOrDefault(node), KvStore.IncarnationOf(replica));
        }

        _latest = latest;
        store.RecheckPruned();
        store.RetryCleanup();
        var markers = store.Markers();
        ForgetVerdicts(replicas.Keys.Concat(markers.Keys));
        foreach (var removed in replicas.Keys.Concat(markers.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList())
        {
            if (string.Equals(removed, store.ReplicaName, StringComparison.Ordinal) || store.Pruned.ContainsKey(removed))
            {
                continue;
            }

            var node = KvStore.NodeOf(removed);
            var oldIncarnation = latest.GetValueOrDefault(node) > KvStore.IncarnationOf(removed);
            if (!oldIncarnation && reachable.Contains(node))
            {
                continue; // a live replica
            }

            // Removed (as the owner must see it): expired from the member graph, or an old incarnation. Acknowledging
            // only needs the node not to be reachable here: member graphs expire a departed node at different times
            // (and joiners can relearn its record for a while), and waiting for every one of them would hold the prune
            // back for as long as nodes keep joining.
            var removedHere = oldIncarnation || !names.Contains(node);

            // Owner only on the majority side now, and for a replica whose node did not depart while this node was on the
            // minority side (a departure before this node's start is not known: allowed).
            var departedFromMajority = oldIncarnation || DepartedFromMajority(node);
            var iAmOwner = settled && majority && removedHere && departedFromMajority && string.Equals(owner, me, StringComparison.Ordinal);
            markers.TryGetValue(removed, out var marker);
            if (marker is null && !iAmOwner)
            {
                continue;
            }

            var footprint = store.Footprint(removed);

            // The marker's owner: the lowest-named candidate that acknowledged itself and is reachable here.
            var markerOwner = marker?.Acks
                .Where(a => a.Node == a.Owner && reachable.Contains(a.Node))
                .Select(a => a.Node)
                .Min(StringComparer.Ordinal);
            if (iAmOwner && (markerOwner is null || string.CompareOrdinal(me, markerOwner) < 0))
            {
                markerOwner = me;
            }

            if (markerOwner is null)
            {
                continue;
            }

            var want = PruneAck.Format(me, markerOwner, footprint);
            var mine = marker?.Acks.Where(a => a.Node == me).Select(a => a.Text).ToList() ?? [];
            if (mine.Count != 1 || mine[0] != want)
            {
                var ops = new List<CrdtOp>();
                if (marker is null)
                {
                    ops.Add(new LwwSet([MarkerFields.Started], me));
                }

                ops.AddRange(mine.Where(t => t != want).Select(t => new ORSetRemove([MarkerFields.Acks], t)));
                ops.Add(new ORSetAdd([MarkerFields.Acks], want));
                marker = KvStore.ParseMarker(store.UpdateMarker(removed, ops).Map);
            }

            // Another candidate may have performed and crashed before its collapse spread (it is written in one
            // transaction, so it comes back with it). Take over only once every other candidate seen offering itself
            // for this replica withdrew (it names another owner now: alive, and it would not if it had performed) or
            // has not been seen alive here for prune_marker_ttl: a node away for half of that discards its replica
            // when it starts (KvStore.OpenIncarnation), so its collapse cannot come back after this one.
            var earlierMayHavePerformed = CandidateMayHavePerformed(removed, marker!, me, reachable);
            if (iAmOwner && markerOwner == me && marker!.PerformedBy is null && !earlierMayHavePerformed
                && reachable.All(n => marker.Acks.Any(a => a.Node == n && a.Owner == me && a.Footprint == footprint)))
            {
                // One transaction: every collapsed key and the marker's performed/moved (a crash before it performs
                // nothing, after it everything); broadcast only after the commit.
                var updates = store.UpdatesFootprint(removed);
                var performed = store.Collapse(removed, (moves, keys) => [
                    new LwwSet([MarkerFields.Performed], $"{me}|{footprint:x16}|{updates:x16}"),
                    .. MarkerFields.FormatMoves(moves).Select(m => new ORSetAdd([MarkerFields.Moved], m)),
                    .. MarkerFields.FormatKeys(keys).Select(k => new ORSetAdd([MarkerFields.Keys], k)),
                ]);
                if (performed is not null)
                {
                    store.Stats.PrunesPerformed++;
                }
            }
        }
    }
}
