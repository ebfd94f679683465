using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;

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
/// <item>Every node that knows the marker and also sees the replica as removed acknowledges it with its
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
/// A node is pruned only if it departed while the owner was on the majority side: the owner records, for each member
/// while it is unreachable, whether it could still reach more than half of the members it knew at every tick (a member
/// that left gracefully always counts). A node cut off from most of the cluster for longer than <c>expire_after</c> sees
/// the others expire too; without this record it would prune all of them. Departures seen before this node's start
/// are not recorded (a replica unknown to the owner is pruned if the owner is on the majority side now); an owner also
/// acts only while it reaches more than half of the members it knows.
/// If two nodes both believe they are the owner (views that disagree), every node acknowledges the lowest-named
/// self-acknowledged candidate it can reach, and a candidate performs only with the acknowledgement of every member
/// it reaches naming it. A candidate that crashes is unreachable within seconds, and the next one takes over. Two
/// owners could both perform only if each saw the other unreachable while every member it reached named it: reachability
/// that disagrees (asymmetric loss) at the moment both perform. Their collapses would then both count the removed
/// replica's counter totals; documented as a risk in the README.
/// </summary>
internal sealed class KvPruning(KvStore store, IReplicationNetwork network)
{
    // Node → whether it departed (became unreachable or left) while this node reached a majority of the members.
    private readonly Dictionary<string, bool> _departures = new(StringComparer.Ordinal);

    /// <returns>Whether this node reaches more than half of the members it knows.</returns>
    private bool RecordDepartures(IReadOnlyCollection<Member> members, int reachable, bool settled)
    {
        // Members that left gracefully announced it: they are not a side of a partition.
        var majority = 2 * reachable > members.Count(m => m.Name != network.LocalName && m.State != MemberState.Left) + 1;
        if (!settled)
        {
            return majority; // a node that has just started does not know the cluster yet: its view says nothing
        }

        foreach (var member in members)
        {
            if (member.State == MemberState.Alive)
            {
                _departures.Remove(member.Name); // it is back: a later departure is judged afresh
            }
            else
            {
                // Judged at every tick until it expires: one tick on the minority side (a partition is detected
                // member by member over a few seconds) is enough to refuse it.
                _departures[member.Name] = member.State == MemberState.Left || (_departures.GetValueOrDefault(member.Name, true) && majority);
            }
        }

        if (_departures.Count > 4 * (members.Count + 16))
        {
            // Forget departures of nodes whose replicas are gone from the data (pruned, or never wrote).
            var inData = store.ReplicasInData().Keys.Select(KvStore.NodeOf).ToHashSet(StringComparer.Ordinal);
            foreach (var name in _departures.Keys.Where(n => !inData.Contains(n) && members.All(m => m.Name != n)).ToList())
            {
                _departures.Remove(name);
            }
        }

        return majority;
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
        var majority = RecordDepartures(members, reachable.Count, settled);
        var replicas = store.ReplicasInData();
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var replica in replicas.Keys.Append(store.ReplicaName))
        {
            var node = KvStore.NodeOf(replica);
            latest[node] = Math.Max(latest.GetValueOrDefault(node), KvStore.IncarnationOf(replica));
        }

        var markers = store.Markers();
        foreach (var removed in replicas.Keys.Concat(markers.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList())
        {
            if (string.Equals(removed, store.ReplicaName, StringComparison.Ordinal) || store.Pruned.ContainsKey(removed))
            {
                continue;
            }

            var node = KvStore.NodeOf(removed);
            var isRemoved = !names.Contains(node) || latest.GetValueOrDefault(node) > KvStore.IncarnationOf(removed);
            if (!isRemoved)
            {
                continue;
            }

            // Owner only on the majority side now, and for a replica whose node did not depart while this node was on the
            // minority side (a departure before this node's start is not known: allowed).
            var departedFromMajority = _departures.GetValueOrDefault(node, true) || names.Contains(node);
            var iAmOwner = settled && majority && departedFromMajority && string.Equals(owner, me, StringComparison.Ordinal);
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
                marker = KvStore.ParseMarker(store.UpdateMarker(removed, ops).Value);
            }

            if (iAmOwner && markerOwner == me && marker!.PerformedBy is null
                && reachable.All(n => marker.Acks.Any(a => a.Node == n && a.Owner == me && a.Footprint == footprint)))
            {
                var updates = store.UpdatesFootprint(removed);
                var moves = store.Collapse(removed);
                store.UpdateMarker(removed, [
                    new LwwSet([MarkerFields.Performed], $"{me}|{footprint:x16}|{updates:x16}"),
                    .. MarkerFields.FormatMoves(moves).Select(m => new ORSetAdd([MarkerFields.Moved], m)),
                ]);
                store.Stats.PrunesPerformed++;
            }
        }
    }
}
