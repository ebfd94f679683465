using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Lashup.Crdt;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// This node's replica of the key-value store: an in-memory sorted index of CRDT maps with a version vector per key,
/// persisted to SQLite before an update is acknowledged. Reads never touch the disk. Updates are applied atomically
/// (all ops or none, optional compare-and-set on the version vector); a value over the size limit, a type-mismatched op
/// or a disk that fails changes nothing and raises a clear error. Watchers get the entries under their prefix, a
/// snapshot-complete marker, then every change, coalesced per key when they fall behind (bounded by the number of
/// keys, never by the number of writes).
/// </summary>
internal sealed partial class KvStore : IReplicatedStore, ILifecycleParticipant, IReadinessCheck, IDisposable
{
    private readonly Lock _lock = new();
    private readonly CoreOptions _options;
    private readonly NodeInfo _node;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<KvWatchQueue> _watchers = [];
    private ImmutableSortedDictionary<KvKey, KvEntry> _entries = ImmutableSortedDictionary<KvKey, KvEntry>.Empty;
    private readonly ulong[] _buckets = new ulong[BucketCount];
    private readonly Func<IKvPersistence>? _openPersistence;
    private readonly IDepartureRecord _departures;
    private readonly IKvBroadcast _broadcast;
    private readonly Random _random;
    private IKvPersistence? _disk;
    private string? _diskError;
    private string _replica;
    private DateTimeOffset _startedAt;

    /// <summary>Anti-entropy buckets: keys are spread by hash; each bucket's digest is the XOR of its keys' versions.</summary>
    public const int BucketCount = 256;

    /// <param name="options">The core's options.</param>
    /// <param name="node">This node.</param>
    /// <param name="time">The clock of register writes.</param>
    /// <param name="loggers">Loggers.</param>
    /// <param name="departures">Membership's record of departed replicas, and where this replica's identity is published.</param>
    /// <param name="broadcast">Where local updates' deltas and collapsed entries go.</param>
    /// <param name="openPersistence">Opens where entries are kept (the simulator's memory); by default SQLite in <c>data_dir/core</c>.</param>
    /// <param name="random">Draws the incarnation of a new identity (seeded in the simulator).</param>
    public KvStore(
        IOptions<CoreOptions> options,
        NodeInfo node,
        TimeProvider time,
        ILoggerFactory loggers,
        IDepartureRecord departures,
        IKvBroadcast broadcast,
        Func<IKvPersistence>? openPersistence = null,
        Random? random = null)
    {
        _openPersistence = openPersistence;
        _options = options.Value;
        _node = node;
        _time = time;
        _logger = loggers.CreateLogger("Lashup.Core.Store");
        _departures = departures;
        _broadcast = broadcast;
        _random = random ?? new Random();
        _replica = node.Name;
    }

    public int Stage => LifecycleStage.ReplicatedData;

    public string Name => "core.store";

    public StoreStats Stats { get; } = new();

    public int Count => _entries.Count;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _disk = _openPersistence?.Invoke() ?? SqliteKvPersistence.Open(Path.Combine(_node.DataDirectory, "core"), _node.ClusterName, _node.Name);
        try
        {
            Load(_disk);
        }
        catch (KvPersistenceException e)
        {
            _disk.Dispose();
            _disk = null;
            throw new InvalidOperationException(e.Message, e);
        }
        catch (InvalidOperationException)
        {
            _disk.Dispose();
            _disk = null;
            throw;
        }

        return Task.CompletedTask;
    }

    /// <summary>Loads every row (quarantining what cannot be read), then opens this replica's identity.</summary>
    private void Load(IKvPersistence disk)
    {
        var rows = disk.ReadAll().ToList();
        var entries = ImmutableSortedDictionary.CreateBuilder<KvKey, KvEntry>();
        var unreadable = new List<(string Key, byte[] Version, string Reason)>();
        foreach (var (key, value, version) in rows)
        {
            try
            {
                var parsed = KvKey.Parse(key);
                entries[parsed] = new KvEntry(parsed, CrdtCodec.DecodeMap(value), CrdtCodec.DecodeVersion(version));
            }
            catch (CrdtCodecException e) when (e.NewerFormat is { } format)
            {
                // Not damage: a newer Lashup wrote it. Going on would overwrite its rows; refuse, as etcd refuses a downgrade.
                throw new InvalidOperationException(
                    $"{Path.Combine(_node.DataDirectory, "core", "kv.db")} holds values in format {format}, written by a newer version of Lashup " +
                    $"(this one reads format {CrdtCodec.FormatVersion}): run that version, or move the store away to re-sync this node from its peers", e);
            }
            catch (Exception e) when (e is CrdtCodecException or KvValidationException or FormatException or ArgumentException)
            {
                // One bad row never costs the others (KvStore.Quarantine.cs).
                unreadable.Add((key, version, e.Message));
            }
        }

        _entries = entries.ToImmutable();
        foreach (var entry in _entries.Values)
        {
            _buckets[Bucket(entry.Key)] ^= VersionHash(entry);
        }

        LogLoaded(_entries.Count, disk.Path);
        lock (_lock)
        {
            _startedAt = _time.GetUtcNow();
            OpenIdentity(disk, rows.Count, unreadable);
            RefreshPruned();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disk?.Dispose();
            _disk = null;
            foreach (var watcher in _watchers)
            {
                watcher.Complete();
            }
        }
    }

    public Readiness Check() =>
        _disk is null ? Readiness.NotReady("the store is not open")
        : _diskError is { } error ? Readiness.NotReady($"writes fail: {error}")
        : AwaitingDepartures ? Readiness.NotReady("back after expire_after or more: writes wait until membership has compared departure records with a peer (at most three kv_sync_intervals)")
        : QuarantineNote() is { } note ? Readiness.Degraded(note)
        : Readiness.Ready;

    public KvEntry? Get(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);

        // An emptied key too (IReplicatedStore.Get): its version is what a compare-and-set that recreates it needs.
        return _entries.GetValueOrDefault(key);
    }

    public IReadOnlyList<KvEntry> List(KvKey prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var markers = prefix.StartsWith(PruneMarker.Prefix);
        return [.. _entries.Values.Where(e => e.Key.StartsWith(prefix) && !e.IsEmpty && (markers || !PruneMarker.IsMarker(e.Key)))];
    }

    public ValueTask<KvEntry> UpdateAsync(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(ops);
        cancellationToken.ThrowIfCancellationRequested();
        if (key.IsRoot)
        {
            throw new KvValidationException(key, "the root key names no value; updates need a key such as \"lb/vips/web:80\"");
        }

        // Reserved keys (the pruning markers under lashup/prune), op limits (KvLimits); an empty list writes nothing.
        KvLimits.Validate(key, ops);

        // Committed with the updates that queue up meanwhile (KvStore.Commit.cs); a lone one at once, on this thread.
        // The token cancels only while the update waits in the queue, never once a commit has taken it.
        return AwaitingDepartures ? UpdateWhenSettledAsync(key, ops, expectedVersion, cancellationToken) : Enqueue(key, ops, expectedVersion, cancellationToken);
    }

    /// <summary>An atomic local update as this node's replica (<see cref="ReplicaName"/>), markers included, committed
    /// at once on the calling thread (not through the group commit queue: it may be called under the store's lock).</summary>
    private KvEntry Update(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion)
    {
        var pending = new PendingUpdate(key, ops, expectedVersion);
        var staged = new StagedWrites();
        KvEntry result;
        lock (_lock)
        {
            if (_disk is not null)
            {
                CheckOwnDeparture();
            }

            result = Prepare(pending, staged);
            Commit(staged);
        }

        return pending.Error is { } error ? throw error : result;
    }

    public async IAsyncEnumerable<KvChange> WatchAsync(KvKey prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var queue = new KvWatchQueue(prefix);
        lock (_lock)
        {
            // Pruning markers only for a watch that asks for them (its prefix is under lashup/prune).
            var markers = prefix.StartsWith(PruneMarker.Prefix);
            queue.EnqueueSnapshot(markers ? _entries.Values : _entries.Values.Where(e => !PruneMarker.IsMarker(e.Key)));
            _watchers.Add(queue);
        }

        try
        {
            await foreach (var change in queue.ReadAllAsync(cancellationToken))
            {
                yield return change;
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(queue);
            }
        }
    }

    /// <summary>The largest backlog (distinct keys waiting) of any watcher: the subscription lag metric.</summary>
    public int MaxWatchBacklog()
    {
        lock (_lock)
        {
            return _watchers.Count == 0 ? 0 : _watchers.Max(w => w.Backlog);
        }
    }

    /// <summary>
    /// Merges a delta that <paramref name="origin"/> made as its update number <paramref name="counter"/> of this key.
    /// Only the next update of that origin is merged: the version vector then says exactly which updates the value
    /// holds, so anti-entropy can compare versions instead of values. A delta after a gap is left to anti-entropy.
    /// </summary>
    /// <returns>Whether the delta was merged.</returns>
    public bool MergeDelta(KvKey key, string origin, ulong counter, CrdtMap delta)
    {
        lock (_lock)
        {
            if (_pruned.ContainsKey(origin) || _departures.Departures.IsDeparted(origin))
            {
                // Its writer departed for good (membership's record): a node that has not learnt it yet writes for
                // nobody; and once pruned, its updates were collapsed into the owner's.
                Stats.PrunedDeltasDropped++;
                return false;
            }

            var current = _entries.GetValueOrDefault(key) ?? new KvEntry(key, CrdtMap.Empty, VersionVector.Empty);
            if (counter == 0 || current.Version[origin] != counter - 1)
            {
                Stats.DeltasSkipped++;
                return false;
            }

            var (value, version) = CleanMerged(key, current.Map.Merge(delta), current.Version.Increment(origin), delta);
            var merged = new KvEntry(key, value, version);
            if ((PruneMarker.IsMarker(key) && !MarkerAcceptable(key, merged.Map)) || !Persist(current, merged))
            {
                return false;
            }

            Stats.DeltasMerged++;
            return true;
        }
    }

    /// <summary>Merges a whole entry from another replica (anti-entropy): values join, versions take the pointwise maximum.</summary>
    public bool MergeEntry(KvKey key, CrdtMap value, VersionVector version)
    {
        lock (_lock)
        {
            if (PruneMarker.IsMarker(key) && !MarkerAcceptable(key, (_entries.GetValueOrDefault(key)?.Map ?? CrdtMap.Empty).Merge(value)))
            {
                return false;
            }

            var current = _entries.GetValueOrDefault(key) ?? new KvEntry(key, CrdtMap.Empty, VersionVector.Empty);
            (value, version) = CleanMerged(key, current.Map.Merge(value), current.Version.Merge(version), value);
            var merged = new KvEntry(key, value, version);
            return !merged.Version.Equals(current.Version) && Persist(current, merged);
        }
    }

    /// <summary>
    /// Whether a marker, as it would be after a merge, is taken: not about a retired replica, not a performed one deleted
    /// here in the last TTL (a peer that deletes it later still offers it), and not without its opening (what comes
    /// without it is a remnant of a marker deleted here).
    /// </summary>
    private bool MarkerAcceptable(KvKey key, CrdtMap merged)
    {
        if (PruneMarker.ReplicaOf(key) is not { } replica || _departures.Departures.IsRetired(replica))
        {
            return false;
        }

        var marker = PruneMarker.Parse(merged);
        return marker.StartedAt is not null && (marker.PerformedBy is null || !PerformedMarkerDeletedHere(replica));
    }

    /// <summary>A copy of the bucket digests.</summary>
    public ulong[] BucketDigest()
    {
        lock (_lock)
        {
            return [.. _buckets];
        }
    }

    /// <summary>The keys of the given buckets with the hashes of their versions.</summary>
    public List<(KvKey Key, ulong Hash)> KeysIn(IReadOnlySet<int> buckets) =>
        [.. _entries.Values.Where(e => buckets.Contains(Bucket(e.Key))).Select(e => (e.Key, VersionHash(e)))];

    /// <summary>The entry of <paramref name="key"/> including an emptied one (anti-entropy must carry removals), or null.</summary>
    public KvEntry? GetRaw(KvKey key) => _entries.GetValueOrDefault(key);

    public static int Bucket(KvKey key) => (int)(Fnv(System.Text.Encoding.UTF8.GetBytes(key.ToString()), 14695981039346656037UL) % BucketCount);

    public static ulong VersionHash(KvEntry entry) =>
        Fnv(CrdtCodec.EncodeVersion(entry.Version), Fnv(System.Text.Encoding.UTF8.GetBytes(entry.Key.ToString()), 14695981039346656037UL));

    private static ulong Fnv(ReadOnlySpan<byte> bytes, ulong hash)
    {
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    private bool Persist(KvEntry current, KvEntry merged)
    {
        var disk = _disk;
        if (disk is null)
        {
            return false;
        }

        try
        {
            disk.Put(merged.Key.ToString(), CrdtCodec.EncodeMap(merged.Map), CrdtCodec.EncodeVersion(merged.Version));
            _diskError = null;
        }
        catch (KvPersistenceException e)
        {
            _diskError = e.Message;
            Stats.WriteFailures++;
            return false;
        }

        EndQuarantine(merged.Key, "a valid copy was merged");
        Publish(current, merged);
        return true;
    }

    private void Publish(KvEntry previous, KvEntry entry)
    {
        var bucket = Bucket(entry.Key);
        if (!previous.Version.IsEmpty)
        {
            _buckets[bucket] ^= VersionHash(previous);
        }

        _buckets[bucket] ^= VersionHash(entry);
        _entries = _entries.SetItem(entry.Key, entry);
        var marker = PruneMarker.IsMarker(entry.Key);

        // The entry is committed: a watcher that fails to take it does not undo it, nor keep the next ones from it.
        try
        {
            Notify(entry, marker);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogAfterCommitFailed(entry.Key.ToString(), "telling its watchers", e);
        }

        if (marker)
        {
            if (PruneMarker.ReplicaOf(entry.Key) is { } replica)
            {
                NoteMarker(replica, entry.Map);
            }

            RefreshPruned();
        }
    }

    /// <summary>Tells the watchers of <paramref name="entry"/>'s prefix (markers only to watches under their prefix).</summary>
    private void Notify(KvEntry entry, bool marker)
    {
        foreach (var watcher in _watchers)
        {
            if (entry.Key.StartsWith(watcher.Prefix) && (!marker || watcher.Prefix.StartsWith(PruneMarker.Prefix)))
            {
                watcher.Enqueue(new KvChange(KvChangeKind.Updated, entry));
            }
        }
    }

    internal sealed class StoreStats
    {
        public long LocalUpdates;
        public long Commits;
        public long WriteFailures;
        public long DeltasMerged;
        public long DeltasSkipped;
        public long DeltasSent;
        public long SyncRounds;
        public long SyncBytes;
        public long EntriesRepaired;
        public long BadMessages;
        public long PrunedDeltasDropped;
        public long PrunedEntriesCleaned;
        public long PrunesPerformed;
        public long PruneMismatches;
        public long MarkersDeleted;
        public long RemovesTranslated;
        public long Quarantined;
        public long DepartedExchangesRefused;
        public long ReplicaDiscards;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Store loaded {Count} keys from {Path}")]
    private partial void LogLoaded(int count, string path);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot persist the update of {Key}: {Reason}; the store is read-only until writes succeed again")]
    private partial void LogWriteFailed(string key, string reason);
}
