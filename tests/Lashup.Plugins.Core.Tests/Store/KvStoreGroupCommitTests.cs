using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// Group commit (KvStore.Commit.cs): updates that queue up behind a commit in flight are committed together, each
/// acknowledged only once on disk, each with its own outcome; a failed commit fails exactly its writes. The batches are
/// made deterministic by holding the first commit inside the disk (a gate) while the others queue up behind it.
/// </summary>
public sealed class KvStoreGroupCommitTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kv-gc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task UpdateAsync_ConcurrentWriters_EveryAcknowledgedWriteDurable()
    {
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<(KvKey Key, string Element)>();
        using (var store = await OpenAsync())
        {
            // 8 writers at once, on keys of their own and on one key they share.
            var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < 60; i++)
                {
                    var key = KvKey.Parse(i % 3 == 0 ? "shared/key" : $"w{w}/k{i}");
                    var element = $"10.{w}.0.{i}:80";
                    await store.UpdateAsync(key, [new ORSetAdd(["endpoints"], element)]);
                    acknowledged.Add((key, element));
                }
            })).ToList();
            await Task.WhenAll(writers).WaitAsync(Bound);
        }

        Assert.Equal(8 * 60, acknowledged.Count);
        using var reopened = await OpenAsync();
        Assert.All(acknowledged, a => Assert.Contains(a.Element, reopened.Get(a.Key)!.Value.GetORSet("endpoints")!.Elements));
        Assert.Equal(8UL * 20, reopened.Get(KvKey.Parse("shared/key"))!.Version[reopened.ReplicaName]);
    }

    [Fact]
    public async Task UpdateAsync_QueuedBehindACommit_OneTransactionEachAcknowledgedAfterIt()
    {
        var disk = new GatedDisk(_dir);
        var broadcast = new CapturingBroadcast();
        using var store = await TestStores.OpenAsync("node-1", _dir, broadcast: broadcast, disk: () => disk);
        using var cts = new CancellationTokenSource(Bound);
        await using var watch = store.WatchAsync(KvKey.Parse("svc"), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(KvChangeKind.SnapshotComplete, watch.Current.Kind);

        var (first, queued) = await QueueBehindFirstAsync(store, disk, 8, i => new Write(KvKey.Parse(i % 2 == 0 ? "svc/same" : $"svc/k{i}"), [new LwwSet(["v"], $"{i}")]));

        // Nothing is visible, acknowledged or sent before it is on disk: not the write held in the disk, not those behind it.
        Assert.False(first.IsCompleted);
        Assert.All(queued, q => Assert.False(q.IsCompleted));
        Assert.Null(store.Get(KvKey.Parse("svc/first")));
        Assert.Null(store.Get(KvKey.Parse("svc/k1")));
        Assert.Empty(broadcast.Deltas);

        disk.Open();
        await first.WaitAsync(Bound);
        var results = await Task.WhenAll(queued.Select(q => q.WaitAsync(Bound)));

        Assert.Contains(8, disk.Transactions); // the 8 queued writes: one transaction, one fsync
        Assert.Equal(2, disk.Transactions.Count);

        // Each update's result is its own, in arrival order: the 4 writes of svc/same count 1 to 4.
        Assert.Equal([1UL, 2UL, 3UL, 4UL], results.Where((_, i) => i % 2 == 0).Select(r => r.Version[store.ReplicaName]));
        Assert.Equal("6", store.Get(KvKey.Parse("svc/same"))!.Value.GetLwwRegister("v")!.Value);

        // Deltas went out in the same order, each its writer's next counter of the key.
        Assert.Equal([1UL, 2UL, 3UL, 4UL], broadcast.Deltas.Where(d => d.Key.ToString() == "svc/same").Select(d => d.Counter));

        // The watcher saw the first write, then the batch's keys in commit order (svc/same coalesced to its last value).
        // (A watcher that falls behind keeps each key where it first changed, with its latest value: KvWatchQueue.)
        var seen = new List<(string Key, string Value)>();
        while (seen.Count < 6 && await watch.MoveNextAsync())
        {
            seen.Add((watch.Current.Entry!.Key.ToString(), watch.Current.Entry.Value.GetLwwRegister("v")!.Value!));
        }

        Assert.Equal([("svc/first", "first"), ("svc/same", "6"), ("svc/k1", "1"), ("svc/k3", "3"), ("svc/k5", "5"), ("svc/k7", "7")], seen);
    }

    [Fact]
    public async Task UpdateAsync_OneBadUpdateInABatch_FailsAlone()
    {
        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, new CoreOptions { MaxValueSize = 4096 }, disk: () => disk);
        var typed = await store.UpdateAsync(KvKey.Parse("typed"), [new LwwSet(["f"], "x")]);

        var (first, queued) = await QueueBehindFirstAsync(store, disk, 5, i => i switch
        {
            0 => new Write(KvKey.Parse("good/0"), [new LwwSet(["v"], "0")]),
            1 => new Write(KvKey.Parse("typed"), [new ORSetAdd(["f"], "z")]), // a register is not a set
            2 => new Write(KvKey.Parse("big"), [new LwwSet(["v"], new string('x', 10_000))]),
            3 => new Write(KvKey.Parse("typed"), [new LwwSet(["f"], "cas")], VersionVector.Empty), // a stale compare-and-set
            _ => new Write(KvKey.Parse("good/4"), [new LwwSet(["v"], "4")]),
        });
        disk.Open();
        await first.WaitAsync(Bound);

        Assert.Equal("0", (await queued[0].WaitAsync(Bound)).Value.GetLwwRegister("v")!.Value);
        await Assert.ThrowsAsync<CrdtTypeMismatchException>(() => queued[1].WaitAsync(Bound));
        await Assert.ThrowsAsync<KvValidationException>(() => queued[2].WaitAsync(Bound));
        await Assert.ThrowsAsync<KvConflictException>(() => queued[3].WaitAsync(Bound));
        Assert.Equal("4", (await queued[4].WaitAsync(Bound)).Value.GetLwwRegister("v")!.Value);
        Assert.Equal(typed, store.Get(KvKey.Parse("typed")));
        Assert.Null(store.Get(KvKey.Parse("big")));
        Assert.Contains(2, disk.Transactions);

        store.Dispose();
        using var reopened = await OpenAsync();
        Assert.NotNull(reopened.Get(KvKey.Parse("good/0")));
        Assert.NotNull(reopened.Get(KvKey.Parse("good/4")));
        Assert.Equal(typed.Value, reopened.Get(KvKey.Parse("typed"))!.Value);
    }

    [Fact]
    public async Task UpdateAsync_CommitFails_FailsExactlyItsWritesNothingAcknowledgedLost()
    {
        var disk = new GatedDisk(_dir);
        var broadcast = new CapturingBroadcast();
        using var store = await TestStores.OpenAsync("node-1", _dir, broadcast: broadcast, disk: () => disk);
        var kept = await store.UpdateAsync(KvKey.Parse("kept"), [new LwwSet(["v"], "1")]);
        using var cts = new CancellationTokenSource(Bound);
        await using var watch = store.WatchAsync(KvKey.Parse("kept"), cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync()); // the snapshot
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(KvChangeKind.SnapshotComplete, watch.Current.Kind);

        var (first, queued) = await QueueBehindFirstAsync(store, disk, 6, i => i switch
        {
            // A compare-and-set refused against the committed store: its own outcome whatever the commit does.
            0 => new Write(KvKey.Parse("kept"), [new LwwSet(["v"], "cas")], VersionVector.Empty),
            // Refused against a write of the failing batch: it fails with it (decided on a state that never was).
            4 => new Write(KvKey.Parse("lost/1"), [new LwwSet(["v"], "cas")], VersionVector.Empty),
            _ => new Write(KvKey.Parse(i == 3 ? "kept" : $"lost/{i}"), [new LwwSet(["v"], $"{i}")]),
        });
        disk.FailNextBatch = true;
        disk.Open();
        await first.WaitAsync(Bound);

        await Assert.ThrowsAsync<KvConflictException>(() => queued[0].WaitAsync(Bound));
        foreach (var i in new[] { 1, 2, 3, 5 })
        {
            var e = await Assert.ThrowsAsync<KvException>(() => queued[i].WaitAsync(Bound));
            Assert.Contains("could not be written", e.Message, StringComparison.Ordinal);
        }

        var dependent = await Assert.ThrowsAsync<KvException>(() => queued[4].WaitAsync(Bound));
        Assert.Contains("decided against a write that could not be written", dependent.Message, StringComparison.Ordinal);

        // Memory is what the disk holds: the failed batch changed nothing, told no watcher, sent no delta.
        Assert.Null(store.Get(KvKey.Parse("lost/1")));
        Assert.Equal(kept, store.Get(KvKey.Parse("kept")));
        Assert.DoesNotContain(broadcast.Deltas, d => d.Key.ToString().StartsWith("lost/", StringComparison.Ordinal));
        Assert.Contains("writes fail", store.Check().Reason, StringComparison.Ordinal);

        // The next write succeeds and is told next: the failed one never was.
        var after = await store.UpdateAsync(KvKey.Parse("kept"), [new LwwSet(["v"], "2")]);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(after, watch.Current.Entry);
        Assert.Equal(2UL, after.Version[store.ReplicaName]);
        Assert.True(store.Check().IsReady);

        store.Dispose();
        using var reopened = await OpenAsync();
        Assert.Equal(after.Version, reopened.Get(KvKey.Parse("kept"))!.Version);
        Assert.Null(reopened.Get(KvKey.Parse("lost/1")));
        Assert.NotNull(reopened.Get(KvKey.Parse("svc/first")));
    }

    [Fact]
    public async Task MergeDeltas_ManyWithOneCommit_LikeOneByOne()
    {
        var writes = new CapturingBroadcast();
        using (var writer = await TestStores.OpenAsync("node-2", Path.Combine(_dir, "n2"), broadcast: writes))
        {
            for (var i = 0; i < 20; i++)
            {
                await writer.UpdateAsync(KvKey.Parse($"svc/k{i % 5}"), [new ORSetAdd(["endpoints"], $"10.0.0.{i}:80")]);
            }
        }

        var disk = new GatedDisk(_dir);
        var deltas = writes.Deltas.Select(d => (d.Key, d.Writer, d.Counter, d.Delta)).ToList();
        using (var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk))
        {
            // A gap (the writer's 2nd update of a key missing) is skipped alone; the rest are merged in one transaction.
            var gap = deltas.FindIndex(d => d.Key.ToString() == "svc/k0" && d.Counter == 2);
            var batch = deltas.Where((_, i) => i != gap).ToList();

            Assert.Equal(batch.Count - 2, store.MergeDeltas(batch)); // svc/k0's counters 3 and 4 follow the gap
            Assert.Equal([batch.Count - 2], disk.Transactions);
            Assert.Equal(2, store.Stats.DeltasSkipped);
            Assert.Equal(4, store.Get(KvKey.Parse("svc/k1"))!.Value.GetORSet("endpoints")!.Elements.Count());

            // A failed commit merges none of its deltas: memory stays what the disk holds (anti-entropy repairs later).
            disk.FailNextBatch = true;
            Assert.Equal(0, store.MergeDeltas([deltas[gap], deltas[gap + 5]]));
            Assert.Single(store.Get(KvKey.Parse("svc/k0"))!.Value.GetORSet("endpoints")!.Elements);
            Assert.Equal(2, store.MergeDeltas([deltas[gap], deltas[gap + 5]]));
        }

        using var reopened = await OpenAsync();
        Assert.Equal(3, reopened.Get(KvKey.Parse("svc/k0"))!.Value.GetORSet("endpoints")!.Elements.Count()); // its 4th delta never came
        Assert.All(reopened.List(KvKey.Parse("svc")).Where(e => e.Key.ToString() != "svc/k0"), e => Assert.Equal(4, e.Value.GetORSet("endpoints")!.Elements.Count()));
    }

    [Fact]
    public async Task UpdateAsync_QueueFull_RefusedAsOverloadedUntilItDrains()
    {
        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk);
        var (first, queued) = await QueueBehindFirstAsync(store, disk, KvStore.MaxQueued, i => new Write(KvKey.Parse($"flood/{i % 100}"), [new LwwSet(["v"], $"{i}")]));

        // One more than the queue holds is refused at once (the admin API: 503 with Retry-After), and not queued.
        var refused = await Assert.ThrowsAsync<KvOverloadedException>(async () => await store.UpdateAsync(KvKey.Parse("flood/over"), [new LwwSet(["v"], "x")]));
        Assert.Equal(KvStore.QueueFullRetryAfter, refused.RetryAfter);
        Assert.Equal(KvStore.MaxQueued, store.QueuedCount);

        disk.Open();
        await first.WaitAsync(Bound);
        await Task.WhenAll(queued).WaitAsync(Bound);
        Assert.Equal(0, store.QueuedCount);
        Assert.Null(store.Get(KvKey.Parse("flood/over")));
        Assert.NotNull(await store.UpdateAsync(KvKey.Parse("flood/over"), [new LwwSet(["v"], "x")]));
    }

    [Fact]
    public async Task UpdateAsync_CanceledWhileQueued_RemovedAndNeverWritten()
    {
        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk);
        var (first, queued) = await QueueBehindFirstAsync(store, disk, 1, _ => new Write(KvKey.Parse("svc/kept"), [new LwwSet(["v"], "kept")]));
        using var cts = new CancellationTokenSource();
        var canceled = store.UpdateAsync(KvKey.Parse("svc/canceled"), [new LwwSet(["v"], "x")], null, cts.Token).AsTask();
        Assert.Equal(2, store.QueuedCount);

        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled.WaitAsync(Bound));
        Assert.Equal(1, store.QueuedCount);

        disk.Open();
        await first.WaitAsync(Bound);
        await queued[0].WaitAsync(Bound);
        Assert.Null(store.Get(KvKey.Parse("svc/canceled")));
        store.Dispose();
        using var reopened = await OpenAsync();
        Assert.Null(reopened.Get(KvKey.Parse("svc/canceled")));
        Assert.NotNull(reopened.Get(KvKey.Parse("svc/kept")));
    }

    [Fact]
    public async Task UpdateAsync_CanceledAfterItsCommitStarted_CompletesAndIsWritten()
    {
        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk);
        disk.Close();
        var first = Task.Run(async () => await store.UpdateAsync(KvKey.Parse("svc/first"), [new LwwSet(["v"], "first")]));
        Assert.True(disk.Entered.Wait(Bound), "the first commit never reached the disk");
        using var cts = new CancellationTokenSource();
        var taken = store.UpdateAsync(KvKey.Parse("svc/taken"), [new LwwSet(["v"], "x")], null, cts.Token).AsTask();

        // The first commit goes through; the next one (with the update) is held inside the disk, then the token fires.
        disk.PassOne();
        await first.WaitAsync(Bound);
        Assert.True(disk.Entered.Wait(Bound), "the second commit never reached the disk");
        Assert.Equal(0, store.QueuedCount);
        cts.Cancel();
        disk.Open();

        var entry = await taken.WaitAsync(Bound);
        Assert.Equal(entry, store.Get(KvKey.Parse("svc/taken")));
    }

    [Fact]
    public async Task UpdateAsync_BroadcastThrowsAfterCommit_EveryWriteAppliedAndAcknowledged()
    {
        var disk = new GatedDisk(_dir);
        var broadcast = new ThrowingBroadcast { ThrowOn = KvKey.Parse("t/1") };
        using (var store = await TestStores.OpenAsync("node-1", _dir, broadcast: broadcast, disk: () => disk))
        {
            var (first, queued) = await QueueBehindFirstAsync(store, disk, 4, i => new Write(KvKey.Parse($"t/{i}"), [new LwwSet(["v"], $"{i}")]));
            disk.Open();
            await first.WaitAsync(Bound);

            // Durable, so applied and acknowledged, each of them; the delta that could not be sent is anti-entropy's.
            var results = await Task.WhenAll(queued).WaitAsync(Bound);
            Assert.All(results, (r, i) => Assert.Equal(r, store.Get(KvKey.Parse($"t/{i}"))));
            Assert.Equal(["svc/first", "t/0", "t/2", "t/3"], broadcast.Sent.Select(k => k.ToString()));
        }

        using var reopened = await OpenAsync();
        Assert.All(Enumerable.Range(0, 4), i => Assert.Equal($"{i}", reopened.Get(KvKey.Parse($"t/{i}"))!.Value.GetLwwRegister("v")!.Value));
    }

    [Fact]
    public async Task UpdateAsync_OpsListChangedAfterTheCall_WritesWhatWasPassed()
    {
        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk);
        var ops = new List<CrdtOp> { new LwwSet(["v"], "passed") };
        var (first, queued) = await QueueBehindFirstAsync(store, disk, 1, _ => new Write(KvKey.Parse("alias"), ops));
        ops[0] = new LwwSet(["v"], "changed after the call returned");

        disk.Open();
        await first.WaitAsync(Bound);
        Assert.Equal("passed", (await queued[0].WaitAsync(Bound)).Value.GetLwwRegister("v")!.Value);
    }

    [Fact]
    public async Task UpdateAsync_CompareAndSetAfterAWriteOverAQuarantinedRowInItsBatch_LikeOneByOne()
    {
        using (var file = SqliteKvPersistence.Open(Path.Combine(_dir, "core"), "test", "node-1"))
        {
            file.Put("lock", [0x01, 0xc1], Lashup.Plugins.Core.Store.CrdtCodec.EncodeVersion(new VersionVector([KeyValuePair.Create("node-2", 4UL)])));
        }

        var disk = new GatedDisk(_dir);
        using var store = await TestStores.OpenAsync("node-1", _dir, disk: () => disk);
        Assert.Single(store.Quarantined());
        var mine = VersionVector.Empty.Increment(store.ReplicaName);
        var (first, queued) = await QueueBehindFirstAsync(store, disk, 2, i => i == 0
            ? new Write(KvKey.Parse("lock"), [new LwwSet(["v"], "w")])
            : new Write(KvKey.Parse("lock"), [new LwwSet(["v"], "cas")], mine));

        disk.Open();
        await first.WaitAsync(Bound);

        // One at a time, the write ends the quarantine and the compare-and-set against its version passes: so in a batch.
        Assert.Equal(mine, (await queued[0].WaitAsync(Bound)).Version);
        Assert.Equal("cas", (await queued[1].WaitAsync(Bound)).Value.GetLwwRegister("v")!.Value);
        Assert.Empty(store.Quarantined());
    }

    /// <summary>
    /// Starts a write whose commit is held inside the disk, then queues <paramref name="count"/> updates behind it
    /// (they cannot commit before it: the store's lock is held), and returns them all, not yet completed.
    /// </summary>
    private static async Task<(Task<KvEntry> First, List<Task<KvEntry>> Queued)> QueueBehindFirstAsync(
        KvStore store, GatedDisk disk, int count, Func<int, Write> update)
    {
        disk.Close();
        var first = Task.Run(async () => await store.UpdateAsync(KvKey.Parse("svc/first"), [new LwwSet(["v"], "first")]));
        Assert.True(disk.Entered.Wait(Bound), "the first commit never reached the disk");
        var queued = new List<Task<KvEntry>>();
        for (var i = 0; i < count; i++)
        {
            var (key, ops, expected) = update(i);
            queued.Add(store.UpdateAsync(key, ops, expected).AsTask());
        }

        Assert.Equal(count, store.QueuedCount);
        await Task.Yield();
        return (first, queued);
    }

    private Task<KvStore> OpenAsync() => TestStores.OpenAsync("node-1", _dir);

    /// <summary>One update a test queues.</summary>
    private sealed record Write(KvKey Key, IReadOnlyList<CrdtOp> Ops, VersionVector? Expected = null);

    /// <summary>Records the keys whose deltas it sends; throws for one key, as a failing multicast would.</summary>
    private sealed class ThrowingBroadcast : IKvBroadcast
    {
        public KvKey? ThrowOn { get; init; }

        public List<KvKey> Sent { get; } = [];

        public bool Delta(KvKey key, string writer, ulong counter, CrdtMap delta)
        {
            if (key == ThrowOn)
            {
                throw new InvalidOperationException("injected broadcast failure");
            }

            Sent.Add(key);
            return true;
        }

        public bool Entry(KvEntry entry, string sender) => true;
    }

    /// <summary>SQLite, with a gate that can hold the next write inside the disk and a switch that fails the next
    /// write of several rows (a batch) as a full or failing disk would; records the rows of every write that succeeded.</summary>
    private sealed class GatedDisk(string dir) : IKvPersistence
    {
        private readonly SqliteKvPersistence _inner = SqliteKvPersistence.Open(System.IO.Path.Combine(dir, "core"), "test", "node-1");
        private readonly ManualResetEventSlim _gate = new(true);
        private volatile bool _closeAfterNext;

        public ManualResetEventSlim Entered { get; } = new(false);

        public List<int> Transactions { get; } = [];

        public bool FailNextBatch { get; set; }

        public string Path => _inner.Path;

        public void Close()
        {
            Entered.Reset();
            _gate.Reset();
        }

        public void Open() => _gate.Set();

        /// <summary>Lets the write held in the disk through, and holds the next one.</summary>
        public void PassOne()
        {
            _closeAfterNext = true;
            _gate.Set();
        }

        public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll() => _inner.ReadAll();

        public void Put(string key, byte[] value, byte[] version) => Write(1, () => _inner.Put(key, value, version));

        public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta) =>
            Write(rows.Count, () => _inner.PutAll(rows, meta));

        private void Write(int rows, Action write)
        {
            Entered.Set();
            Assert.True(_gate.Wait(Bound), "the gate was never opened");
            if (_closeAfterNext)
            {
                _closeAfterNext = false;
                Close();
            }

            if (FailNextBatch && rows > 1)
            {
                FailNextBatch = false;
                throw new KvPersistenceException($"cannot write {rows} entries in {Path}: injected disk failure");
            }

            write();
            Transactions.Add(rows);
        }

        public void Delete(string key) => _inner.Delete(key);

        public void Reset(IReadOnlyList<(string Name, string Value)> meta) => _inner.Reset(meta);

        public string? GetMeta(string name) => _inner.GetMeta(name);

        public void PutMeta(string name, string value) => _inner.PutMeta(name, value);

        public void Dispose()
        {
            _inner.Dispose();
            _gate.Dispose();
            Entered.Dispose();
        }
    }
}
