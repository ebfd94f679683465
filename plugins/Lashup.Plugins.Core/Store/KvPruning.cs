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
/// A node is pruned only if it departed while the owner was on the majority side: the owner records, for each member
/// it had seen alive, whether during the first 15 s of its absence the owner still reached more than half of the
/// members it had seen alive within <c>expire_after</c> (a member that left gracefully always counts). A node cut off from most of the cluster for longer than <c>expire_after</c> sees
/// the others expire too; without this record it would prune all of them. Departures seen before this node's start
/// are not recorded (a replica unknown to the owner is pruned if the owner is on the majority side now); an owner also
/// acts only while it reaches more than half of the members it saw alive within <c>expire_after</c>.
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
    private static readonly TimeSpan VerdictWindow = TimeSpan.FromSeconds(15);
    private readonly Dictionary<string, bool> _departures = new(StringComparer.Ordinal);

    // Node → when this node last saw it alive (the reference set of the majority judgement).
    private readonly Dictionary<string, DateTimeOffset> _lastAlive = new(StringComparer.Ordinal);

    /// <returns>Whether this node reaches more than half of the members it knows.</returns>
    private bool RecordDepartures(IReadOnlyCollection<Member> members, int reachable, bool settled)
    {
        var now = store.Time.GetUtcNow();
        var window = store.Options.ExpireAfter.Value;
        foreach (var member in members)
        {
            if (member.State == MemberState.Alive)
            {
                _lastAlive[member.Name] = now;
                _departures.Remove(member.Name); // it is back: a later departure is judged afresh
            }
        }

        _lastAlive[network.LocalName] = now;

        // The majority is judged against the members this node saw alive within expire_after (and that did not leave
        // gracefully): records of long-dead nodes that circulate through joiners' member graphs do not count.
        var recent = members.Count(m => m.State != MemberState.Left && m.Name != network.LocalName && now - _lastAlive.GetValueOrDefault(m.Name, DateTimeOffset.MinValue) <= window) + 1;
        var majority = 2 * reachable > recent;
        if (!settled)
        {
            return majority; // a node that has just started does not know the cluster yet: its view says nothing
        }

        foreach (var member in members)
        {
            if (member.State == MemberState.Alive || !_lastAlive.ContainsKey(member.Name))
            {
                continue; // alive, or never seen alive here (nothing to judge)
            }

            // Judged over the first VerdictWindow of its absence here (a partition is detected member by member
            // over a few seconds), then kept: one judgement on the minority side is enough to refuse it.
            if (!_departures.TryGetValue(member.Name, out var verdict) || now - member.Since < VerdictWindow)
            {
                _departures[member.Name] = member.State == MemberState.Left || ((verdict || !_departures.ContainsKey(member.Name)) && majority);
            }
        }

        // Forget nodes that are no members any more and were last alive long ago.
        foreach (var name in _lastAlive.Where(e => now - e.Value > 4 * window && members.All(m => m.Name != e.Key)).Select(e => e.Key).ToList())
        {
            _lastAlive.Remove(name);
            _departures.Remove(name);
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
            var departedFromMajority = oldIncarnation || _departures.GetValueOrDefault(node, true);
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
