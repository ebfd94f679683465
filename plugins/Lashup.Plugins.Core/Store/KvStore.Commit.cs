using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Group commit of local updates and of merged deltas: writes that queue up while a commit is in flight are committed
/// together, in one SQLite transaction with one fsync. There is no timer: a lone write is committed at once by its own
/// caller; a batch only forms from the writes that arrive while the disk is busy with the previous one (the
/// leader/follower scheme of database group commit).
/// </summary>
/// <remarks>
/// <para>The order of every write in a batch is what it was with one transaction per write:</para>
/// <list type="number">
/// <item>The writes are prepared one after another under the store's lock, in arrival order, each against the store
/// as the earlier writes of its batch leave it (a compare-and-set or a second update of the same key sees them).
/// Nothing is visible yet: reads, watchers and the anti-entropy digests still show the store as committed. (Whether
/// membership recorded this replica as departed is checked once per batch, before its first write.)</item>
/// <item>The batch's rows are written in one transaction; the commit returns after its fsync.</item>
/// <item>Only then, in the same order and still under the lock, each write is applied in memory, its watchers are told
/// and its delta is handed to the multicast tree: no delta leaves the node, and no reader sees a value, before the
/// write is on disk.</item>
/// <item>Then each caller's task completes: an update is acknowledged only once durable. A watcher or broadcast that
/// fails after the commit is logged and costs nothing else: the write stays applied and acknowledged.</item>
/// </list>
/// <para>At most <see cref="MaxQueued"/> updates wait; more are refused with <see cref="KvOverloadedException"/>. A
/// caller's cancellation token is observed only while its update waits in the queue: it is then removed, never
/// written; once a commit has taken it, it completes as if not canceled.</para>
/// <para>Each caller has its own outcome. A write refused on its own (a validation error, a compare-and-set conflict
/// against the committed store) fails alone; the others of its batch go on. When the commit fails, nothing of the
/// batch was written and nothing changes in memory: every write of it fails with the disk's error, and so does a
/// write whose outcome was decided against one of them (a no-op or a conflict on a key the batch had changed).</para>
/// </remarks>
internal sealed partial class KvStore
{
    /// <summary>At most this many local updates per commit, so that the store's lock is never held for long.</summary>
    internal const int MaxBatch = 256;

    /// <summary>
    /// At most this many local updates wait behind the commit in flight (four batches); one more is refused with
    /// <see cref="KvOverloadedException"/> instead of queued. A commit is one fsync (milliseconds), so a full queue is
    /// drained in four of them; what waits longer than that is a writer outrunning the disk, and a client told to come
    /// back (503 with Retry-After at the admin API) sheds that load where a queue without end would only grow.
    /// </summary>
    internal const int MaxQueued = 4 * MaxBatch;

    /// <summary>How long a writer refused at <see cref="MaxQueued"/> is told to wait (the admin API's Retry-After).</summary>
    internal static readonly TimeSpan QueueFullRetryAfter = TimeSpan.FromSeconds(1);

    private readonly Lock _queueLock = new();
    private List<PendingUpdate> _queued = [];
    private bool _committing;

    /// <summary>Local updates queued behind the commit in flight (for tests).</summary>
    internal int QueuedCount
    {
        get
        {
            lock (_queueLock)
            {
                return _queued.Count;
            }
        }
    }

    /// <summary>
    /// Queues a local update; the caller that finds no commit in flight commits the queue at once itself. A caller
    /// that waits can cancel only while its update is still queued: it is then removed and never written; once a
    /// commit has taken it, the update completes whatever the token says (it may already be on disk).
    /// </summary>
    /// <exception cref="KvOverloadedException"><see cref="MaxQueued"/> updates already wait.</exception>
    private ValueTask<KvEntry> Enqueue(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion, CancellationToken cancellationToken)
    {
        var pending = new PendingUpdate(key, ops, expectedVersion);
        bool lead;
        lock (_queueLock)
        {
            if (_queued.Count >= MaxQueued)
            {
                throw new KvOverloadedException(
                    $"{MaxQueued} updates already wait for the store's disk (it is slower than the writes coming in); nothing was written: retry",
                    QueueFullRetryAfter);
            }

            _queued.Add(pending);
            lead = !_committing;
            _committing = true;
        }

        if (lead)
        {
            CommitQueued();
        }

        // A lone write is done by now: its outcome is returned (or thrown) as before group commit, synchronously.
        var done = pending.Done.Task;
        return done.IsCompleted ? ValueTask.FromResult(done.GetAwaiter().GetResult())
            : cancellationToken.CanBeCanceled ? WaitQueuedAsync(pending, cancellationToken)
            : new ValueTask<KvEntry>(done);
    }

    /// <summary>Waits for a queued update; its token removes it from the queue if no commit has taken it yet.</summary>
    private async ValueTask<KvEntry> WaitQueuedAsync(PendingUpdate pending, CancellationToken cancellationToken)
    {
        static void Cancel(object? state, CancellationToken token)
        {
            var (store, pending) = ((KvStore, PendingUpdate))state!;
            store.CancelQueued(pending, token);
        }

        using (cancellationToken.UnsafeRegister(Cancel, (this, pending)))
        {
            return await pending.Done.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Removes a canceled update from the queue and cancels its caller, unless a commit took it already.</summary>
    private void CancelQueued(PendingUpdate pending, CancellationToken cancellationToken)
    {
        bool removed;
        lock (_queueLock)
        {
            removed = _queued.Remove(pending);
        }

        if (removed)
        {
            pending.Done.TrySetCanceled(cancellationToken);
        }
    }

    /// <summary>Commits what is queued; if more arrived meanwhile, the next batch is led from the thread pool, so that
    /// this caller is answered now rather than after every later batch.</summary>
    private void CommitQueued()
    {
        List<PendingUpdate> batch;
        lock (_queueLock)
        {
            if (_queued.Count <= MaxBatch)
            {
                batch = _queued;
                _queued = [];
            }
            else
            {
                batch = _queued[..MaxBatch];
                _queued.RemoveRange(0, MaxBatch);
            }
        }

        try
        {
            CommitBatch(batch);
        }
        catch (Exception e)
        {
            // Not a disk error (those are each write's outcome): whatever it is reaches every caller of the batch.
            foreach (var pending in batch)
            {
                pending.Done.TrySetException(e);
            }
        }

        lock (_queueLock)
        {
            if (_queued.Count == 0)
            {
                _committing = false;
                return;
            }
        }

        ThreadPool.UnsafeQueueUserWorkItem(static store => store.CommitQueued(), this, preferLocal: false);
    }

    /// <summary>Prepares, commits and applies one batch of local updates under the lock, then completes their callers.</summary>
    private void CommitBatch(List<PendingUpdate> batch)
    {
        if (batch.Count == 0)
        {
            return; // its updates were canceled while queued
        }

        var staged = new StagedWrites();
        lock (_lock)
        {
            if (_disk is not null)
            {
                CheckOwnDeparture();
            }

            foreach (var pending in batch)
            {
                try
                {
                    pending.Result = Prepare(pending, staged);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Its own refusal (validation, conflict, ...): the others of the batch go on.
                    pending.Error = e;
                }
            }

            Commit(staged);
        }

        foreach (var pending in batch)
        {
            if (pending.Error is { } error)
            {
                pending.Done.TrySetException(error);
            }
            else
            {
                pending.Done.TrySetResult(pending.Result!);
            }
        }
    }

    /// <summary>
    /// Under the lock: an update's outcome against the store as the batch leaves it. A write is staged in
    /// <paramref name="staged"/> (and returned: its result once committed); a no-op returns the current entry; a
    /// refusal throws.
    /// </summary>
    private KvEntry Prepare(PendingUpdate pending, StagedWrites staged)
    {
        var key = pending.Key;
        var disk = _disk ?? throw new KvException("the store is not open (the node is starting or stopping)");
        var pendingEntry = staged.Get(key);
        if (pendingEntry is not null)
        {
            // Decided against a write of this batch: it stands or falls with the commit.
            staged.Dependents.Add(pending);
        }

        if ((pendingEntry ?? _entries.GetValueOrDefault(key))?.Version[_replica] == CollapsedVersion)
        {
            // A collapse of this replica reached it: the cluster removed it (cut off or down for expire_after) and
            // pruned it before this node learnt it. What it holds is stale: it starts over under a new identity
            // (after the writes staged so far are committed: they were taken as its updates).
            Commit(staged);
            DiscardReplica("a collapse of it by the cluster reached this node");
            throw new KvOverloadedException(
                $"this node's replica was removed by the cluster while it was cut off; it is re-syncing from its peers as {_replica}: retry",
                _options.KvSyncInterval.Value);
        }

        if (_replicaDiscardPending)
        {
            throw new KvException($"this node's replica was removed by the cluster and could not be emptied ({_diskError}); nothing was written");
        }

        var current = pendingEntry ?? _entries.GetValueOrDefault(key) ?? new KvEntry(key, CrdtMap.Empty, VersionVector.Empty);
        var expectedVersion = pending.ExpectedVersion;
        if (expectedVersion is not null && pendingEntry is null && QuarantinedOnDisk(key))
        {
            // Its version here is unknown: the unreadable row held updates this replica cannot compare with. (Not once
            // an earlier write of this batch replaced the row: its commit ends the quarantine, as one write at a time;
            // if that commit fails, this update fails with it, as a dependent.)
            throw new KvOverloadedException(
                $"\"{key}\" cannot be compared-and-set here: its row in the store file is quarantined (see lashup kv quarantine); " +
                "a peer's copy replaces it at the next anti-entropy exchange, retry then",
                _options.KvSyncInterval.Value);
        }

        if (expectedVersion is not null && !expectedVersion.Equals(current.Version))
        {
            throw new KvConflictException(key, expectedVersion, current);
        }

        CrdtMap value, delta;
        byte[] encoded;
        try
        {
            (value, delta) = current.Map.Apply(pending.Ops, _replica, _time.GetUtcNow().ToUnixTimeMilliseconds());
            if (delta.IsBottom)
            {
                return current;
            }

            // Encoded before anything is kept: what the codec refuses is never acknowledged (KvLimits).
            encoded = CrdtCodec.EncodeMap(value);
        }
        catch (Exception e) when (e is OverflowException or CrdtCodecException)
        {
            throw new KvValidationException(key, e.Message);
        }

        if (encoded.Length > _options.MaxValueSize && !PruneMarker.IsMarker(key))
        {
            throw new KvValidationException(key, $"the value of \"{key}\" would be {encoded.Length} bytes; the limit is {_options.MaxValueSize} (core.max_value_size)");
        }

        var updated = new KvEntry(key, value, current.Version.Increment(_replica));
        staged.Add(new StagedWrite(current, updated, encoded, delta, pending), disk);
        return updated;
    }

    /// <summary>
    /// Under the lock: writes the staged rows in one transaction, then applies them in memory in order, tells their
    /// watchers and sends their deltas; on a disk error nothing changes in memory and every write of the batch (and
    /// every outcome decided against one of them) fails with it. Leaves <paramref name="staged"/> empty.
    /// </summary>
    /// <returns>Whether the rows are on disk (true for no rows).</returns>
    private bool Commit(StagedWrites staged)
    {
        if (staged.Writes.Count == 0)
        {
            return true;
        }

        var writes = staged.Writes;
        try
        {
            if (writes.Count == 1)
            {
                staged.Disk!.Put(writes[0].Updated.Key.ToString(), writes[0].Value, CrdtCodec.EncodeVersion(writes[0].Updated.Version));
            }
            else
            {
                staged.Disk!.PutAll([.. writes.Select(w => (w.Updated.Key.ToString(), w.Value, CrdtCodec.EncodeVersion(w.Updated.Version)))], []);
            }

            _diskError = null;
            Stats.Commits++;
        }
        catch (KvPersistenceException e)
        {
            // Nothing changes in memory: a write that is not on disk is not acknowledged.
            _diskError = e.Message;
            Stats.WriteFailures += writes.Count;
            foreach (var dependent in staged.Dependents)
            {
                dependent.Error = new KvException($"the update of \"{dependent.Key}\" was decided against a write that could not be written: {e.Message}; retry");
            }

            foreach (var write in writes)
            {
                if (write.Waiter is { } waiter)
                {
                    LogWriteFailed(waiter.Key.ToString(), e.Message);
                    waiter.Error = new KvException($"the update of \"{waiter.Key}\" could not be written: {e.Message}; nothing was changed");
                }
            }

            staged.Clear();
            return false;
        }

        // Durable from here on: every write is applied in memory (memory is what the disk holds) and acknowledged, whatever
        // fails after it. A watcher or a broadcast that fails costs only that step of that write (logged; a delta not
        // sent is carried by anti-entropy), never the writes after it nor the callers of the batch.
        foreach (var write in writes)
        {
            var local = write.Waiter is not null;
            if (local)
            {
                Stats.LocalUpdates++;
            }
            else
            {
                Stats.DeltasMerged++;
            }

            try
            {
                EndQuarantine(write.Updated.Key, local ? "a local write replaced it" : "a valid copy was merged");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogAfterCommitFailed(write.Updated.Key.ToString(), "ending its quarantine", e);
            }

            Publish(write.Previous, write.Updated);
            try
            {
                if (local && _broadcast.Delta(write.Updated.Key, _replica, write.Updated.Version[_replica], write.Delta!))
                {
                    Stats.DeltasSent++;
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogAfterCommitFailed(write.Updated.Key.ToString(), "broadcasting its delta", e);
            }
        }

        staged.Clear();
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The update of {Key} is committed and applied, but {Step} failed (a delta not sent reaches the peers by anti-entropy)")]
    private partial void LogAfterCommitFailed(string key, string step, Exception exception);

    /// <summary>
    /// Merges deltas from other nodes (each as <see cref="MergeDelta"/> would, in order) with one commit for all of
    /// them: the replication worker passes the deltas that queued up in its inbox. Pruning markers are not taken
    /// here (<see cref="MergeDelta"/> merges them one at a time: they change what the next merge accepts).
    /// </summary>
    /// <returns>How many were merged (none if the commit failed: anti-entropy repairs them later, as for one delta).</returns>
    public int MergeDeltas(IReadOnlyList<(KvKey Key, string Origin, ulong Counter, CrdtMap Delta)> deltas)
    {
        lock (_lock)
        {
            var disk = _disk;
            if (disk is null)
            {
                return 0;
            }

            var staged = new StagedWrites();
            foreach (var (key, origin, counter, delta) in deltas)
            {
                if (PruneMarker.IsMarker(key))
                {
                    throw new ArgumentException($"\"{key}\" is a pruning marker: merged one at a time", nameof(deltas));
                }

                if (_pruned.ContainsKey(origin) || _departures.Departures.IsDeparted(origin))
                {
                    Stats.PrunedDeltasDropped++;
                    continue;
                }

                var current = staged.Get(key) ?? _entries.GetValueOrDefault(key) ?? new KvEntry(key, CrdtMap.Empty, VersionVector.Empty);
                if (counter == 0 || current.Version[origin] != counter - 1)
                {
                    Stats.DeltasSkipped++;
                    continue;
                }

                var (value, version) = CleanMerged(key, current.Map.Merge(delta), current.Version.Increment(origin), delta);
                var merged = new KvEntry(key, value, version);
                staged.Add(new StagedWrite(current, merged, CrdtCodec.EncodeMap(merged.Map), null, null), disk);
            }

            var count = staged.Writes.Count;
            return Commit(staged) ? count : 0;
        }
    }

    /// <summary>A local update waiting for its batch's commit.</summary>
    private sealed class PendingUpdate(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion)
    {
        public KvKey Key { get; } = key;

        /// <summary>The caller's ops, copied: a list the caller changes after the call is not what gets written.</summary>
        public IReadOnlyList<CrdtOp> Ops { get; } = [.. ops];

        public VersionVector? ExpectedVersion { get; } = expectedVersion;

        public TaskCompletionSource<KvEntry> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public KvEntry? Result { get; set; }

        public Exception? Error { get; set; }
    }

    /// <summary>A prepared write: the entry it replaces (committed or staged), the new entry and its encoded value, and
    /// for a local update its delta and caller.</summary>
    private readonly record struct StagedWrite(KvEntry Previous, KvEntry Updated, byte[] Value, CrdtMap? Delta, PendingUpdate? Waiter);

    /// <summary>The writes of a batch not committed yet, with the latest staged entry of each key.</summary>
    private sealed class StagedWrites
    {
        private readonly Dictionary<KvKey, KvEntry> _latest = [];

        public List<StagedWrite> Writes { get; } = [];

        /// <summary>Updates whose outcome was decided against a staged write.</summary>
        public List<PendingUpdate> Dependents { get; } = [];

        public IKvPersistence? Disk { get; private set; }

        public KvEntry? Get(KvKey key) => _latest.Count > 0 ? _latest.GetValueOrDefault(key) : null;

        public void Add(StagedWrite write, IKvPersistence disk)
        {
            Disk = disk;
            Writes.Add(write);
            _latest[write.Updated.Key] = write.Updated;
        }

        public void Clear()
        {
            Writes.Clear();
            Dependents.Clear();
            _latest.Clear();
        }
    }
}
