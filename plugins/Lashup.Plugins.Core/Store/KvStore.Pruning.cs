using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Lashup.Abstractions.Data;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The store's side of removed-replica pruning (the protocol that drives it is <see cref="KvPruning"/>): pruning
/// markers (reserved keys <c>lashup/prune/&lt;replica&gt;</c>, replicated like any key), the owner's collapse of a
/// removed replica into its own, the cleanup every replica applies once it knows a prune was performed (to what it
/// holds, once, and to every delta and entry it merges afterwards), and this node's replica incarnation.
/// </summary>
/// <remarks>
/// A marker is a <see cref="CrdtMap"/> with <c>started</c> (LWW: when the owner opened it), <c>acks</c> (OR-set of
/// <c>node|owner|footprint</c>: each node's acknowledgement that it holds the removed replica's updates with this
/// footprint and takes this owner) and <c>performed</c> (LWW <c>owner|footprint</c>, written by the owner once it
/// collapsed every key). Markers are never pruned themselves; they are deleted <c>prune_marker_ttl</c> after they
/// were performed (or opened, if never performed), on every node by its own clock, and refused when they come back
/// from a peer past that time.
/// </remarks>
internal sealed partial class KvStore
{
    /// <summary>Where pruning markers live: reserved, refused to <see cref="UpdateAsync"/>, hidden from watches and
    /// lists whose prefix is not under it.</summary>
    public static readonly KvKey PrunePrefix = KvKey.Parse("lashup/prune");

    private const char IncarnationSeparator = '~';
    private ImmutableDictionary<string, PruneMarker> _pruned = ImmutableDictionary.Create<string, PruneMarker>(StringComparer.Ordinal);

    // The owner's record of its collapses, kept (in memory) until the marker is deleted: per removed replica and key,
    // each removed dot and the fresh dots that replaced it. A remove that observed the removed dot but reaches the
    // owner only after the collapse (made concurrently with it) would otherwise be undone by the fresh dot (add wins);
    // with this record the owner removes the fresh dot too, as its own update (see LateRemovals).
    private readonly Dictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> _collapses = new(StringComparer.Ordinal);

    /// <summary>The replica name of this node's writes: its node name, or <c>name~N</c> after it learned that an
    /// earlier incarnation was pruned (or came back after more than <c>expire_after</c> away).</summary>
    public string ReplicaName => _replica;

    /// <summary>Replicas whose prune is performed (marker known, not yet deleted), with their markers.</summary>
    public IReadOnlyDictionary<string, PruneMarker> Pruned => _pruned;

    public DateTimeOffset StartedAt => _startedAt;

    /// <summary>This owner's collapse records (removed replica → key → removed dot → fresh dots), for tests and the simulator's ledger.</summary>
    public IReadOnlyDictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> Collapses => _collapses;

    public CoreOptions Options => _options;

    public TimeProvider Time => _time;

    public static bool IsMarker(KvKey key) => key.StartsWith(PrunePrefix);

    public static KvKey MarkerKey(string replica) => PrunePrefix.Child(replica);

    /// <summary>The node a replica name belongs to (<c>node~3</c> → <c>node</c>).</summary>
    public static string NodeOf(string replica)
    {
        var i = replica.IndexOf(IncarnationSeparator, StringComparison.Ordinal);
        return i < 0 ? replica : replica[..i];
    }

    /// <summary>The incarnation of a replica name: 1 for the bare node name, N for <c>node~N</c>.</summary>
    public static int IncarnationOf(string replica)
    {
        var i = replica.IndexOf(IncarnationSeparator, StringComparison.Ordinal);
        return i < 0 ? 1 : int.TryParse(replica.AsSpan(i + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 1;
    }

    /// <summary>The parsed marker of <paramref name="value"/>.</summary>
    public static PruneMarker ParseMarker(CrdtMap value)
    {
        var acks = ImmutableArray.CreateBuilder<PruneAck>();
        foreach (var element in value.GetORSet(MarkerFields.Acks)?.Elements ?? [])
        {
            var parts = element.Split('|');
            if (parts.Length == 3 && ulong.TryParse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hash))
            {
                acks.Add(new PruneAck(parts[0], parts[1], hash, element));
            }
        }

        var started = value.GetLwwRegister(MarkerFields.Started);
        var performed = value.GetLwwRegister(MarkerFields.Performed);
        string? by = null;
        ulong footprint = 0;
        if (performed?.Value?.Split('|') is [var owner, var hex] && ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h))
        {
            by = owner;
            footprint = h;
        }

        return new PruneMarker(acks.ToImmutable(), started?.Timestamp, by, footprint, by is null ? null : performed!.Timestamp);
    }

    /// <summary>Every marker in the store, by removed replica.</summary>
    public Dictionary<string, PruneMarker> Markers()
    {
        var markers = new Dictionary<string, PruneMarker>(StringComparer.Ordinal);
        foreach (var (key, entry) in _entries)
        {
            if (IsMarker(key) && key.Segments.Length == PrunePrefix.Segments.Length + 1)
            {
                markers[key.Segments[^1]] = ParseMarker(entry.Value);
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
            if (!IsMarker(key))
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
    public KvEntry UpdateMarker(string replica, IReadOnlyList<CrdtOp> ops) => Update(MarkerKey(replica), ops, null);

    /// <summary>
    /// A hash of what this replica holds of <paramref name="replica"/>: for every key naming it, the key, its count of
    /// the replica's updates, and the replica's present dots (with their elements or values) and counter entries.
    /// Replicas that merged the same updates and removes of a removed replica have equal footprints.
    /// </summary>
    public ulong Footprint(string replica)
    {
        lock (_lock)
        {
            var hash = 14695981039346656037UL;
            foreach (var (key, entry) in _entries)
            {
                if (IsMarker(key) || (entry.Version[replica] == 0 && !entry.Value.Mentions(replica)))
                {
                    continue;
                }

                var sb = new StringBuilder(key.Value).Append('\n').Append(entry.Version[replica]);
                AppendFootprint(sb, entry.Value.Entries, replica);
                hash = Fnv(Encoding.UTF8.GetBytes(sb.Append('\n').ToString()), hash);
            }

            return hash;
        }
    }

    /// <summary>
    /// The owner's collapse of <paramref name="removed"/> into this replica: every key naming it becomes
    /// <see cref="CrdtMap.Collapse"/> of its value, with the removed replica dropped from its version and this
    /// replica's update counted, as one local update each (persisted, then broadcast like any update; the delta is the
    /// collapsed value). Not subject to <c>max_value_size</c>: it is the store's own bookkeeping.
    /// </summary>
    /// <returns>The number of keys collapsed.</returns>
    public int Collapse(string removed)
    {
        lock (_lock)
        {
            var collapsed = 0;
            foreach (var (key, current) in _entries)
            {
                if (IsMarker(key) || (current.Version[removed] == 0 && !current.Value.Mentions(removed)))
                {
                    continue;
                }

                var value = current.Value.Collapse(removed, _replica);
                var updated = new KvEntry(key, value, current.Version.Without(removed).Increment(_replica));
                var replaced = new Dictionary<Dot, Dot[]>();
                MapCollapse(current.Value.Entries, value.Entries, removed, replaced);
                if (replaced.Count > 0)
                {
                    if (!_collapses.TryGetValue(removed, out var keys))
                    {
                        keys = [];
                        _collapses[removed] = keys;
                    }

                    keys[key] = replaced;
                }

                if (!Persist(current, updated))
                {
                    throw new KvException($"the collapse of \"{removed}\" in \"{key}\" could not be written: {_diskError}");
                }

                collapsed++;
                LocalDelta?.Invoke(key, value, updated.Version[_replica]);
            }

            return collapsed;
        }
    }

    /// <summary>Deletes markers past their dissemination window (performed, or opened and never performed).</summary>
    /// <returns>The replicas whose markers were deleted.</returns>
    public List<string> DeleteExpiredMarkers()
    {
        lock (_lock)
        {
            var deleted = new List<string>();
            foreach (var (key, entry) in _entries)
            {
                if (!IsMarker(key) || !MarkerExpired(entry.Value))
                {
                    continue;
                }

                try
                {
                    _disk?.Delete(key.ToString());
                }
                catch (Microsoft.Data.Sqlite.SqliteException e)
                {
                    _diskError = e.Message;
                    Stats.WriteFailures++;
                    continue;
                }

                _buckets[Bucket(key)] ^= VersionHash(entry);
                _entries = _entries.Remove(key);
                _collapses.Remove(key.Segments[^1]);
                Stats.MarkersDeleted++;
                deleted.Add(key.Segments[^1]);
            }

            if (deleted.Count > 0)
            {
                RefreshPruned();
            }

            return deleted;
        }
    }

    /// <summary>Records that this node is up now (read back at the next start; see <see cref="OpenIncarnation"/>).</summary>
    public void TouchLastActive()
    {
        lock (_lock)
        {
            try
            {
                _disk?.PutMeta(MetaLastActive, _time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                _diskError = e.Message;
            }
        }
    }

    private const string MetaReplica = "replica";
    private const string MetaLastActive = "last_active";

    /// <summary>
    /// Picks the replica name at start: the persisted one (the node name when none). A node that was away for
    /// <c>expire_after</c> or more may have been pruned while away; it moves to its next incarnation before it writes
    /// anything, so none of its new writes go under a name the cluster may drop (its old incarnation is then pruned
    /// like any departed replica).
    /// </summary>
    private void OpenIncarnation(IKvPersistence disk)
    {
        _replica = disk.GetMeta(MetaReplica) ?? _node.Name;
        if (disk.GetMeta(MetaLastActive) is { } text && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            && _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(ms) >= _options.ExpireAfter.Value
            && _entries.Values.Any(e => e.Version[_replica] != 0))
        {
            NextIncarnation("it was away longer than expire_after");
        }
    }

    private void NextIncarnation(string why)
    {
        var next = $"{_node.Name}{IncarnationSeparator}{IncarnationOf(_replica) + 1}";
        _disk?.PutMeta(MetaReplica, next);
        LogIncarnation(_replica, next, why);
        _replica = next;
    }

    /// <summary>
    /// Recomputes the performed prunes from the markers. For each newly performed one: a replica whose footprint of the
    /// removed replica differs from the owner's is counted (it may have held updates the owner had not; they are
    /// dropped with the cleanup), this node moves to its next incarnation if the pruned replica is its own, and every
    /// key is cleaned up once.
    /// </summary>
    private void RefreshPruned()
    {
        var performed = Markers().Where(m => m.Value.PerformedBy is not null).ToImmutableDictionary(StringComparer.Ordinal);
        var added = performed.Keys.Where(r => !_pruned.ContainsKey(r)).ToList();
        _pruned = performed;
        foreach (var removed in added)
        {
            var marker = performed[removed];
            var mine = ReplicasInData().ContainsKey(removed) ? Footprint(removed) : marker.Footprint;
            if (mine != marker.Footprint)
            {
                Stats.PruneMismatches++;
                LogPruneMismatch(removed, marker.PerformedBy!);
            }

            if (string.Equals(removed, _replica, StringComparison.Ordinal))
            {
                NextIncarnation("the cluster pruned its current one");
            }

            foreach (var (key, current) in _entries)
            {
                if (IsMarker(key) || (current.Version[removed] == 0 && !current.Value.Mentions(removed)))
                {
                    continue;
                }

                var cleaned = new KvEntry(key, current.Value.Cleanup(removed), current.Version.Without(removed));
                if (Persist(current, cleaned))
                {
                    Stats.PrunedEntriesCleaned++;
                }
            }

            LogPruned(removed, marker.PerformedBy!);
        }
    }

    /// <summary>An incoming value and version without any replica whose prune is performed.</summary>
    private (CrdtMap Value, VersionVector Version) CleanIncoming(CrdtMap value, VersionVector version)
    {
        if (_pruned.IsEmpty)
        {
            return (value, version);
        }

        foreach (var removed in _pruned.Keys)
        {
            if (version[removed] != 0 || value.Mentions(removed))
            {
                value = value.Cleanup(removed);
                version = version.Without(removed);
                Stats.PrunedEntriesCleaned++;
            }
        }

        return (value, version);
    }

    /// <summary>
    /// The fresh dots of this owner's collapses of <paramref name="key"/> whose removed dot <paramref name="incoming"/>
    /// has seen removed (in its context, held nowhere in it): the sender removed (or overwrote) what the collapse
    /// re-dotted, concurrently with the collapse.
    /// </summary>
    private List<Dot> LateRemovals(KvKey key, CrdtMap incoming)
    {
        var late = new List<Dot>();
        if (_collapses.Count == 0)
        {
            return late;
        }

        HashSet<Dot>? held = null;
        foreach (var (_, keys) in _collapses)
        {
            if (!keys.TryGetValue(key, out var replaced))
            {
                continue;
            }

            foreach (var (dot, fresh) in replaced)
            {
                if (incoming.Context.Contains(dot))
                {
                    held ??= HeldDots(incoming);
                    if (!held.Contains(dot))
                    {
                        late.AddRange(fresh);
                    }
                }
            }
        }

        return late;
    }

    /// <summary>Removes <paramref name="late"/> dots still held in <paramref name="entry"/>, as this replica's update (see <see cref="LateRemovals"/>).</summary>
    private void ApplyLateRemovals(KvEntry entry, List<Dot> late)
    {
        var held = HeldDots(entry.Value);
        var remove = late.Where(held.Contains).ToList();
        if (remove.Count == 0)
        {
            return;
        }

        var delta = new CrdtMap(CausalContext.FromDots(remove), []);
        var updated = new KvEntry(entry.Key, entry.Value.Merge(delta), entry.Version.Increment(_replica));
        if (Persist(entry, updated))
        {
            Stats.LateRemovesApplied++;
            LocalDelta?.Invoke(entry.Key, delta, updated.Version[_replica]);
        }
    }

    private static HashSet<Dot> HeldDots(CrdtMap value)
    {
        var held = new HashSet<Dot>();
        Walk(value.Entries);
        return held;

        void Walk(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries)
        {
            foreach (var (_, entry) in entries)
            {
                held.UnionWith(entry.Presence);
                switch (entry.Value)
                {
                    case ORSet set:
                        foreach (var dots in set.Entries.Values)
                        {
                            held.UnionWith(dots);
                        }

                        break;
                    case MvRegister register:
                        held.UnionWith(register.Entries.Keys);
                        break;
                    case Flag flag:
                        held.UnionWith(flag.Dots);
                        break;
                    case CrdtMap nested:
                        Walk(nested.Entries);
                        break;
                }
            }
        }
    }

    /// <summary>Pairs, place by place (presence, element, register value, flag), the removed replica's dots before a collapse with the fresh dots after it.</summary>
    private static void MapCollapse(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> before, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> after, string removed, Dictionary<Dot, Dot[]> map)
    {
        foreach (var (key, old) in before)
        {
            if (!after.TryGetValue(key, out var now))
            {
                continue;
            }

            Link(old.Presence, now.Presence);
            switch (old.Value, now.Value)
            {
                case (ORSet a, ORSet b):
                    foreach (var (element, dots) in a.Entries)
                    {
                        if (b.Entries.TryGetValue(element, out var fresh))
                        {
                            Link(dots, fresh);
                        }
                    }

                    break;
                case (MvRegister a, MvRegister b):
                    foreach (var group in a.Entries.GroupBy(e => e.Value, StringComparer.Ordinal))
                    {
                        Link(group.Select(e => e.Key), b.Entries.Where(e => e.Value == group.Key).Select(e => e.Key));
                    }

                    break;
                case (Flag a, Flag b):
                    Link(a.Dots, b.Dots);
                    break;
                case (CrdtMap a, CrdtMap b):
                    MapCollapse(a.Entries, b.Entries, removed, map);
                    break;
            }
        }

        void Link(IEnumerable<Dot> oldDots, IEnumerable<Dot> newDots)
        {
            var previous = oldDots.ToHashSet();
            var fresh = newDots.Where(d => !previous.Contains(d)).ToArray();
            if (fresh.Length == 0)
            {
                return;
            }

            foreach (var dot in previous)
            {
                if (string.Equals(dot.Replica, removed, StringComparison.Ordinal))
                {
                    map[dot] = fresh;
                }
            }
        }
    }

    private bool MarkerExpired(CrdtMap value)
    {
        var marker = ParseMarker(value);
        var since = marker.PerformedAt ?? marker.StartedAt;
        return since is { } ms && _time.GetUtcNow().ToUnixTimeMilliseconds() - ms >= (long)_options.PruneMarkerTtl.Value.TotalMilliseconds;
    }

    /// <summary>Appends only what belongs to <paramref name="replica"/> (other replicas' writes must not change its footprint).</summary>
    private static void AppendFootprint(StringBuilder sb, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string replica, string path = "")
    {
        foreach (var (key, entry) in entries)
        {
            var at = $"{path}/{key.Name}:{(int)key.Type}";
            AppendDots(sb, at, entry.Presence, replica);
            switch (entry.Value)
            {
                case ORSet set:
                    foreach (var (element, dots) in set.Entries)
                    {
                        AppendDots(sb, $"{at}/{element}", dots, replica);
                    }

                    break;
                case MvRegister register:
                    foreach (var (dot, v) in register.Entries.Where(e => e.Key.Replica == replica))
                    {
                        sb.Append('\n').Append(at).Append(' ').Append(dot.Counter).Append('=').Append(v);
                    }

                    break;
                case Flag flag:
                    AppendDots(sb, at, flag.Dots, replica);
                    break;
                case GCounter counter when counter.Mentions(replica):
                    sb.Append('\n').Append(at).Append(" +").Append(counter.Counts.GetValueOrDefault(replica));
                    break;
                case PnCounter counter when counter.Mentions(replica):
                    sb.Append('\n').Append(at).Append(" +").Append(counter.Increments.Counts.GetValueOrDefault(replica))
                        .Append(" -").Append(counter.Decrements.Counts.GetValueOrDefault(replica));
                    break;
                case CrdtMap nested:
                    AppendFootprint(sb, nested.Entries, replica, at);
                    break;
            }
        }
    }

    private static void AppendDots(StringBuilder sb, string at, ImmutableSortedSet<Dot> dots, string replica)
    {
        foreach (var dot in dots)
        {
            if (string.Equals(dot.Replica, replica, StringComparison.Ordinal))
            {
                sb.Append('\n').Append(at).Append(' ').Append(dot.Counter);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Removed} was pruned (its updates collapsed into {Owner}'s); cleaned up")]
    private partial void LogPruned(string removed, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Removed} was pruned by {Owner} with a footprint that differs from this node's: updates of {Removed} that only this node held are dropped")]
    private partial void LogPruneMismatch(string removed, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node now writes as {Next} instead of {Previous}: {Why}")]
    private partial void LogIncarnation(string previous, string next, string why);
}

/// <summary>The field names of a pruning marker.</summary>
internal static class MarkerFields
{
    public const string Started = "started";
    public const string Acks = "acks";
    public const string Performed = "performed";
}

/// <summary>One node's acknowledgement in a marker: it holds the removed replica with <paramref name="Footprint"/> and takes <paramref name="Owner"/>.</summary>
internal sealed record PruneAck(string Node, string Owner, ulong Footprint, string Text)
{
    public static string Format(string node, string owner, ulong footprint) =>
        $"{node}|{owner}|{footprint.ToString("x16", CultureInfo.InvariantCulture)}";
}

/// <summary>A parsed pruning marker (times in Unix milliseconds).</summary>
internal sealed record PruneMarker(ImmutableArray<PruneAck> Acks, long? StartedAt, string? PerformedBy, ulong Footprint, long? PerformedAt);
