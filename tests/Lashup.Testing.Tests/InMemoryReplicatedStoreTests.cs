using Lashup.Abstractions.Data;

namespace Lashup.Testing.Tests;

public sealed class InMemoryReplicatedStoreTests
{
    private static readonly KvKey Web = KvKey.Parse("lb/vips/web:80");
    private static readonly KvKey Api = KvKey.Parse("lb/vips/api:80");
    private static readonly KvKey Zone = KvKey.Parse("dns/zones/lashup.directory");

    private static CrdtOp[] AddBackend(string backend) => [new ORSetAdd(["backends"], backend)];

    [Fact]
    public async Task UpdateAsync_NewKey_AppliesOpsAndBumpsLocalVersion()
    {
        var store = new InMemoryReplicatedStore("node-1");

        var first = await store.UpdateAsync(Web, AddBackend("10.0.0.7:80"));
        var second = await store.UpdateAsync(Web, AddBackend("10.0.0.8:80"));

        Assert.Equal(1UL, first.Version["node-1"]);
        Assert.Equal(2UL, second.Version["node-1"]);
        Assert.Equal(["10.0.0.7:80", "10.0.0.8:80"], store.Get(Web)!.Value.GetORSet("backends")!.Elements);
        Assert.Null(store.Get(Api));
    }

    [Fact]
    public async Task UpdateAsync_ExpectedVersionDiffers_ThrowsConflictAndWritesNothing()
    {
        var store = new InMemoryReplicatedStore();
        var v1 = await store.UpdateAsync(Web, AddBackend("a"));
        await store.UpdateAsync(Web, AddBackend("b"));

        var e = await Assert.ThrowsAsync<KvConflictException>(() => store.UpdateAsync(Web, AddBackend("c"), v1.Version).AsTask());

        Assert.Equal(Web, e.Key);
        Assert.Equal(v1.Version, e.ExpectedVersion);
        Assert.Equal(2UL, e.Current.Version["node-1"]);
        Assert.Equal(["a", "b"], store.Get(Web)!.Value.GetORSet("backends")!.Elements);
    }

    [Fact]
    public async Task UpdateAsync_ExpectedVersionMatches_Applies()
    {
        var store = new InMemoryReplicatedStore();
        var created = await store.UpdateAsync(Web, AddBackend("a"), VersionVector.Empty);

        var updated = await store.UpdateAsync(Web, AddBackend("b"), created.Version);

        Assert.Equal(2, updated.Value.GetORSet("backends")!.Count);
        await Assert.ThrowsAsync<KvConflictException>(() => store.UpdateAsync(Web, AddBackend("c"), VersionVector.Empty).AsTask());
    }

    [Fact]
    public async Task UpdateAsync_TypeMismatchInBatch_ThrowsAndChangesNothing()
    {
        var store = new InMemoryReplicatedStore();
        var before = await store.UpdateAsync(Web, [new LwwSet(["name"], "web")]);

        await Assert.ThrowsAsync<CrdtTypeMismatchException>(() =>
            store.UpdateAsync(Web, [new ORSetAdd(["backends"], "a"), new ORSetAdd(["name"], "x")]).AsTask());

        Assert.Same(before, store.Get(Web));
    }

    [Fact]
    public async Task UpdateAsync_RootKeyTooLargeOrOverloaded_Throws()
    {
        var store = new InMemoryReplicatedStore { MaxValueBytes = 200 };

        await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(KvKey.Root, AddBackend("a")).AsTask());
        var tooLarge = await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(Web, AddBackend(new string('x', 300))).AsTask());
        Assert.Contains("the limit is 200", tooLarge.Message, StringComparison.Ordinal);
        store.Overloaded = true;
        await Assert.ThrowsAsync<KvOverloadedException>(() => store.UpdateAsync(Web, AddBackend("a")).AsTask());
        Assert.Null(store.Get(Web));
    }

    [Fact]
    public async Task List_Prefix_ReturnsNonEmptyEntriesUnderItInKeyOrder()
    {
        var store = new InMemoryReplicatedStore();
        await store.UpdateAsync(Web, AddBackend("a"));
        await store.UpdateAsync(Api, AddBackend("b"));
        await store.UpdateAsync(Zone, [new LwwSet(["soa"], "x")]);
        await store.UpdateAsync(KvKey.Parse("lb/vips/gone"), [new FlagEnable(["f"])]);
        await store.UpdateAsync(KvKey.Parse("lb/vips/gone"), [new RemoveField(["f"])]);

        Assert.Equal([Api, Web], store.List(KvKey.Parse("lb/vips")).Select(e => e.Key));
        Assert.Equal(3, store.List(KvKey.Root).Count);
        Assert.True(store.Get(KvKey.Parse("lb/vips/gone"))!.IsEmpty);
    }

    [Fact]
    public async Task WatchAsync_ExistingEntries_SnapshotThenCompleteThenChangesInOrder()
    {
        var store = new InMemoryReplicatedStore();
        await store.UpdateAsync(Web, AddBackend("a"));
        await store.UpdateAsync(Zone, [new LwwSet(["soa"], "x")]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = store.WatchAsync(KvKey.Parse("lb"), cts.Token).GetAsyncEnumerator(cts.Token);

        var snapshot = await Next(watch);
        Assert.Equal(KvChangeKind.Snapshot, snapshot.Kind);
        Assert.Equal(Web, snapshot.Entry!.Key);
        Assert.Same(KvChange.SnapshotComplete, await Next(watch));

        await store.UpdateAsync(Zone, [new LwwSet(["soa"], "y")]);
        await store.UpdateAsync(Api, AddBackend("b"));
        await store.UpdateAsync(Web, [new RemoveField(["backends"])]);

        var api = await Next(watch);
        Assert.Equal((KvChangeKind.Updated, Api), (api.Kind, api.Entry!.Key));
        var deleted = await Next(watch);
        Assert.Equal(Web, deleted.Entry!.Key);
        Assert.True(deleted.Entry.IsEmpty);
    }

    [Fact]
    public async Task WatchAsync_EmptyStore_SendsSnapshotComplete()
    {
        var store = new InMemoryReplicatedStore();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);

        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);
    }

    [Fact]
    public async Task WatchAsync_SlowWatcher_GetsLatestValuePerKeyCoalesced()
    {
        var store = new InMemoryReplicatedStore();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);

        for (var i = 0; i < 1000; i++)
        {
            await store.UpdateAsync(Web, [new CounterAdd(["n"], 1)]);
            await store.UpdateAsync(Api, [new CounterAdd(["n"], 2)]);
        }

        await store.UpdateAsync(Zone, [new FlagEnable(["end"])]);

        var received = new List<KvChange>();
        do
        {
            received.Add(await Next(watch));
        }
        while (received[^1].Entry!.Key != Zone);

        Assert.Equal([Web, Api, Zone], received.Select(c => c.Entry!.Key));
        Assert.Equal(1000, received[0].Entry!.Value.GetPnCounter("n")!.Value);
        Assert.Equal(2000, received[1].Entry!.Value.GetPnCounter("n")!.Value);
        Assert.Equal(1000UL, received[0].Entry!.Version["node-1"]);
    }

    [Fact]
    public async Task WatchAsync_Cancelled_EndsAndUnregisters()
    {
        var store = new InMemoryReplicatedStore();
        using var cts = new CancellationTokenSource();
        var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);
        Assert.Equal(1, store.WatcherCount);

        var pending = watch.MoveNextAsync().AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
        await watch.DisposeAsync();
        Assert.Equal(0, store.WatcherCount);
    }

    [Fact]
    public async Task ApplyRemote_OtherNodeWrites_WatcherSeesMergedChange()
    {
        var store = new InMemoryReplicatedStore("node-1");
        await store.UpdateAsync(Web, AddBackend("local"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = store.WatchAsync(Web, cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);
        await Next(watch);

        var entry = store.ApplyRemote("node-2", Web, AddBackend("remote"));

        var change = await Next(watch);
        Assert.Equal(["local", "remote"], change.Entry!.Value.GetORSet("backends")!.Elements);
        Assert.Equal(1UL, entry.Version["node-2"]);
        Assert.Equal(1UL, entry.Version["node-1"]);
    }

    [Fact]
    public async Task MergeRemote_ConcurrentRemoveFromPeer_LocalConcurrentAddWins()
    {
        var node1 = new InMemoryReplicatedStore("node-1");
        var node2 = new InMemoryReplicatedStore("node-2");
        node2.MergeRemote(await node1.UpdateAsync(Web, AddBackend("a")));

        // node-2 removes "a" while node-1 adds "a" again, concurrently.
        var removed = await node2.UpdateAsync(Web, [new ORSetRemove(["backends"], "a")]);
        await node1.UpdateAsync(Web, AddBackend("a"));

        var merged = node1.MergeRemote(removed);

        Assert.Equal(["a"], merged.Value.GetORSet("backends")!.Elements);
        Assert.Equal([("node-1", 2UL), ("node-2", 1UL)], merged.Version.Entries.Select(e => (e.Key, e.Value)));
        Assert.Same(merged, node1.MergeRemote(removed));
        Assert.Empty(node2.MergeRemote(merged).Value.GetORSet("backends")!.Elements.Except(["a"]));
    }

    [Fact]
    public void MergeRemote_HandMadeValue_Throws()
    {
        var store = new InMemoryReplicatedStore();
        var fake = NSubstitute.Substitute.For<IMapValue>();

        Assert.Throws<ArgumentException>(() => store.MergeRemote(new KvEntry(Web, fake, VersionVector.Empty)));
    }

    [Fact]
    public async Task WatchAsync_ReadmeExample_SeesTheBackends()
    {
        IReplicatedStore store = new InMemoryReplicatedStore();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ct = cts.Token;
        var seen = new List<string>();
        void Reprogram(KvKey key, IEnumerable<string> backends) => seen.AddRange(backends.Select(b => $"{key} {b}"));

        var key = KvKey.Parse("lb/vips/web:80");
        await store.UpdateAsync(key, [new ORSetAdd(["backends"], "10.0.0.7:80"), new LwwSet(["protocol"], "tcp")]);
        await foreach (var change in store.WatchAsync(KvKey.Parse("lb/vips"), ct))
        {
            if (change.Entry is { } entry) Reprogram(entry.Key, entry.Value.GetORSet("backends")?.Elements ?? []);
            if (change.Kind == KvChangeKind.SnapshotComplete) break;
        }

        Assert.Equal(["lb/vips/web:80 10.0.0.7:80"], seen);
    }

    private static async Task<KvChange> Next(IAsyncEnumerator<KvChange> watch)
    {
        Assert.True(await watch.MoveNextAsync());
        return watch.Current;
    }
}
