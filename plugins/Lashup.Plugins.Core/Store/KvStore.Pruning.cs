using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
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
/// footprint and takes this owner), <c>performed</c> (LWW <c>owner|footprint|updates footprint</c>, written by the
/// owner once it collapsed every key) and <c>moved</c> (OR-set, written with <c>performed</c>: each removed dot the collapse replaced
/// and the fresh dot that replaced it, so that every replica can translate a remove of the one into a remove of the
/// other; see <see cref="TranslateRemoves"/>). Markers are never pruned themselves; they are deleted <c>prune_marker_ttl</c> after they
/// were performed (or opened, if never performed), on every node by its own clock, and refused when they come back
/// from a peer past that time.
/// </remarks>
internal sealed partial class KvStore
{
    /// <summary>Where pruning markers live: reserved, refused to <see cref="UpdateAsync"/>, hidden from watches and
    /// lists whose prefix is not under it.</summary>
    public static readonly KvKey PrunePrefix = KvKey.Parse("lashup/prune");

    private const char IncarnationSeparator = '~';

    /// <summary>
    /// The version a collapsed key gives its removed replica (instead of dropping it) until the marker is applied: the
    /// collapse travels as the key's entry, and a replica that merges it before the marker learns from it that the
    /// removed replica's counts now live in the owner's (<see cref="CrdtMap.CleanupCounts"/>), so nothing is counted
    /// twice; and a delta of the removed replica can never be "next" after it.
    /// </summary>
    public const ulong CollapsedVersion = ulong.MaxValue;
    private ImmutableDictionary<string, PruneMarker> _pruned = ImmutableDictionary.Create<string, PruneMarker>(StringComparer.Ordinal);

    // The moves of every performed prune known here (from the markers' "moved" field): removed replica → key → each
    // removed dot the owner's collapse replaced → the fresh dots that replaced it.
    private ImmutableDictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> _moves =
        ImmutableDictionary.Create<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>>(StringComparer.Ordinal);

    /// <summary>The replica name of this node's writes: its node name, or <c>name~N</c> after it learned that an
    /// earlier incarnation was pruned (or came back after more than <c>expire_after</c> away).</summary>
    public string ReplicaName => _replica;

    /// <summary>Replicas whose prune is performed (marker known, not yet deleted), with their markers.</summary>
    public IReadOnlyDictionary<string, PruneMarker> Pruned => _pruned;

    public DateTimeOffset StartedAt => _startedAt;

    /// <summary>The moves of the performed prunes known here (removed replica → key → removed dot → fresh dots).</summary>
    public IReadOnlyDictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> Moves => _moves;

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
        ulong footprint = 0, updates = 0;
        if (performed?.Value?.Split('|') is [var owner, var hex, var updatesHex]
            && ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h)
            && ulong.TryParse(updatesHex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var u))
        {
            by = owner;
            footprint = h;
            updates = u;
        }

        var moves = new Dictionary<KvKey, Dictionary<Dot, Dot[]>>();
        if (by is not null && value.GetORSet(MarkerFields.Moved) is { } moved)
        {
            foreach (var element in moved.Elements)
            {
                // key \t removed dot's replica \t its counter \t fresh dot's replica \t its counter
                if (element.Split('\t') is [var k, var r, var rc, var f, var fc] && KvKey.TryParse(k, out var key, out _)
                    && ulong.TryParse(rc, NumberStyles.None, CultureInfo.InvariantCulture, out var removedCounter) && removedCounter > 0
                    && ulong.TryParse(fc, NumberStyles.None, CultureInfo.InvariantCulture, out var freshCounter) && freshCounter > 0
                    && r.Length > 0 && f.Length > 0)
                {
                    if (!moves.TryGetValue(key, out var perKey))
                    {
                        perKey = [];
                        moves[key] = perKey;
                    }

                    var dot = new Dot(r, removedCounter);
                    perKey[dot] = [.. perKey.GetValueOrDefault(dot) ?? [], new Dot(f, freshCounter)];
                }
            }
        }

        var keys = new Dictionary<KvKey, bool>();
        if (by is not null && value.GetORSet(MarkerFields.Keys) is { } collapsed)
        {
            foreach (var element in collapsed.Elements)
            {
                if (KvKey.TryParse(element, out var key, out _))
                {
                    keys[key] = true;
                }
            }
        }

        return new PruneMarker(acks.ToImmutable(), started?.Timestamp, by, footprint, updates, by is null ? null : performed!.Timestamp, moves, keys);
    }

    /// <summary>Every marker in the store, by removed replica.</summary>
    public Dictionary<string, PruneMarker> Markers()
    {
        var markers = new Dictionary<string, PruneMarker>(StringComparer.Ordinal);
        foreach (var (key, entry) in _entries)
        {
            if (IsMarker(key) && key.Segments.Length == PrunePrefix.Segments.Length + 1)
            {
                markers[key.Segments[^1]] = ParseMarker(entry.Map);
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
                if (IsMarker(key) || (entry.Version[replica] == 0 && !entry.Map.Mentions(replica)))
                {
                    continue;
                }

                var sb = new StringBuilder(key.Value).Append('\n').Append(entry.Version[replica]);
                AppendFootprint(sb, entry.Map.Entries, replica);
                hash = Fnv(Encoding.UTF8.GetBytes(sb.Append('\n').ToString()), hash);
            }

            return hash;
        }
    }

    /// <summary>
    /// A hash of which updates of <paramref name="replica"/> this replica holds (for every key naming it, the key and
    /// its count of the replica's updates). A replica whose updates footprint differs from the owner's when it learns
    /// the prune held other updates than the owner (usually more: its own writes while it was cut off), and loses them
    /// with the cleanup: counted (<c>store_prune_mismatches</c>) and logged.
    /// </summary>
    public ulong UpdatesFootprint(string replica)
    {
        lock (_lock)
        {
            var hash = 14695981039346656037UL;
            foreach (var (key, entry) in _entries)
            {
                if (!IsMarker(key) && entry.Version[replica] != 0)
                {
                    hash = Fnv(Encoding.UTF8.GetBytes($"{key.Value}\n{entry.Version[replica]}\n"), hash);
                }
            }

            return hash;
        }
    }

    /// <summary>
    /// The owner's collapse of <paramref name="removed"/> into this replica: every key naming it becomes
    /// <see cref="CrdtMap.Collapse"/> of its value, with the removed replica dropped from its version and this
    /// replica's update counted, as one local update each; with <paramref name="markerOps"/>, the marker's update
    /// (<c>performed</c> and <c>moved</c>, made from the moves) too. All of it is written in one transaction (a crash
    /// before the commit performs nothing; after it, everything), then applied in memory, then broadcast (the deltas
    /// are the collapsed values). Not subject to <c>max_value_size</c>: it is the store's own bookkeeping.
    /// </summary>
    /// <returns>The moves: for each key, each removed dot that a fresh dot replaced, with those fresh dots; null when
    /// the marker would be larger than half of <c>max_stream_frame_size</c> (it could not travel; nothing changed,
    /// logged: the replica's entries stay).</returns>
    /// <exception cref="KvException">The transaction could not be written; nothing changed.</exception>
    public Dictionary<KvKey, Dictionary<Dot, Dot[]>>? Collapse(
        string removed, Func<Dictionary<KvKey, Dictionary<Dot, Dot[]>>, IReadOnlyList<KvEntry>, IReadOnlyList<CrdtOp>>? markerOps = null)
    {
        lock (_lock)
        {
            var disk = _disk ?? throw new KvException("the store is not open (the node is starting or stopping)");
            if (_entries.Values.Any(e => e.Version[_replica] == CollapsedVersion))
            {
                // A collapse of this node's current replica reached it: it writes as the next one (as Update does).
                NextIncarnation("the cluster collapsed its current one");
            }

            var moves = new Dictionary<KvKey, Dictionary<Dot, Dot[]>>();
            var changes = new List<(KvEntry Current, KvEntry Updated, CrdtMap Delta)>();
            foreach (var (key, current) in _entries)
            {
                // A key holding a collapse of the replica already (at CollapsedVersion) and nothing of it: nothing to do.
                if (IsMarker(key) || (current.Version[removed] is 0 or CollapsedVersion && !current.Map.Mentions(removed)))
                {
                    continue;
                }

                var value = current.Map.Collapse(removed, _replica);
                var updated = new KvEntry(key, value, WithCollapsed(current.Version, removed).Increment(_replica));
                var replaced = new Dictionary<Dot, Dot[]>();
                MapCollapse(current.Map.Entries, value.Entries, removed, replaced);
                if (replaced.Count > 0)
                {
                    moves[key] = replaced;
                }

                changes.Add((current, updated, value));
            }

            if (markerOps is not null)
            {
                var markerKey = MarkerKey(removed);
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
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                _diskError = e.Message;
                Stats.WriteFailures++;
                throw new KvException($"the collapse of \"{removed}\" could not be written: {e.Message}; nothing was changed");
            }

            foreach (var (current, updated, _) in changes)
            {
                Publish(current, updated); // the marker last: its RefreshPruned finds every key collapsed already
            }

            // A collapsed key goes out as a whole entry, its removed replica at CollapsedVersion (a delta carries no
            // version: a replica merging it before the marker would count the removed replica's counts twice, in its
            // entry and in the owner's, for good if the marker were lost and the owner crashed); then the marker's
            // delta. Until a collapsed key arrives (here or by anti-entropy), replicas that applied the marker keep the
            // removed replica in that key (CleanMerged): its values read as before, neither doubled nor missing.
            foreach (var (_, updated, delta) in changes)
            {
                if (IsMarker(updated.Key))
                {
                    LocalDelta?.Invoke(updated.Key, delta, updated.Version[_replica]);
                }
                else
                {
                    LocalEntry?.Invoke(updated);
                }
            }

            return moves;
        }
    }

    /// <summary>Broadcasts a whole entry (a collapsed key, <see cref="Collapse"/>); the replication sets it.</summary>
    public Action<KvEntry>? LocalEntry { get; set; }

    /// <summary>Deletes markers past their dissemination window (performed, or opened and never performed).</summary>
    /// <returns>The replicas whose markers were deleted.</returns>
    public List<string> DeleteExpiredMarkers()
    {
        lock (_lock)
        {
            var deleted = new List<string>();
            var moves = new Dictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>>(StringComparer.Ordinal);
            foreach (var (key, entry) in _entries)
            {
                if (!IsMarker(key) || !MarkerExpired(entry.Map))
                {
                    continue;
                }

                moves[key.Segments[^1]] = ParseMarker(entry.Map).Moves;

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
                Stats.MarkersDeleted++;
                deleted.Add(key.Segments[^1]);
            }

            if (deleted.Count > 0)
            {
                RefreshPruned();
                StripCollapsed(deleted, moves);
            }

            return deleted;
        }
    }

    /// <summary>
    /// Drops the <see cref="CollapsedVersion"/> entries of replicas whose markers were deleted, with whatever of the
    /// replica such a key still holds (a node that never applied the marker, e.g. one that joined during it, kept its
    /// dots: the collapse is in the value, so they are garbage, and would bring removed elements back where the context
    /// forgot them). By then the collapse reached every replica that anti-entropy reaches (a node away longer discards
    /// its replica); one that comes back from a peer whose clock is slower is refused while the replica is retired.
    /// A key naming the replica without the collapse (it never arrived) keeps it, and the replica is pruned again.
    /// </summary>
    private void StripCollapsed(List<string> replicas, Dictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> moves)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var ttl = (long)_options.PruneMarkerTtl.Value.TotalMilliseconds;
        var retired = Retired();
        foreach (var gone in retired.Where(r => now - r.Value >= ttl).Select(r => r.Key).ToList())
        {
            retired.Remove(gone);
        }

        foreach (var replica in replicas)
        {
            retired[replica] = now;
        }

        SaveRetired();
        foreach (var (key, current) in _entries)
        {
            var (value, version) = (current.Map, current.Version);
            foreach (var replica in replicas)
            {
                if (version[replica] == CollapsedVersion)
                {
                    value = TranslateRemoves(key, value, replica, moves.GetValueOrDefault(replica)).Cleanup(replica);
                    version = version.Without(replica);
                }
            }

            if (!ReferenceEquals(version, current.Version))
            {
                Persist(current, new KvEntry(key, value, version));
            }
        }
    }

    /// <summary>
    /// Records that this node is up now (read back at the next start; see <see cref="OpenIncarnation"/>), at most every
    /// tenth of <c>expire_after</c> and at least every minute: the check it serves compares with <c>expire_after</c>.
    /// </summary>
    public void TouchLastActive()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var every = TimeSpan.FromTicks(Math.Min(_options.ExpireAfter.Value.Ticks / 10, TimeSpan.FromMinutes(1).Ticks));
            if (now - _lastTouched < every)
            {
                return;
            }

            _lastTouched = now;
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

    private DateTimeOffset _lastTouched = DateTimeOffset.MinValue;

    private const string MetaReplica = "replica";
    private const string MetaPruneApplied = "prune_applied";

    // "1" while the replica is fresh (KvStore.Fresh), so that a restart before its first exchange keeps it fresh.
    private const string MetaFresh = "fresh";
    private const string MetaPruneRetired = "prune_retired";

    // Replicas whose markers were deleted here (Unix ms of the deletion), kept prune_marker_ttl more and persisted: a
    // peer whose clock is slower still sends them at CollapsedVersion for a while, and a version entry cannot be removed
    // by merging, only refused by every replica until none holds it.
    private Dictionary<string, long>? _retired;

    private Dictionary<string, long> Retired()
    {
        if (_retired is null)
        {
            _retired = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in (_disk?.GetMeta(MetaPruneRetired) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (line.Split(' ') is [var replica, var ms] && long.TryParse(ms, NumberStyles.Integer, CultureInfo.InvariantCulture, out var at))
                {
                    _retired[replica] = at;
                }
            }
        }

        return _retired;
    }

    private void SaveRetired()
    {
        try
        {
            _disk?.PutMeta(MetaPruneRetired, string.Join('\n', Retired().Select(r => FormattableString.Invariant($"{r.Key} {r.Value}"))));
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            _diskError = e.Message;
        }
    }
    private const string MetaPruneState = "prune_state";
    private HashSet<string>? _appliedAtStart;

    /// <summary>Whether this node may apply a performed marker for a replica (set by <see cref="KvPruning"/>; until
    /// then only the markers applied before a restart are applied).</summary>
    public Func<string, bool>? MayApplyPrune { get; set; }

    /// <summary>Applies performed markers that became acceptable since they arrived (e.g. the node is no longer reachable).</summary>
    public void RecheckPruned()
    {
        lock (_lock)
        {
            if (Markers().Any(m => m.Value.PerformedBy is not null && !_pruned.ContainsKey(m.Key)))
            {
                RefreshPruned();
            }
        }
    }

    /// <summary>The pruning protocol's persisted state (<see cref="KvPruning"/>), or null.</summary>
    public string? GetPruneState()
    {
        lock (_lock)
        {
            return _disk?.GetMeta(MetaPruneState);
        }
    }

    /// <summary>Persists the pruning protocol's state.</summary>
    /// <returns>Whether it was written.</returns>
    public bool PutPruneState(string state)
    {
        lock (_lock)
        {
            try
            {
                _disk?.PutMeta(MetaPruneState, state);
                return _disk is not null;
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                _diskError = e.Message;
                return false;
            }
        }
    }
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

    /// <summary>
    /// Refuses to open a replica that was away for half of <c>prune_marker_ttl</c> or more (by its last-active stamp)
    /// when the rest of its reference membership (<see cref="KvPruning"/>) is a majority of it, i.e. could have pruned
    /// without it: the cluster may have pruned replicas it holds and deleted their markers since, so its entries could
    /// bring back what was collapsed (counted twice) or removed; and a prune it performed and could not spread before it
    /// went down may have been performed again by another owner, who waits <c>prune_marker_ttl</c> after last seeing it.
    /// Deciding needs the operator: if the other nodes kept running, move the store away (the node re-syncs as a new
    /// replica, <see cref="Fresh"/>); if the whole cluster was down, start once with <c>core.accept_stale_store</c>.
    /// A node of one or two (nobody else could reach a majority) opens as usual. Akka asks the same of durable data:
    /// never restart a node with it after more than its pruning markers' time to live.
    /// </summary>
    /// <exception cref="InvalidOperationException">The replica is stale; the message says what to do.</exception>
    private void RefuseIfStale(IKvPersistence disk)
    {
        if (_options.AcceptStaleStore
            || disk.GetMeta(MetaLastActive) is not { } text
            || !long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
        {
            return;
        }

        var away = _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(ms);
        var limit = _options.PruneMarkerTtl.Value / 2;
        var reference = (disk.GetMeta(MetaPruneState) ?? "").Split('\n').Count(l => l.StartsWith("m ", StringComparison.Ordinal));
        if (away < limit || 2 * (reference - 1) <= reference || !disk.ReadAll().Any())
        {
            return;
        }

        Stats.StaleRefusals++;
        throw new InvalidOperationException(
            $"{disk.Path} was last active {Format(away)} ago, at least half of core.prune_marker_ttl ({Format(limit)}), in a cluster of " +
            $"{reference} that could prune without this node: its entries could bring back what the cluster pruned since. If the other " +
            "nodes kept running, move the store away and start again (this node then re-syncs from its peers as a new replica); if " +
            "the whole cluster was down, start once with core.accept_stale_store = true (and remove it after)");

        static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{t.TotalHours:0.#} h" : $"{t.TotalMinutes:0.#} min";
    }

    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Whether this replica is new (its store file held nothing when it started) and has not compared with a peer yet.
    /// It may be a node whose data folder was emptied: its peers then hold updates it made under its name in an
    /// earlier life, and its update counters, starting at 1 again, would name updates they have already seen (they
    /// would drop its writes). So a fresh replica holds local writes until one anti-entropy exchange with a peer (or
    /// three <c>kv_sync_interval</c>s, or at once when it has no peer), then takes the incarnation after any of its
    /// name's that the cluster holds (<see cref="EndFresh"/>).
    /// </summary>
    public bool Fresh { get; private set; }

    private bool _freshFile;

    /// <summary>Called by the replication when it starts: a new store file holds local writes until it has synced
    /// (<see cref="Fresh"/>). A store without replication has nobody to learn from, and never holds them.</summary>
    public void HoldWritesUntilSynced()
    {
        lock (_lock)
        {
            Fresh = _freshFile && !_synced.Task.IsCompleted;
            if (Fresh)
            {
                try
                {
                    _disk?.PutMeta(MetaFresh, "1");
                }
                catch (Microsoft.Data.Sqlite.SqliteException e)
                {
                    _diskError = e.Message;
                }
            }
        }
    }

    /// <summary>Ends the fresh state (an exchange with a peer completed, it has none, or the wait ran out): picks the
    /// next incarnation after any of this node's that the store now names, and releases held writes.</summary>
    public void EndFresh(string why)
    {
        lock (_lock)
        {
            if (!Fresh)
            {
                return;
            }

            Fresh = false;
            _freshFile = false;

            // Entries refused from peers count too (KvStore.Quarantine.cs): one may hold updates of an earlier life of
            // this node; when one's version could not be read either, this node moves past its current incarnation.
            var quarantined = QuarantinedReplicas();
            var earlier = ReplicasInData().Keys.Concat(Markers().Keys).Concat(quarantined ?? [])
                .Where(r => string.Equals(NodeOf(r), _node.Name, StringComparison.Ordinal))
                .Select(IncarnationOf)
                .DefaultIfEmpty(0)
                .Max();
            if (quarantined is null)
            {
                earlier = Math.Max(earlier, IncarnationOf(_replica));
            }

            _forgottenReplicas.Clear();
            _quarantinedUnknown = false;
            if (earlier >= IncarnationOf(_replica))
            {
                var next = $"{_node.Name}{IncarnationSeparator}{earlier + 1}";
                LogIncarnation(_replica, next, $"its store is new and the cluster holds updates of an earlier life (incarnation {earlier})");
                _replica = next;
            }

            try
            {
                _disk?.PutMeta(MetaReplica, _replica);
                _disk?.PutMeta(MetaFresh, "");
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                _diskError = e.Message;
            }

            LogFreshEnded(_replica, why);
        }

        _synced.TrySetResult();
    }

    private async ValueTask<KvEntry> UpdateWhenSyncedAsync(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion, CancellationToken cancellationToken)
    {
        var wait = TimeSpan.FromTicks(Math.Max(3 * _options.KvSyncInterval.Value.Ticks, TimeSpan.FromSeconds(10).Ticks));
        using (var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var delay = Task.Delay(wait, _time, timer.Token);
            var first = await Task.WhenAny(_synced.Task, delay).ConfigureAwait(false);
            await timer.CancelAsync().ConfigureAwait(false); // no timer left behind once synced
            if (first != _synced.Task)
            {
                cancellationToken.ThrowIfCancellationRequested();
                EndFresh($"no exchange with a peer within {wait.TotalSeconds:0.#} s");
            }
        }

        return Update(key, ops, expectedVersion);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The new replica writes as {Replica}: {Why}")]
    private partial void LogFreshEnded(string replica, string why);

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
        // A performed marker is applied once this node accepts it (KvPruning's MayApplyPrune: never for a replica whose
        // node it can reach now), and stays applied across restarts (the applied set is kept in the meta table).
        Retired();
        _appliedAtStart ??= (_disk?.GetMeta(MetaPruneApplied) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        var performed = Markers()
            .Where(m => m.Value.PerformedBy is not null
                        && (_pruned.ContainsKey(m.Key) || _appliedAtStart.Contains(m.Key) || m.Value.PerformedBy == _node.Name
                            || (MayApplyPrune?.Invoke(m.Key) ?? false)))
            .ToImmutableDictionary(StringComparer.Ordinal);
        var added = performed.Keys.Where(r => !_pruned.ContainsKey(r)).ToList();
        if (added.Any(r => _retired?.Remove(r) == true))
        {
            SaveRetired();
        }
        var changedSet = added.Count > 0 || performed.Count != _pruned.Count;
        _pruned = performed;
        if (changedSet)
        {
            try
            {
                _disk?.PutMeta(MetaPruneApplied, string.Join('\n', performed.Keys.Order(StringComparer.Ordinal)));
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                _diskError = e.Message;
            }
        }

        if (added.Count > 0 || _moves.Count != performed.Count)
        {
            _moves = performed.ToImmutableDictionary(p => p.Key, p => p.Value.Moves, StringComparer.Ordinal);
        }

        foreach (var removed in added)
        {
            var marker = performed[removed];
            // Not judged where a collapsed key arrived before the marker (its count of the replica's updates is gone).
            var mine = ReplicasInData().ContainsKey(removed) && !_entries.Values.Any(e => e.Version[removed] == CollapsedVersion)
                ? UpdatesFootprint(removed) : marker.UpdatesFootprint;
            if (mine != marker.UpdatesFootprint)
            {
                Stats.PruneMismatches++;
                LogPruneMismatch(removed, marker.PerformedBy!);
            }

            if (string.Equals(removed, _replica, StringComparison.Ordinal))
            {
                NextIncarnation("the cluster pruned its current one");
            }

            CleanAll(removed);
            LogPruned(removed, marker.PerformedBy!);
        }
    }

    // Pruned replicas whose cleanup of some key could not be written: retried on every tick (RetryCleanup).
    private readonly HashSet<string> _cleanupPending = new(StringComparer.Ordinal);

    /// <summary>Cleans <paramref name="removed"/> out of every key that names it; a key whose cleanup cannot be
    /// written leaves the replica pending, retried by <see cref="RetryCleanup"/>.</summary>
    private void CleanAll(string removed)
    {
        var failed = false;
        foreach (var (key, current) in _entries)
        {
            if (IsMarker(key) || (current.Version[removed] == 0 && !current.Map.Mentions(removed)))
            {
                continue;
            }

            // A key the owner collapsed whose collapse has not arrived keeps the replica until it does (CleanMerged).
            var (value, version) = CleanMerged(key, current.Map, current.Version);
            if (value.Equals(current.Value) && version.Equals(current.Version))
            {
                continue;
            }

            if (!Persist(current, new KvEntry(key, value, version)))
            {
                failed = true;
            }
        }

        if (failed)
        {
            _cleanupPending.Add(removed);
        }
        else
        {
            _cleanupPending.Remove(removed);
        }
    }

    /// <summary>Retries the cleanups that could not be written (run on every tick).</summary>
    public void RetryCleanup()
    {
        lock (_lock)
        {
            foreach (var removed in _cleanupPending.ToList())
            {
                if (_pruned.ContainsKey(removed))
                {
                    CleanAll(removed);
                }
                else
                {
                    _cleanupPending.Remove(removed);
                }
            }
        }
    }

    /// <summary>
    /// The cleanup of a merged (or held) entry. A key holding a removed replica at <see cref="CollapsedVersion"/> holds
    /// the owner's collapse of it: the replica's counts there are the owner's now and go at once
    /// (<see cref="CrdtMap.CleanupCounts"/>), and once this node applied the prune everything of the replica goes
    /// (moved dots' removes translated first). The version keeps the replica at <see cref="CollapsedVersion"/> for as
    /// long as the marker lives, as the evidence that the collapse is in the value, whatever happens to the owner's own
    /// entries since (its replica may be pruned in turn). A key the marker lists whose collapse has not arrived keeps
    /// the replica, and reads as before, until it does; a key the marker does not list (the owner held nothing of the
    /// replica there) is cleaned at once. Cleanup commutes with merge, so cleaning the merged state equals merging
    /// cleaned states.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The merged (or held) value.</param>
    /// <param name="version">Its version.</param>
    /// <param name="incoming">What was merged into the held value, if anything: only it is walked for the replicas it
    /// names (a held value names no replica its version does not, once cleaned), so a merge costs the delta's size.</param>
    private (CrdtMap Value, VersionVector Version) CleanMerged(KvKey key, CrdtMap value, VersionVector version, CrdtMap? incoming = null)
    {
        // The fast path of every merge while nothing is pruned: one pass over the version (its struct enumerator; the
        // Values view would allocate one per merge).
        var collapsed = false;
        foreach (var (_, counter) in version.Entries)
        {
            collapsed |= counter == CollapsedVersion;
        }

        if ((_pruned.IsEmpty && !collapsed) || IsMarker(key))
        {
            return (value, version);
        }

        var named = new HashSet<string>(version.Entries.Keys, StringComparer.Ordinal);
        if (!_pruned.IsEmpty)
        {
            NamedIn(incoming ?? value, named);
        }

        foreach (var replica in named)
        {
            var atCollapse = version[replica] == CollapsedVersion;
            if (_pruned.TryGetValue(replica, out var marker))
            {
                if ((atCollapse || !marker.Keys.ContainsKey(key)) && value.Mentions(replica))
                {
                    value = TranslateRemoves(key, value, replica).Cleanup(replica);
                    Stats.PrunedEntriesCleaned++;
                }

                if (!atCollapse && !marker.Keys.ContainsKey(key))
                {
                    version = WithCollapsed(version, replica);
                }
            }
            else if (atCollapse && _retired is { Count: > 0 } retired && retired.ContainsKey(replica))
            {
                // Its marker was deleted here: the collapse is in this value, and the evidence is no longer needed.
                value = value.Cleanup(replica);
                version = version.Without(replica);
            }
            else if (atCollapse)
            {
                value = value.CleanupCounts(replica);
            }
        }

        return (value, version);
    }

    /// <summary>A version with <paramref name="removed"/> at <see cref="CollapsedVersion"/> (the owner's collapse).</summary>
    private static VersionVector WithCollapsed(VersionVector version, string removed) =>
        new(version.Entries.SetItem(removed, CollapsedVersion));

    /// <summary>Adds every replica named anywhere in <paramref name="value"/> (context, dots, counter entries).</summary>
    internal static void NamedIn(CrdtMap value, HashSet<string> named)
    {
        named.UnionWith(value.Context.Vector.Entries.Keys);
        foreach (var dot in value.Context.Cloud)
        {
            named.Add(dot.Replica);
        }

        Walk(value.Entries);

        void Walk(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries)
        {
            foreach (var (_, entry) in entries)
            {
                Dots(entry.Presence);
                switch (entry.Value)
                {
                    case ORSet set:
                        foreach (var dots in set.Entries.Values)
                        {
                            Dots(dots);
                        }

                        break;
                    case MvRegister register:
                        foreach (var dot in register.Entries.Keys)
                        {
                            named.Add(dot.Replica);
                        }

                        break;
                    case Flag flag:
                        Dots(flag.Dots);
                        break;
                    case GCounter counter:
                        named.UnionWith(counter.Counts.Keys);
                        break;
                    case PnCounter counter:
                        named.UnionWith(counter.Increments.Counts.Keys);
                        named.UnionWith(counter.Decrements.Counts.Keys);
                        break;
                    case CrdtMap nested:
                        NamedIn(nested, named);
                        break;
                }
            }
        }

        void Dots(ImmutableSortedSet<Dot> dots)
        {
            foreach (var dot in dots)
            {
                named.Add(dot.Replica);
            }
        }
    }

    /// <summary>
    /// Translates removes of moved dots: where <paramref name="value"/> has seen a dot of <paramref name="removed"/>
    /// that the owner's collapse replaced, and no longer holds it (it was removed or overwritten, possibly concurrently
    /// with the collapse), the fresh dots that replaced it are removed too. Applied before every cleanup, so the evidence
    /// of such a remove is never lost: it reaches every replica as the removal of the fresh dots.
    /// </summary>
    private CrdtMap TranslateRemoves(KvKey key, CrdtMap value, string removed, Dictionary<KvKey, Dictionary<Dot, Dot[]>>? moves = null)
    {
        if ((moves is null && !_moves.TryGetValue(removed, out moves)) || !moves.TryGetValue(key, out var moved))
        {
            return value;
        }

        HashSet<Dot>? held = null;
        List<Dot>? gone = null;
        foreach (var (dot, fresh) in moved)
        {
            if (value.Context.Contains(dot))
            {
                held ??= HeldDots(value);
                if (!held.Contains(dot))
                {
                    (gone ??= []).AddRange(fresh);
                }
            }
        }

        if (gone is null)
        {
            return value;
        }

        var translated = value.Merge(new CrdtMap(CausalContext.FromDots(gone), []));
        if (!translated.Equals(value))
        {
            Stats.RemovesTranslated++;
        }

        return translated;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Removed} was pruned by {Owner}, who held other updates of it than this node: updates of {Removed} that only this node held are dropped")]
    private partial void LogPruneMismatch(string removed, string owner);

    private readonly HashSet<string> _tooLargeLogged = new(StringComparer.Ordinal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Removed} is not pruned: its marker would be {Size} bytes for {Keys} keys, over half of max_stream_frame_size ({Limit}); its entries stay in those keys")]
    private partial void LogMarkerTooLarge(string removed, int size, int keys, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node now writes as {Next} instead of {Previous}: {Why}")]
    private partial void LogIncarnation(string previous, string next, string why);
}

/// <summary>The field names of a pruning marker.</summary>
internal static class MarkerFields
{
    public const string Started = "started";
    public const string Acks = "acks";
    public const string Performed = "performed";
    public const string Moved = "moved";
    public const string Keys = "keys";

    /// <summary>The elements of <see cref="Keys"/>: the collapsed keys (a key not listed held nothing of the replica
    /// at the owner, and is cleaned at once wherever it names it).</summary>
    public static IEnumerable<string> FormatKeys(IEnumerable<KvEntry> collapsed) =>
        collapsed.Where(e => !KvStore.IsMarker(e.Key)).Select(e => e.Key.Value);

    /// <summary>The elements of <see cref="Moved"/> for a collapse's moves.</summary>
    public static IEnumerable<string> FormatMoves(Dictionary<KvKey, Dictionary<Dot, Dot[]>> moves) =>
        from key in moves
        from move in key.Value
        from fresh in move.Value
        select string.Join('\t', key.Key.Value, move.Key.Replica, move.Key.Counter.ToString(CultureInfo.InvariantCulture),
            fresh.Replica, fresh.Counter.ToString(CultureInfo.InvariantCulture));
}

/// <summary>One node's acknowledgement in a marker: it holds the removed replica with <paramref name="Footprint"/> and takes <paramref name="Owner"/>.</summary>
internal sealed record PruneAck(string Node, string Owner, ulong Footprint, string Text)
{
    public static string Format(string node, string owner, ulong footprint) =>
        $"{node}|{owner}|{footprint.ToString("x16", CultureInfo.InvariantCulture)}";
}

/// <summary>A parsed pruning marker (times in Unix milliseconds).</summary>
internal sealed record PruneMarker(
    ImmutableArray<PruneAck> Acks,
    long? StartedAt,
    string? PerformedBy,
    ulong Footprint,
    ulong UpdatesFootprint,
    long? PerformedAt,
    Dictionary<KvKey, Dictionary<Dot, Dot[]>> Moves,
    Dictionary<KvKey, bool> Keys);
