using Lashup.Abstractions.Data;

namespace Lashup.TestSupport.Conformance;

/// <summary>
/// What every <see cref="IReplicatedStore"/> does, as its documentation says: the core's store (SQLite, in
/// Lashup.Plugins.Core.Tests) and the plugin authors' in-memory store (Lashup.Testing.Tests) both derive from this class
/// and pass the same tests, so a plugin tested against the kit meets the same store in a cluster.
/// </summary>
public abstract class ReplicatedStoreConformance
{
    private static readonly KvKey Web = KvKey.Parse("lb/vips/web:80");
    private static readonly KvKey Api = KvKey.Parse("lb/vips/api:80");
    private static readonly KvKey Zone = KvKey.Parse("dns/zones/lashup.directory");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>An empty, started store of the node <paramref name="replica"/>.</summary>
    /// <param name="replica">The node's name (its updates are counted under <see cref="ReplicaOf"/>).</param>
    /// <param name="maxValueBytes">Its value size limit: values larger than this (encoded, give or take a few bytes) are refused.</param>
    /// <returns>The store; the derived class disposes it after the test.</returns>
    protected abstract Task<IReplicatedStore> CreateStoreAsync(string replica, int maxValueBytes);

    /// <summary>
    /// Anti-entropy of one key: merges what <paramref name="from"/> holds of <paramref name="key"/> (its whole entry, an
    /// emptied one included: value and version) into <paramref name="to"/>, as one node's store merges another's.
    /// </summary>
    protected abstract void Sync(IReplicatedStore from, IReplicatedStore to, KvKey key);

    /// <summary>
    /// The name <paramref name="store"/> counts its own updates under in versions: the kit's replica name, the core's
    /// store identity (the node name and the incarnation drawn when its store file was created, <c>node-1~5f0c...</c>).
    /// </summary>
    protected abstract string ReplicaOf(IReplicatedStore store);

    private Task<IReplicatedStore> CreateStoreAsync(string replica = "node-1") => CreateStoreAsync(replica, 1 << 20);

    private static CrdtOp[] AddBackend(string backend) => [new ORSetAdd(["backends"], backend)];

    // ---- updates ----

    [Fact]
    public async Task Update_NewKey_AppliesEveryOpBumpsOwnVersionAndReadsBack()
    {
        var store = await CreateStoreAsync("node-1");

        var entry = await store.UpdateAsync(Web, [new ORSetAdd(["backends"], "10.0.0.7:80"), new LwwSet(["owner"], "alice"), new CounterAdd(["n"], 2)]);

        Assert.Equal(Web, entry.Key);
        Assert.Equal(["10.0.0.7:80"], entry.Value.GetORSet("backends")!.Elements);
        Assert.Equal("alice", entry.Value.GetLwwRegister("owner")!.Value);
        Assert.Equal(2, entry.Value.GetPnCounter("n")!.Value);
        Assert.Equal([(ReplicaOf(store), 1UL)], entry.Version.Entries.Select(e => (e.Key, e.Value)));
        Assert.Equal(entry, store.Get(Web));
        Assert.Equal(2UL, (await store.UpdateAsync(Web, AddBackend("10.0.0.8:80"))).Version[ReplicaOf(store)]);
    }

    [Fact]
    public async Task Update_ReturnedEntry_IsASnapshotLaterUpdatesDoNotChange()
    {
        var store = await CreateStoreAsync();
        var first = await store.UpdateAsync(Web, AddBackend("a"));

        await store.UpdateAsync(Web, [new ORSetAdd(["backends"], "b"), new RemoveField(["owner"])]);

        Assert.Equal(["a"], first.Value.GetORSet("backends")!.Elements);
        Assert.Equal(1UL, first.Version[ReplicaOf(store)]);
    }

    [Fact]
    public async Task Update_BatchWithMismatchedOp_ThrowsAndWritesNothing()
    {
        var store = await CreateStoreAsync();
        var before = await store.UpdateAsync(Web, [new LwwSet(["name"], "web")]);
        var bad = new ORSetAdd(["name"], "x");

        var e = await Assert.ThrowsAsync<CrdtTypeMismatchException>(() =>
            store.UpdateAsync(Web, [new ORSetAdd(["backends"], "a"), bad, new FlagEnable(["on"])]).AsTask());

        Assert.Equal(bad, e.Op);
        Assert.Equal((CrdtType.LwwRegister, CrdtType.ORSet), (e.ActualType, e.ExpectedType));
        Assert.Equal(before, store.Get(Web));
        Assert.Null(store.Get(Web)!.Value.GetORSet("backends"));
    }

    [Fact]
    public async Task Update_PathThroughAFieldThatIsNotAMap_ThrowsAndWritesNothing()
    {
        var store = await CreateStoreAsync();
        var before = await store.UpdateAsync(Web, [new FlagEnable(["f"])]);

        var e = await Assert.ThrowsAsync<CrdtTypeMismatchException>(() => store.UpdateAsync(Web, [new LwwSet(["f", "x"], "y")]).AsTask());

        Assert.Equal("f", Assert.Single(e.Path));
        Assert.Equal(before, store.Get(Web));
    }

    [Fact]
    public async Task Update_CounterWouldLeaveItsRange_RefusedAsInvalidAndBatchWritesNothing()
    {
        var store = await CreateStoreAsync();
        await store.UpdateAsync(Web, [new CounterAdd(["pn"], long.MaxValue), new GCounterAdd(["g"], ulong.MaxValue)]);

        await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(Web, [new LwwSet(["x"], "y"), new CounterAdd(["pn"], 1)]).AsTask());
        await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(Web, [new GCounterAdd(["g"], 1)]).AsTask());

        var entry = store.Get(Web)!;
        Assert.Equal(long.MaxValue, entry.Value.GetPnCounter("pn")!.Value);
        Assert.Equal(ulong.MaxValue, entry.Value.GetGCounter("g")!.Value);
        Assert.Null(entry.Value.GetLwwRegister("x"));
        Assert.Equal(1UL, entry.Version[ReplicaOf(store)]);
        Assert.Equal(long.MinValue + 1, (await store.UpdateAsync(Api, [new CounterAdd(["pn"], long.MinValue + 1)])).Value.GetPnCounter("pn")!.Value);
    }

    [Fact]
    public async Task Update_CompareAndSet_AppliesOnlyAtTheExpectedVersion()
    {
        var store = await CreateStoreAsync();
        var created = await store.UpdateAsync(Web, AddBackend("a"), VersionVector.Empty);
        var updated = await store.UpdateAsync(Web, AddBackend("b"), created.Version);

        var e = await Assert.ThrowsAsync<KvConflictException>(() => store.UpdateAsync(Web, AddBackend("c"), created.Version).AsTask());

        Assert.Equal(Web, e.Key);
        Assert.Equal(created.Version, e.ExpectedVersion);
        Assert.Equal(updated, e.Current);
        Assert.Equal(updated, store.Get(Web));
        await Assert.ThrowsAsync<KvConflictException>(() => store.UpdateAsync(Web, AddBackend("c"), VersionVector.Empty).AsTask());
    }

    [Fact]
    public async Task Update_CompareAndSetOnANeverWrittenKey_ConflictCarriesAnEmptyEntry()
    {
        var store = await CreateStoreAsync();

        var e = await Assert.ThrowsAsync<KvConflictException>(() =>
            store.UpdateAsync(Web, AddBackend("a"), new VersionVector([KeyValuePair.Create(ReplicaOf(store), 1UL)])).AsTask());

        Assert.True(e.Current.IsEmpty);
        Assert.True(e.Current.Version.IsEmpty);
        Assert.Null(store.Get(Web));
    }

    [Fact]
    public async Task Update_EmptyOps_WritesNothingAndReturnsTheCurrentEntryAfterTheCheck()
    {
        var store = await CreateStoreAsync();
        var current = await store.UpdateAsync(Web, AddBackend("a"));

        Assert.Equal(current, await store.UpdateAsync(Web, []));
        Assert.Equal(current, await store.UpdateAsync(Web, [], current.Version));
        await Assert.ThrowsAsync<KvConflictException>(() => store.UpdateAsync(Web, [], VersionVector.Empty).AsTask());
        var none = await store.UpdateAsync(Api, []);
        Assert.True(none.IsEmpty && none.Version.IsEmpty);
        Assert.Null(store.Get(Api));
        Assert.Equal(current, store.Get(Web));
    }

    [Fact]
    public async Task Update_OpsThatChangeNothing_LeaveTheVersion()
    {
        var store = await CreateStoreAsync();
        var current = await store.UpdateAsync(Web, AddBackend("a"));

        var after = await store.UpdateAsync(Web, [new ORSetRemove(["backends"], "absent"), new FlagDisable(["missing"]), new RemoveField(["missing"])]);

        Assert.Equal(current, after);
        Assert.Equal(1UL, store.Get(Web)!.Version[ReplicaOf(store)]);
    }

    public static TheoryData<string, string, IReadOnlyList<CrdtOp>> Invalid() => new()
    {
        { "the root key", "", [new FlagEnable(["f"])] },
        { "a reserved key", "lashup/prune/node-9", [new FlagEnable(["f"])] },
        { "a null op", "a", [new FlagEnable(["f"]), null!] },
        { "too many ops", "a", [.. Enumerable.Range(0, KvLimits.MaxOpsPerUpdate + 1).Select(i => new FlagEnable([$"f{i}"]))] },
        { "too deep a path", "a", [new FlagEnable([.. Enumerable.Range(0, KvLimits.MaxPathSegments + 1).Select(i => $"m{i}")])] },
        { "too long a field name", "a", [new FlagEnable([new string('f', KvLimits.MaxFieldNameBytes + 1)])] },
        { "a control character in a field name", "a", [new FlagEnable(["f\n"])] },
        { "a lone surrogate in an element", "a", [new ORSetAdd(["s"], "x\uD800")] },
        { "a lone surrogate in a register", "a", [new LwwSet(["r"], "\uDC00")] },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task Update_BreaksALimit_RefusedAsInvalidAndWritesNothing(string what, string key, IReadOnlyList<CrdtOp> ops)
    {
        var store = await CreateStoreAsync();
        var target = key.Length == 0 ? KvKey.Root : KvKey.Parse(key);

        await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(target, ops).AsTask());

        Assert.True(target.IsRoot || store.Get(target) is null, what);
        Assert.Empty(store.List(KvKey.Root));
    }

    [Fact]
    public async Task Update_ValueOverTheSizeLimit_RefusedAsInvalidAndWritesNothing()
    {
        var store = await CreateStoreAsync("node-1", maxValueBytes: 4096);
        await store.UpdateAsync(Web, [new LwwSet(["small"], new string('x', 100))]);

        var e = await Assert.ThrowsAsync<KvValidationException>(() => store.UpdateAsync(Web, [new LwwSet(["big"], new string('x', 10_000))]).AsTask());

        Assert.Equal(Web, e.Key);
        Assert.Null(store.Get(Web)!.Value.GetLwwRegister("big"));
        Assert.Equal(1UL, store.Get(Web)!.Version[ReplicaOf(store)]);
    }

    [Fact]
    public async Task Update_AlreadyCancelled_ThrowsAndWritesNothing()
    {
        var store = await CreateStoreAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.UpdateAsync(Web, AddBackend("a"), null, cts.Token).AsTask());

        Assert.Null(store.Get(Web));
    }

    // ---- reads ----

    [Fact]
    public async Task Get_NeverWrittenKey_IsNull()
    {
        var store = await CreateStoreAsync();
        await store.UpdateAsync(Web, AddBackend("a"));

        Assert.Null(store.Get(Api));
        Assert.Null(store.Get(KvKey.Parse("lb/vips")));
    }

    [Fact]
    public async Task Get_EmptiedKey_ReturnsItEmptyWithItsVersionSoACompareAndSetCanRecreateIt()
    {
        var store = await CreateStoreAsync();
        await store.UpdateAsync(Web, [new ORSetAdd(["backends"], "a"), new LwwSet(["owner"], "alice")]);
        await store.UpdateAsync(Web, [new RemoveField(["backends"]), new RemoveField(["owner"])]);

        var emptied = store.Get(Web);

        Assert.NotNull(emptied);
        Assert.True(emptied.IsEmpty);
        Assert.Empty(emptied.Value.Fields);
        Assert.Equal(2UL, emptied.Version[ReplicaOf(store)]);
        Assert.Empty(store.List(KvKey.Root));
        var recreated = await store.UpdateAsync(Web, AddBackend("b"), emptied.Version);
        Assert.Equal(["b"], recreated.Value.GetORSet("backends")!.Elements);
    }

    [Fact]
    public async Task List_Prefix_NonEmptyEntriesUnderItSegmentBySegmentInKeyOrder()
    {
        var store = await CreateStoreAsync();
        foreach (var key in new[] { "lb/vips/web:80", "lb/vipsx/a", "lb/vips/api:80", "lb/vips", "dns/zones/z", "lb/vips/gone", "lb/vips/web:80/x" })
        {
            await store.UpdateAsync(KvKey.Parse(key), [new FlagEnable(["f"])]);
        }

        await store.UpdateAsync(KvKey.Parse("lb/vips/gone"), [new RemoveField(["f"])]);

        Assert.Equal(["lb/vips", "lb/vips/api:80", "lb/vips/web:80", "lb/vips/web:80/x"], store.List(KvKey.Parse("lb/vips")).Select(e => e.Key.ToString()));
        Assert.Equal(["dns/zones/z", "lb/vips", "lb/vips/api:80", "lb/vips/web:80", "lb/vips/web:80/x", "lb/vipsx/a"], store.List(KvKey.Root).Select(e => e.Key.ToString()));
        Assert.Empty(store.List(KvKey.Parse("nothing")));
    }

    [Fact]
    public async Task Values_RenderAsJson_WhatAReaderSees()
    {
        var store = await CreateStoreAsync();

        var entry = await store.UpdateAsync(Web,
        [
            new ORSetAdd(["backends"], "10.0.0.7:80"), new LwwSet(["owner"], "alice"), new CounterAdd(["n"], -2),
            new GCounterAdd(["hits"], 3), new FlagEnable(["on"]), new MvSet(["mv"], "v"), new LwwSet(["m", "cleared"], null),
        ]);

        Assert.Equal("""{"backends":["10.0.0.7:80"],"hits":3,"m":{"cleared":null},"mv":["v"],"n":-2,"on":true,"owner":"alice"}""", CrdtJson.ToJsonString(entry.Value));
    }

    // ---- replicas ----

    [Fact]
    public async Task Sync_ConcurrentAddAndRemove_AddWinsOnBothAndVersionsMeet()
    {
        var a = await CreateStoreAsync("node-a");
        var b = await CreateStoreAsync("node-b");
        await a.UpdateAsync(Web, AddBackend("x"));
        Sync(a, b, Web);

        await b.UpdateAsync(Web, [new ORSetRemove(["backends"], "x"), new LwwSet(["owner"], "b")]);
        await a.UpdateAsync(Web, AddBackend("x"));
        Sync(a, b, Web);
        Sync(b, a, Web);

        Assert.Equal(["x"], a.Get(Web)!.Value.GetORSet("backends")!.Elements);
        Assert.Equal(a.Get(Web)!.Version, b.Get(Web)!.Version);
        Assert.Equal(CrdtJson.ToJsonString(a.Get(Web)!.Value), CrdtJson.ToJsonString(b.Get(Web)!.Value));
        Assert.Equal([(ReplicaOf(a), 2UL), (ReplicaOf(b), 1UL)], a.Get(Web)!.Version.Entries.Select(e => (e.Key, e.Value)));
    }

    [Fact]
    public async Task Sync_ConcurrentCounterAddsPastTheRange_SaturateNeverWrap()
    {
        var a = await CreateStoreAsync("node-a");
        var b = await CreateStoreAsync("node-b");
        await a.UpdateAsync(Web, [new CounterAdd(["pn"], long.MaxValue), new CounterAdd(["neg"], long.MinValue), new GCounterAdd(["g"], ulong.MaxValue)]);
        await b.UpdateAsync(Web, [new CounterAdd(["pn"], long.MaxValue), new CounterAdd(["neg"], long.MinValue), new GCounterAdd(["g"], ulong.MaxValue)]);

        Sync(a, b, Web);
        Sync(b, a, Web);

        foreach (var store in new[] { a, b })
        {
            var value = store.Get(Web)!.Value;
            Assert.Equal(long.MaxValue, value.GetPnCounter("pn")!.Value);
            Assert.Equal(long.MinValue, value.GetPnCounter("neg")!.Value);
            Assert.Equal(ulong.MaxValue, value.GetGCounter("g")!.Value);
        }

        await Assert.ThrowsAsync<KvValidationException>(() => a.UpdateAsync(Web, [new CounterAdd(["pn"], -1)]).AsTask());
    }

    [Fact]
    public async Task Sync_RemoteUpdate_LaterCompareAndSetNeedsTheMergedVersion()
    {
        var a = await CreateStoreAsync("node-a");
        var b = await CreateStoreAsync("node-b");
        var seen = await a.UpdateAsync(Web, AddBackend("x"));
        await b.UpdateAsync(Web, AddBackend("y"));

        Sync(b, a, Web);

        var e = await Assert.ThrowsAsync<KvConflictException>(() => a.UpdateAsync(Web, AddBackend("z"), seen.Version).AsTask());
        Assert.Equal(1UL, e.Current.Version[ReplicaOf(b)]);
        await a.UpdateAsync(Web, AddBackend("z"), e.Current.Version);
    }

    [Fact]
    public async Task Sync_RemovalFromAPeer_EmptiesTheKeyHereTooAndGetStillReturnsIt()
    {
        var a = await CreateStoreAsync("node-a");
        var b = await CreateStoreAsync("node-b");
        await a.UpdateAsync(Web, AddBackend("x"));
        Sync(a, b, Web);
        await b.UpdateAsync(Web, [new RemoveField(["backends"])]);

        Sync(b, a, Web);

        Assert.True(a.Get(Web)!.IsEmpty);
        Assert.Equal(1UL, a.Get(Web)!.Version[ReplicaOf(b)]);
        Assert.Empty(a.List(KvKey.Root));
    }

    // ---- watches ----

    [Fact]
    public async Task Watch_ExistingEntries_SnapshotInKeyOrderThenCompleteThenEachChangeInOrder()
    {
        var store = await CreateStoreAsync();
        await store.UpdateAsync(Web, AddBackend("a"));
        await store.UpdateAsync(Api, AddBackend("b"));
        await store.UpdateAsync(KvKey.Parse("lb/vips/gone"), [new FlagEnable(["f"])]);
        await store.UpdateAsync(KvKey.Parse("lb/vips/gone"), [new RemoveField(["f"])]);
        await store.UpdateAsync(Zone, [new LwwSet(["soa"], "x")]);
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = store.WatchAsync(KvKey.Parse("lb"), cts.Token).GetAsyncEnumerator(cts.Token);

        var first = await Next(watch);
        var second = await Next(watch);
        Assert.Equal((KvChangeKind.Snapshot, Api), (first.Kind, first.Entry!.Key));
        Assert.Equal((KvChangeKind.Snapshot, Web), (second.Kind, second.Entry!.Key));
        Assert.True(first.IsSnapshot);
        var complete = await Next(watch);
        Assert.Equal(KvChangeKind.SnapshotComplete, complete.Kind);
        Assert.Null(complete.Entry);

        await store.UpdateAsync(Zone, [new LwwSet(["soa"], "y")]);
        await store.UpdateAsync(Web, AddBackend("c"));
        Assert.Equal(["a", "c"], (await Next(watch)).Entry!.Value.GetORSet("backends")!.Elements);
        await store.UpdateAsync(Web, [new RemoveField(["backends"])]);
        var deleted = await Next(watch);

        Assert.Equal((KvChangeKind.Updated, Web), (deleted.Kind, deleted.Entry!.Key));
        Assert.True(deleted.Entry.IsEmpty);
        Assert.Equal(3UL, deleted.Entry.Version[ReplicaOf(store)]);
    }

    [Fact]
    public async Task Watch_EmptyStore_SendsSnapshotCompleteFirst()
    {
        var store = await CreateStoreAsync();
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);

        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);
    }

    [Fact]
    public async Task Watch_SlowWatcher_GetsTheLatestValueOfEachKeyInFirstChangedOrder()
    {
        var store = await CreateStoreAsync();
        using var cts = new CancellationTokenSource(Patience * 3);
        await using var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);

        for (var i = 0; i < 500; i++)
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
        Assert.All(received, c => Assert.Equal(KvChangeKind.Updated, c.Kind));
        Assert.Equal(500, received[0].Entry!.Value.GetPnCounter("n")!.Value);
        Assert.Equal(1000, received[1].Entry!.Value.GetPnCounter("n")!.Value);
        Assert.Equal(500UL, received[0].Entry!.Version[ReplicaOf(store)]);
    }

    [Fact]
    public async Task Watch_ChangeMergedFromAPeer_IsDeliveredLikeALocalOne()
    {
        var a = await CreateStoreAsync("node-a");
        var b = await CreateStoreAsync("node-b");
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = a.WatchAsync(Web, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);

        await b.UpdateAsync(Web, AddBackend("remote"));
        Sync(b, a, Web);

        var change = await Next(watch);
        Assert.Equal(KvChangeKind.Updated, change.Kind);
        Assert.Equal(["remote"], change.Entry!.Value.GetORSet("backends")!.Elements);
        Assert.Equal(1UL, change.Entry.Version[ReplicaOf(b)]);
    }

    [Fact]
    public async Task Watch_TwoWatchers_EachGetsEveryChangeOfItsPrefix()
    {
        var store = await CreateStoreAsync();
        using var cts = new CancellationTokenSource(Patience);
        await using var lb = store.WatchAsync(KvKey.Parse("lb"), cts.Token).GetAsyncEnumerator(cts.Token);
        await using var all = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(lb);
        await Next(all);

        await store.UpdateAsync(Zone, [new FlagEnable(["f"])]);
        await store.UpdateAsync(Web, [new FlagEnable(["f"])]);

        Assert.Equal(Web, (await Next(lb)).Entry!.Key);
        Assert.Equal(Zone, (await Next(all)).Entry!.Key);
        Assert.Equal(Web, (await Next(all)).Entry!.Key);
    }

    [Fact]
    public async Task Watch_Cancelled_EndsWithOperationCanceledAndTheStoreGoesOn()
    {
        var store = await CreateStoreAsync();
        using var cts = new CancellationTokenSource();
        var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal(KvChangeKind.SnapshotComplete, (await Next(watch)).Kind);

        var pending = watch.MoveNextAsync().AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience));
        await watch.DisposeAsync();
        for (var i = 0; i < 100; i++)
        {
            await store.UpdateAsync(Web, [new CounterAdd(["n"], 1)]);
        }

        Assert.Equal(100, store.Get(Web)!.Value.GetPnCounter("n")!.Value);
    }

    private static async Task<KvChange> Next(IAsyncEnumerator<KvChange> watch)
    {
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Patience), "the watch ended");
        return watch.Current;
    }
}
