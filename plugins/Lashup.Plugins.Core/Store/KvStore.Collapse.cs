using System.Text;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The pruning owner's side of the store (the protocol is <see cref="KvPruning"/>): the markers it reads and writes,
/// the footprints by which nodes agree that they hold the same of a departed replica, and the collapse of that replica
/// into the owner's own.
/// </summary>
internal sealed partial class KvStore
{
    private const string MetaPruneCandidates = "prune_candidates";

    /// <summary>
    /// The version a collapsed key gives its departed replica (instead of dropping it) until the marker is applied: the
    /// collapse travels as the key's entry, and a replica that merges it before the marker learns from it that the
    /// departed replica's counts now live in the owner's (<see cref="CrdtMap.CleanupCounts"/>), so nothing is counted
    /// twice; and a delta of the departed replica can never be "next" after it.
    /// </summary>
    public const ulong CollapsedVersion = ulong.MaxValue;

    private readonly HashSet<string> _tooLargeLogged = new(StringComparer.Ordinal);

    /// <summary>Every marker in the store, by departed replica.</summary>
    public Dictionary<string, PruneMarker> Markers()
    {
        var markers = new Dictionary<string, PruneMarker>(StringComparer.Ordinal);
        foreach (var (key, entry) in _entries)
        {
            if (PruneMarker.ReplicaOf(key) is { } replica)
            {
                markers[replica] = PruneMarker.Parse(entry.Map);
            }
        }

        return markers;
    }

    /// <summary>Every replica named in a (non-marker) key's version, with the number of keys naming it.</summary>
    public Dictionary<string, int> ReplicasInData()
    {
        var replicas = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (key, entry) in _entries)
        {
            if (!PruneMarker.IsMarker(key))
            {
                foreach (var replica in entry.Version.Entries.Keys)
                {
                    replicas[replica] = replicas.GetValueOrDefault(replica) + 1;
                }
            }
        }

        return replicas;
    }

    /// <summary>An update of a marker (the reserved keys <see cref="UpdateAsync"/> refuses).</summary>
    public KvEntry UpdateMarker(string replica, IReadOnlyList<CrdtOp> ops) => Update(PruneMarker.KeyOf(replica), ops, null);

    /// <summary>
    /// A hash of what this replica holds of <paramref name="replica"/>: for every key naming it, the key, its count of
    /// the replica's updates, and the replica's present dots (with their places) and counter entries. Replicas that
    /// merged the same updates and removes of a departed replica have equal footprints.
    /// </summary>
    public ulong Footprint(string replica)
    {
        lock (_lock)
        {
            var hash = 14695981039346656037UL;
            foreach (var (key, entry) in _entries)
            {
                if (PruneMarker.IsMarker(key) || (entry.Version[replica] == 0 && !entry.Map.Mentions(replica)))
                {
                    continue;
                }

                var sb = new StringBuilder(key.Value).Append('\n').Append(entry.Version[replica]);
                ValueWalk.Footprint(sb, entry.Map, replica);
                hash = Fnv(Encoding.UTF8.GetBytes(sb.Append('\n').ToString()), hash);
            }

            return hash;
        }
    }

    /// <summary>
    /// A hash of which updates of <paramref name="replica"/> this replica holds (for every key naming it, the key and
    /// its count of the replica's updates). A replica whose updates footprint differs from the owner's when it learns
    /// the prune held other updates than the owner (usually more: ones that reached only it), and loses them with the
    /// cleanup: counted (<c>store_prune_mismatches</c>) and logged.
    /// </summary>
    public ulong UpdatesFootprint(string replica)
    {
        lock (_lock)
        {
            var hash = 14695981039346656037UL;
            foreach (var (key, entry) in _entries)
            {
                if (!PruneMarker.IsMarker(key) && entry.Version[replica] != 0)
                {
                    hash = Fnv(Encoding.UTF8.GetBytes($"{key.Value}\n{entry.Version[replica]}\n"), hash);
                }
            }

            return hash;
        }
    }

    /// <summary>
    /// The owner's collapse of <paramref name="removed"/> into this replica: every key naming it becomes
    /// <see cref="CrdtMap.Collapse"/> of its value, with the departed replica at <see cref="CollapsedVersion"/> in its
    /// version and this replica's update counted, as one local update each; with <paramref name="markerOps"/>, the
    /// marker's update (<c>performed</c>, <c>moved</c>, <c>keys</c>, made from the moves and the collapsed entries) too.
    /// All of it is written in one transaction (a crash before the commit performs nothing; after it, everything), then
    /// applied in memory, then broadcast. Not subject to <c>max_value_size</c>: it is the store's own bookkeeping.
    /// </summary>
    /// <returns>The moves (for each key, each departed dot that a fresh dot replaced, with those fresh dots); null when
    /// nothing was done: the marker would be larger than half of <c>max_stream_frame_size</c> (it could not travel;
    /// logged: the replica's entries stay), or this replica turned out to be removed itself.</returns>
    /// <exception cref="KvException">The transaction could not be written; nothing changed.</exception>
    public Dictionary<KvKey, Dictionary<Dot, Dot[]>>? Collapse(
        string removed, Func<Dictionary<KvKey, Dictionary<Dot, Dot[]>>, IReadOnlyList<KvEntry>, IReadOnlyList<CrdtOp>>? markerOps = null)
    {
        lock (_lock)
        {
            var disk = _disk ?? throw new KvException("the store is not open (the node is starting or stopping)");
            if (_departures.Departures.IsDeparted(_replica) || _entries.Values.Any(e => e.Version[_replica] == CollapsedVersion))
            {
                // This replica was removed itself (a collapse of it reached this node first): it starts over, and owns nothing.
                DiscardReplica("a collapse of it by the cluster reached this node");
                return null;
            }

            var moves = new Dictionary<KvKey, Dictionary<Dot, Dot[]>>();
            var changes = new List<(KvEntry Current, KvEntry Updated, CrdtMap Delta)>();
            foreach (var (key, current) in _entries)
            {
                // A key holding a collapse of the replica already (at CollapsedVersion) and nothing of it: nothing to do.
                if (PruneMarker.IsMarker(key) || (current.Version[removed] is 0 or CollapsedVersion && !current.Map.Mentions(removed)))
                {
                    continue;
                }

                var value = current.Map.Collapse(removed, _replica);
                var updated = new KvEntry(key, value, WithCollapsed(current.Version, removed).Increment(_replica));
                var replaced = new Dictionary<Dot, Dot[]>();
                ValueWalk.MapCollapse(current.Map, value, removed, replaced);
                if (replaced.Count > 0)
                {
                    moves[key] = replaced;
                }

                changes.Add((current, updated, value));
            }

            if (markerOps is not null)
            {
                var markerKey = PruneMarker.KeyOf(removed);
                var current = _entries.GetValueOrDefault(markerKey) ?? new KvEntry(markerKey, CrdtMap.Empty, VersionVector.Empty);
                var (value, delta) = current.Map.Apply(markerOps(moves, [.. changes.Select(c => c.Updated)]), _replica, _time.GetUtcNow().ToUnixTimeMilliseconds());
                var size = CrdtCodec.EncodeMap(value).Length;
                if (size > _options.MaxStreamFrameSize / 2)
                {
                    // The marker carries a line per collapsed key and per replaced dot. One this large could not travel
                    // (anti-entropy frames are bounded), and replicas that never learn it would keep the replica forever
                    // while others cleaned it: better not to prune it at all.
                    if (_tooLargeLogged.Add(removed))
                    {
                        LogMarkerTooLarge(removed, size, changes.Count, _options.MaxStreamFrameSize);
                    }

                    return null;
                }

                changes.Add((current, new KvEntry(markerKey, value, current.Version.Increment(_replica)), delta));
            }

            try
            {
                disk.PutAll([.. changes.Select(c => (c.Updated.Key.ToString(), CrdtCodec.EncodeMap(c.Updated.Map), CrdtCodec.EncodeVersion(c.Updated.Version)))], []);
                _diskError = null;
            }
            catch (KvPersistenceException e)
            {
                _diskError = e.Message;
                Stats.WriteFailures++;
                throw new KvException($"the collapse of \"{removed}\" could not be written: {e.Message}; nothing was changed");
            }

            foreach (var (current, updated, _) in changes)
            {
                Publish(current, updated); // the marker last: its RefreshPruned finds every key collapsed already
            }

            // A collapsed key goes out as a whole entry, its departed replica at CollapsedVersion (a delta carries no
            // version: a replica merging it before the marker would count the departed replica's counts twice, in its
            // entry and in the owner's, for good if the marker were lost and the owner crashed); then the marker's
            // delta. Until a collapsed key arrives (here or by anti-entropy), replicas that applied the marker keep the
            // departed replica in that key (CleanMerged): its values read as before, neither doubled nor missing.
            foreach (var (_, updated, delta) in changes)
            {
                var sent = PruneMarker.IsMarker(updated.Key)
                    ? _broadcast.Delta(updated.Key, _replica, updated.Version[_replica], delta)
                    : _broadcast.Entry(updated, _replica);
                if (sent)
                {
                    Stats.DeltasSent++;
                }
            }

            return moves;
        }
    }

    /// <summary>The pruning protocol's persisted candidates (<see cref="KvPruning"/>), or null.</summary>
    public string? GetPruneCandidates()
    {
        lock (_lock)
        {
            return _disk?.GetMeta(MetaPruneCandidates);
        }
    }

    /// <summary>Persists the pruning protocol's candidates.</summary>
    /// <returns>Whether they were written.</returns>
    public bool PutPruneCandidates(string state)
    {
        lock (_lock)
        {
            try
            {
                _disk?.PutMeta(MetaPruneCandidates, state);
                return _disk is not null;
            }
            catch (KvPersistenceException e)
            {
                _diskError = e.Message;
                return false;
            }
        }
    }

    /// <summary>A version with <paramref name="removed"/> at <see cref="CollapsedVersion"/> (the owner's collapse).</summary>
    private static VersionVector WithCollapsed(VersionVector version, string removed) =>
        new(version.Entries.SetItem(removed, CollapsedVersion));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Removed} is not pruned: its marker would be {Size} bytes for {Keys} keys, over half of max_stream_frame_size ({Limit}); its entries stay in those keys")]
    private partial void LogMarkerTooLarge(string removed, int size, int keys, int limit);
}
