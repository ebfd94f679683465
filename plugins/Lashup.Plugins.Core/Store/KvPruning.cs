using Lashup.Abstractions.Cluster;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The departed-replica pruning protocol, run once per anti-entropy tick (leaderless; Akka DistributedData's
/// PruningInitialized → PruningPerformed, adapted). Which replicas are gone for good is not decided here: it is
/// membership's departure record (<see cref="IDepartureRecord"/>), decided once, from the majority side, persisted
/// and gossiped. For each departed replica that the store still names:
/// <list type="number">
/// <item>The owner is the first reachable identity in the replica's owner order (identities ranked by a hash of the
/// departed replica and the identity: every node computes the same order, and it differs from one departed replica to
/// the next, so that a rolling replacement, which takes the oldest nodes first, does not make every prune's owner the
/// next node to go); it must reach a majority of its reference membership. It opens the marker
/// <c>lashup/prune/&lt;replica&gt;</c> with its own acknowledgement.</item>
/// <item>Every node that knows the marker acknowledges it with its <em>footprint</em> of the replica (a hash of the
/// replica's update counts, present dots and counter entries in every key), re-acknowledging whenever it changes, and
/// names as owner the first reachable identity in that order that offered itself.</item>
/// <item>The owner performs once every identity it reaches acknowledged it as owner with the owner's own footprint,
/// and every other identity that offered itself has withdrawn (acknowledged another owner) or departed: a departed
/// node never brings its store back (it discards its replica when it learns it), so a collapse it committed and never
/// spread cannot come back. The owner collapses every key naming the replica into its own replica and writes
/// <c>performed</c>, in one transaction (<see cref="KvStore.Collapse"/>).</item>
/// <item>Every node applies a performed marker of a departed replica (<see cref="KvStore"/>): cleans it out of what it
/// holds and merges.</item>
/// <item>Markers are deleted <c>prune_marker_ttl</c> after they were performed (or opened); the replica is then retired
/// in the departure record, and cleaned out of whatever names it, for good.</item>
/// </list>
/// </summary>
internal sealed class KvPruning(KvStore store, IReplicationNetwork network, IDepartureRecord departures)
{
    // Departed replica → the other identities seen offering themselves as owner of its prune. Persisted: one that
    // performed and crashed before its collapse spread must not be taken over while it may still come back with it (it
    // cannot once it departed, or once it acknowledged another owner).
    private readonly SortedDictionary<string, SortedSet<string>> _candidates = new(StringComparer.Ordinal);
    private int _loadedGeneration = -1;

    /// <summary>One tick: apply what membership's record says, delete expired markers, then open, acknowledge and
    /// perform prunes.</summary>
    public void Tick()
    {
        store.SyncDepartures();
        store.TouchLastActive();
        store.DeleteExpiredMarkers();
        store.RecheckPruned();
        store.RetryCleanup();
        if (store.Generation != _loadedGeneration)
        {
            Load();
        }

        var record = departures.Departures;
        var me = store.ReplicaName;
        var reachable = network.Members.Where(m => m.State == MemberState.Alive).Select(ReplicaOf).Append(me)
            .Where(r => !record.IsDeparted(r)).ToHashSet(StringComparer.Ordinal);
        var replicas = store.ReplicasInData();
        var markers = store.Markers();
        departures.Mention([.. replicas.Keys]);
        Forget(replicas.Keys.Concat(markers.Keys), record);
        foreach (var removed in replicas.Keys.Concat(markers.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList())
        {
            if (!record.IsDeparted(removed) || record.IsRetired(removed) || removed == me || store.Pruned.ContainsKey(removed))
            {
                continue; // live, cleaned out for good, this replica itself (it is discarded instead), or done here
            }

            var owner = reachable.MinBy(r => Rank(removed, r))!;
            var iAmOwner = departures.HasMajority && owner == me;
            markers.TryGetValue(removed, out var marker);
            if (marker is null && !iAmOwner)
            {
                continue;
            }

            var footprint = store.Footprint(removed);

            // The marker's owner: the first identity in the owner order that offered itself and is reachable here.
            var markerOwner = marker?.Acks.Where(a => a.Node == a.Owner && reachable.Contains(a.Node)).Select(a => a.Node).MinBy(r => Rank(removed, r));
            if (iAmOwner && (markerOwner is null || Rank(removed, me).CompareTo(Rank(removed, markerOwner)) < 0))
            {
                markerOwner = me;
            }

            if (markerOwner is null)
            {
                continue;
            }

            if (marker?.Acks.Where(a => a.Node == me).Select(a => a.Text).ToList() is not [var held] || held != PruneAck.Format(me, markerOwner, footprint))
            {
                marker = PruneMarker.Parse(store.UpdateMarker(removed, PruneMarker.AckOps(marker, me, markerOwner, footprint)).Map);
            }

            var earlierMayHavePerformed = CandidateMayHavePerformed(removed, marker, me, record);
            if (iAmOwner && markerOwner == me && marker.PerformedBy is null && !earlierMayHavePerformed
                && reachable.All(n => marker.Acks.Any(a => a.Node == n && a.Owner == me && a.Footprint == footprint)))
            {
                // One transaction: every collapsed key and the marker's performed/moved/keys (a crash before it
                // performs nothing, after it everything); broadcast only after the commit.
                var updates = store.UpdatesFootprint(removed);
                if (store.Collapse(removed, (moves, keys) => PruneMarker.PerformedOps(me, footprint, updates, moves, keys)) is not null)
                {
                    store.Stats.PrunesPerformed++;
                }
            }
        }
    }

    /// <summary>An identity's place in the owner order of <paramref name="removed"/>'s prune (FNV-1a of both; ties, never
    /// seen in practice, broken by the identity).</summary>
    internal static (ulong Hash, string Identity) Rank(string removed, string identity)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in removed)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        hash = (hash ^ '\n') * 1099511628211UL;
        foreach (var c in identity)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return (hash, identity);
    }

    /// <summary>The identity a member's record publishes (the node name for a node of a version before identities).</summary>
    public static string ReplicaOf(Member member) => member.Metadata.GetValueOrDefault(ReplicaId.MetadataKey) ?? member.Name;

    /// <summary>
    /// Records the other identities seen offering themselves as owner of <paramref name="removed"/>'s prune, forgets
    /// those that now name another owner or departed, and tells whether one of the rest may still have performed.
    /// </summary>
    private bool CandidateMayHavePerformed(string removed, PruneMarker marker, string me, DepartureSnapshot record)
    {
        var changed = false;
        if (!_candidates.TryGetValue(removed, out var candidates))
        {
            candidates = new SortedSet<string>(StringComparer.Ordinal);
        }

        foreach (var ack in marker.Acks)
        {
            if (ack.Node == ack.Owner && ack.Node != me)
            {
                changed |= candidates.Add(ack.Node);
            }
        }

        foreach (var candidate in candidates.ToList())
        {
            var offers = marker.Acks.Any(a => a.Node == candidate && a.Owner == candidate);
            if (record.IsDeparted(candidate) || (!offers && marker.Acks.Any(a => a.Node == candidate)))
            {
                // It acknowledged another owner since (it had not performed), or departed (its store, collapse
                // included, is discarded before it could speak again).
                candidates.Remove(candidate);
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

        return candidates.Count > 0;
    }

    /// <summary>Forgets candidates of prunes of replicas nothing names any more, or that are retired.</summary>
    private void Forget(IEnumerable<string> named, DepartureSnapshot record)
    {
        var all = named.ToHashSet(StringComparer.Ordinal);
        var done = _candidates.Keys.Where(r => !all.Contains(r) || record.IsRetired(r)).ToList();
        foreach (var r in done)
        {
            _candidates.Remove(r);
        }

        if (done.Count > 0)
        {
            Save();
        }
    }

    private void Load()
    {
        _loadedGeneration = store.Generation;
        _candidates.Clear();
        foreach (var line in (store.GetPruneCandidates() ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Split(' ') is [var replica, .. var candidates] && candidates.Length > 0)
            {
                _candidates[replica] = new SortedSet<string>(candidates, StringComparer.Ordinal);
            }
        }
    }

    private void Save() =>
        store.PutPruneCandidates(string.Join('\n', _candidates.Select(c => string.Join(' ', c.Value.Prepend(c.Key)))));
}
