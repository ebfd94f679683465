using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// One replica's side of departed-replica pruning, on the SQLite store, with membership's departure record driven by
/// the test: reserved marker keys, the owner's collapse, cleanup (and remove translation) of what it holds and merges
/// once a prune of a departed replica is performed, dropped deltas of departed replicas, marker expiry and retirement,
/// this replica's identity (discarded when it is recorded as departed), and all of it across a restart.
/// </summary>
public sealed class KvStorePruningTests : IDisposable
{
    private const string Removed = "node-9";
    private const string Owner = "node-2";
    private static readonly KvKey Key = KvKey.Parse("lb/vips/web:80");
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-prune-").FullName;
    private readonly ManualTime _time = new();
    private readonly TestDepartures _departures = new TestDepartures().Depart(Removed);
    private readonly CapturingBroadcast _broadcast = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Update_MarkerKey_RefusedAsReserved()
    {
        using var store = await OpenAsync();

        var e = await Assert.ThrowsAsync<KvValidationException>(async () =>
            await store.UpdateAsync(KvKey.Parse("lashup/prune/node-3"), [new LwwSet(["performed"], "x")]));

        Assert.Contains("reserved", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListAndWatch_RootPrefix_HideMarkersUnlessAsked()
    {
        using var store = await OpenAsync();
        await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "a")]);
        store.UpdateMarker(Removed, [new LwwSet([PruneMarker.Fields.Started], Owner)]);

        Assert.Equal([Key], store.List(KvKey.Root).Select(e => e.Key));
        Assert.Equal([PruneMarker.KeyOf(Removed)], store.List(PruneMarker.Prefix).Select(e => e.Key));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var all = new List<KvChange>();
        await foreach (var change in store.WatchAsync(KvKey.Root, cts.Token))
        {
            if (change.Kind == KvChangeKind.SnapshotComplete)
            {
                break;
            }

            all.Add(change);
        }

        Assert.Equal([Key], all.Select(c => c.Entry!.Key));
    }

    [Fact]
    public async Task Collapse_KeyNamingRemovedReplica_SameValueWithoutReplicaAsOwnersUpdate()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);

        var moves = store.Collapse(Removed)!;

        var entry = store.Get(Key)!;
        Assert.Equal(value.ToString(), entry.Value.ToString());
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]); // until the marker is applied
        Assert.Equal(1UL, entry.Version[store.ReplicaName]);
        Assert.Empty(_broadcast.Deltas); // a collapsed key travels as an entry, never as a delta
        Assert.Equal(Key, Assert.Single(_broadcast.Entries).Entry.Key);
        Assert.Equal(4, moves[Key].Count); // the two elements' dots and the two fields' presence dots, each replaced by a fresh dot of this replica
        Assert.All(moves[Key], m => Assert.Equal(store.ReplicaName, Assert.Single(m.Value).Replica));
    }

    [Fact]
    public async Task PerformedMarker_Merged_CleansHeldKeysAndDropsLaterDeltasOfReplica()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, value, version);
        store.MergeEntry(Key, collapsed, version.Without(Removed).Increment(Owner));

        store.MergeEntry(PruneMarker.KeyOf(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));

        var entry = store.Get(Key)!;
        Assert.True(store.Pruned.ContainsKey(Removed));
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(collapsed, entry.Value);
        Assert.Equal(["x", "y"], entry.Value.GetORSet("backends")!.Elements);
        Assert.Equal(5, entry.Value.GetPnCounter("hits")!.Value);
        var late = value.Apply([new ORSetAdd(["backends"], "z")], Removed, 3).Delta;
        Assert.False(store.MergeDelta(Key, Removed, version[Removed] + 1, late));
        Assert.Equal(1, store.Stats.PrunedDeltasDropped);
        Assert.DoesNotContain("z", store.Get(Key)!.Value.GetORSet("backends")!.Elements);
    }

    /// <summary>
    /// A performed marker is applied only for a replica membership recorded as departed: one for a live replica (a
    /// forged marker, or one from an isolated node's mistaken view) is not, and that replica's deltas merge as usual.
    /// </summary>
    [Fact]
    public async Task PerformedMarker_ReplicaNotDeparted_RefusedUntilMembershipRecordsItThenAppliedAndKeptAcrossRestart()
    {
        const string live = "node-8";
        var (value, version) = RemovedReplicasWrites(live);
        using (var store = await OpenAsync())
        {
            store.MergeEntry(Key, value, version);
            store.MergeEntry(PruneMarker.KeyOf(live), PerformedMarker([], live), new VersionVector([new(Owner, 1UL)]));
            Assert.False(store.Pruned.ContainsKey(live));
            Assert.True(store.Get(Key)!.Map.Mentions(live));
            Assert.True(store.MergeDelta(Key, live, version[live] + 1, value.Apply([new ORSetAdd(["backends"], "z")], live, 3).Delta));

            _departures.Depart(live);
            store.SyncDepartures();
            Assert.True(store.Pruned.ContainsKey(live));
            Assert.False(store.GetRaw(Key)!.Map.Mentions(live));
            Assert.False(store.MergeDelta(Key, live, version[live] + 2, value.Apply([new ORSetAdd(["backends"], "w")], live, 4).Delta));
        }

        using var reopened = await OpenAsync();
        Assert.True(reopened.Pruned.ContainsKey(live));
    }

    [Fact]
    public async Task Cleanup_WriteFailsOnce_RetriedOnNextTickUntilNoKeyNamesReplica()
    {
        var disk = new Lashup.Simulator.InMemoryKvPersistence("memory:node-1");
        using var store = await TestStores.OpenAsync(
            "node-1", _dir, new CoreOptions { ExpireAfter = new Duration(TimeSpan.FromHours(24)), PruneMarkerTtl = new Duration(TimeSpan.FromHours(48)) },
            _time, _departures, _broadcast, () => disk);
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, value, version);
        store.MergeEntry(Key, collapsed, version.Without(Removed).Increment(Owner));

        disk.FailPut = key => key == Key.ToString();
        store.MergeEntry(PruneMarker.KeyOf(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));
        Assert.True(store.Pruned.ContainsKey(Removed));
        Assert.True(store.Get(Key)!.Map.Mentions(Removed)); // the cleanup could not be written

        store.RetryCleanup();
        Assert.True(store.Get(Key)!.Map.Mentions(Removed)); // still failing

        disk.FailPut = null;
        store.RetryCleanup();
        Assert.False(store.Get(Key)!.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, store.Get(Key)!.Version[Removed]); // the tombstone, until the marker is deleted
        Assert.Equal(collapsed, store.Get(Key)!.Value);
    }

    [Fact]
    public async Task MergeEntry_StaleReplicaRemovedMovedElement_RemoveTranslatedNotUndone()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, collapsed, version.Without(Removed).Increment(Owner));
        store.MergeEntry(PruneMarker.KeyOf(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));

        // A replica cut off through the prune removed "x" (the removed replica's dot), never having seen the collapse.
        var (stale, _) = value.Apply([new ORSetRemove(["backends"], "x")], "node-5", 4);
        Assert.True(store.MergeEntry(Key, stale, version.Increment("node-5")));

        var entry = store.Get(Key)!;
        Assert.Equal(["y"], entry.Value.GetORSet("backends")!.Elements);
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]);
        Assert.Equal(1, store.Stats.RemovesTranslated);
    }

    /// <summary>
    /// Membership records this replica as departed (the node was cut off for expire_after while a majority went on):
    /// what it holds is stale, so it discards it (every key, every marker), tells watchers, and starts over under a new
    /// identity, which its next write and its delta carry; the old identity is announced as superseded; a restart
    /// keeps the new one.
    /// </summary>
    [Fact]
    public async Task OwnReplicaDeparted_ReplicaDiscardedAndWritesGoUnderANewIdentity()
    {
        string next;
        using (var store = await OpenAsync())
        {
            var old = store.ReplicaName;
            await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "written-alone")]);
            store.MergeEntry(KvKey.Parse("dns/a"), RemovedReplicasWrites().Value, RemovedReplicasWrites().Version);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var watch = store.WatchAsync(KvKey.Root, cts.Token).GetAsyncEnumerator(cts.Token);
            while (await watch.MoveNextAsync() && watch.Current.Kind != KvChangeKind.SnapshotComplete)
            {
            }

            _departures.Depart(old);
            store.SyncDepartures();

            next = store.ReplicaName;
            Assert.NotEqual(old, next);
            Assert.StartsWith("node-1~", next, StringComparison.Ordinal);
            Assert.Empty(store.List(KvKey.Root));
            Assert.Contains((next, old), _departures.Published);
            Assert.Equal(1, store.Stats.ReplicaDiscards);
            Assert.True(await watch.MoveNextAsync());
            Assert.True(watch.Current.Entry!.IsEmpty); // watchers see the keys emptied (then refilled by anti-entropy)

            var written = await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "after")]);
            Assert.Equal(new VersionVector([new(next, 1UL)]), written.Version);
            var (key, writer, counter, _) = _broadcast.Deltas[^1];
            Assert.Equal((Key, next, 1UL), (key, writer, counter));
        }

        using var reopened = await OpenAsync();
        Assert.Equal(next, reopened.ReplicaName);
        Assert.Equal(["after"], reopened.Get(Key)!.Value.GetORSet("backends")!.Elements);
    }

    /// <summary>
    /// A store file of an earlier build has no identity row: it wrote under the node name, which it keeps. One that was
    /// still in that build's new-store hold ("fresh") never wrote under the name, and the cluster may hold an earlier
    /// life's updates under it whose counters a write would reuse: it takes a new identity.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Start_FileOfAnEarlierBuild_KeepsTheNodeNameUnlessItWasInTheNewStoreHold(bool fresh)
    {
        using (var store = await OpenAsync())
        {
            await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "a")]);
        }

        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_dir, "core", "kv.db")};Pooling=False"))
        {
            db.Open();
            using var command = db.CreateCommand();
            command.CommandText = "DELETE FROM meta WHERE name = 'replica';" + (fresh ? "INSERT INTO meta (name, value) VALUES ('fresh', '1');" : string.Empty);
            command.ExecuteNonQuery();
        }

        using var reopened = await OpenAsync();
        if (fresh)
        {
            Assert.StartsWith("node-1~", reopened.ReplicaName, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("node-1", reopened.ReplicaName);
        }

        Assert.Equal(["a"], reopened.Get(Key)!.Value.GetORSet("backends")!.Elements);
    }

    /// <summary>
    /// A collapse of this replica reaches it before the departure record does: it is the same evidence (only a
    /// departed replica is collapsed). The write is refused (retry), and the replica is discarded.
    /// </summary>
    [Fact]
    public async Task Update_CollapseOfThisReplicaArrivedFirst_RefusedForRetryAndReplicaDiscarded()
    {
        using var store = await OpenAsync();
        var old = store.ReplicaName;
        var (mine, _) = CrdtMap.Empty.Apply([new CounterAdd(["n"], 1)], old, 1);
        store.MergeEntry(Key, mine.Collapse(old, Owner), new VersionVector([new(old, KvStore.CollapsedVersion), new(Owner, 1UL)]));

        await Assert.ThrowsAsync<KvOverloadedException>(async () => await store.UpdateAsync(Key, [new CounterAdd(["n"], 1)]));

        Assert.NotEqual(old, store.ReplicaName);
        Assert.Empty(store.List(KvKey.Root));
        var written = await store.UpdateAsync(Key, [new CounterAdd(["n"], 1)]);
        Assert.Equal(1UL, written.Version[store.ReplicaName]);
    }

    /// <summary>
    /// A node back after expire_after or more may have been removed meanwhile: its writes wait until membership compared
    /// departure records with a peer. Not removed (e.g. the whole cluster was down): the same identity, its data kept.
    /// Removed: discarded, a new identity. A store that comes back within expire_after never waits.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Start_AwayLongerThanExpireAfter_WritesWaitForTheDepartureRecordThenKeepOrDiscard(bool removedMeanwhile)
    {
        string identity;
        using (var store = await OpenAsync())
        {
            identity = store.ReplicaName;
            await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "a")]);
            store.TouchLastActive();
        }

        _time.Advance(TimeSpan.FromHours(23));
        using (var within = await OpenAsync())
        {
            Assert.False(within.AwaitingDepartures);
            within.TouchLastActive();
        }

        _time.Advance(TimeSpan.FromHours(25));
        _departures.Settled = false;
        using var reopened = await OpenAsync();
        Assert.True(reopened.AwaitingDepartures);
        Assert.Contains("departure records", reopened.Check().Reason, StringComparison.Ordinal);
        var write = reopened.UpdateAsync(Key, [new ORSetAdd(["backends"], "b")]).AsTask();
        await Task.Delay(200);
        Assert.False(write.IsCompleted);

        if (removedMeanwhile)
        {
            _departures.Depart(identity);
        }

        _departures.Settled = true;
        var entry = await write.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(reopened.AwaitingDepartures);
        Assert.True(reopened.Check().IsReady);
        if (removedMeanwhile)
        {
            Assert.NotEqual(identity, reopened.ReplicaName);
            Assert.Equal(["b"], entry.Value.GetORSet("backends")!.Elements);
        }
        else
        {
            Assert.Equal(identity, reopened.ReplicaName);
            Assert.Equal(["a", "b"], entry.Value.GetORSet("backends")!.Elements);
            Assert.Equal(2UL, entry.Version[identity]);
        }
    }

    [Fact]
    public async Task MergeEntry_CollapseBeforeMarker_CountsRemovedReplicaOnceAndCleansWhenMarkerArrives()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);

        // The owner's collapse arrives as an entry, the removed replica at CollapsedVersion, before the marker.
        var collapsed = value.Collapse(Removed, Owner);
        var collapsedVersion = new VersionVector([new(Removed, KvStore.CollapsedVersion), new(Owner, 1UL)]);
        store.MergeEntry(Key, collapsed, collapsedVersion);

        var early = store.Get(Key)!;
        Assert.Equal(5, early.Value.GetPnCounter("hits")!.Value); // once, not 10
        Assert.Equal(["x", "y"], early.Value.GetORSet("backends")!.Elements);

        store.MergeEntry(PruneMarker.KeyOf(Removed), PerformedMarker(Moves(value, collapsed), collapsed: [new KvEntry(Key, collapsed, collapsedVersion)]),
            new VersionVector([new(Owner, 2UL)]));

        var entry = store.Get(Key)!;
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]); // the evidence stays while the marker lives
        Assert.Equal(collapsed, entry.Value);

        // Deleted with the marker (prune_marker_ttl after it was performed): the replica is retired for good.
        _time.Advance(TimeSpan.FromHours(49));
        store.DeleteExpiredMarkers();
        Assert.Equal(new VersionVector([new(Owner, 1UL)]), store.Get(Key)!.Version);
        Assert.Equal([Removed], _departures.Retired);
    }

    [Fact]
    public async Task Collapse_MarkerOverHalfTheFrameLimit_NothingChangesAndReplicaStays()
    {
        using var store = await OpenAsync(maxFrame: 4096);
        var (value, version) = RemovedReplicasWrites();
        for (var i = 0; i < 60; i++)
        {
            store.MergeEntry(KvKey.Parse($"dns/records/host-{i:D3}"), value, version);
        }

        var moves = store.Collapse(Removed, (moves, keys) => PruneMarker.PerformedOps(store.ReplicaName, 0, 0, moves, keys));

        Assert.Null(moves);
        Assert.Empty(store.Markers());
        Assert.All(store.List(KvKey.Root), e => Assert.Equal(version, e.Version));
    }

    [Fact]
    public async Task MergeDelta_CounterZeroOrAfterCollapsedVersion_RefusedWithoutOverflow()
    {
        using var store = await OpenAsync();
        var (value, _) = RemovedReplicasWrites();
        store.MergeEntry(Key, value.Collapse(Removed, Owner), new VersionVector([new(Removed, KvStore.CollapsedVersion), new(Owner, 1UL)]));
        var delta = CrdtMap.Empty.Apply([new ORSetAdd(["backends"], "z")], Removed, 3).Delta;

        Assert.False(store.MergeDelta(Key, Removed, 0, delta)); // 0 - 1 would wrap to CollapsedVersion
        Assert.False(store.MergeDelta(Key, Removed, ulong.MaxValue, delta));
        Assert.False(store.MergeDelta(KvKey.Parse("other/key"), "node-7", 0, delta));
        Assert.DoesNotContain("z", store.Get(Key)!.Value.GetORSet("backends")!.Elements);
    }

    [Fact]
    public async Task Collapse_OwnReplicaCollapsedElsewhere_DiscardsAndOwnsNothing()
    {
        using var store = await OpenAsync();
        var old = store.ReplicaName;
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);
        var (mine, _) = CrdtMap.Empty.Apply([new CounterAdd(["n"], 1)], old, 1);
        store.MergeEntry(KvKey.Parse("other/key"), mine.Collapse(old, Owner), new VersionVector([new(old, KvStore.CollapsedVersion), new(Owner, 1UL)]));

        Assert.Null(store.Collapse(Removed));

        Assert.NotEqual(old, store.ReplicaName);
        Assert.Empty(store.List(KvKey.Root));
    }

    [Fact]
    public async Task PerformedMarker_CollapseNotArrived_KeyKeepsReplicaUntilItDoes()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);
        var collapsed = value.Collapse(Removed, Owner);
        var owners = new VersionVector([new(Removed, KvStore.CollapsedVersion), new(Owner, 1UL)]);
        store.MergeEntry(PruneMarker.KeyOf(Removed), PerformedMarker(Moves(value, collapsed), collapsed: [new KvEntry(Key, collapsed, owners)]),
            new VersionVector([new(Owner, 2UL)]));

        // Applied, but this key's collapse has not come: it still reads the removed replica's writes (not missing).
        Assert.True(store.Pruned.ContainsKey(Removed));
        var waiting = store.Get(Key)!;
        Assert.True(waiting.Map.Mentions(Removed));
        Assert.Equal(5, waiting.Value.GetPnCounter("hits")!.Value);

        // The collapse arrives (from any replica: the removed one stays at CollapsedVersion after cleanup): counted
        // once, cleaned.
        store.MergeEntry(Key, collapsed, owners);

        var entry = store.Get(Key)!;
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(5, entry.Value.GetPnCounter("hits")!.Value);
        Assert.Equal(owners, entry.Version);
    }

    [Fact]
    public async Task DeleteExpiredMarkers_PastTtl_DeletedForgottenAndRefusedWhenOffered()
    {
        using var store = await OpenAsync();
        var marker = PerformedMarker([]);
        store.MergeEntry(PruneMarker.KeyOf(Removed), marker, new VersionVector([new(Owner, 1UL)]));
        Assert.True(store.Pruned.ContainsKey(Removed));

        _time.Advance(TimeSpan.FromHours(47));
        Assert.Empty(store.DeleteExpiredMarkers());
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Equal([Removed], store.DeleteExpiredMarkers());

        Assert.Empty(store.Markers());
        Assert.False(store.Pruned.ContainsKey(Removed));
        Assert.False(store.MergeEntry(PruneMarker.KeyOf(Removed), marker, new VersionVector([new(Owner, 1UL)])));
        Assert.Null(store.GetRaw(PruneMarker.KeyOf(Removed)));
        Assert.Equal([Removed], _departures.Retired);
    }

    /// <summary>
    /// Issue 16: once a departed replica is retired (its prune performed and its marker expired, recorded for good in
    /// membership's departure record), a stale copy naming it (from a node that was down or cut off through the whole
    /// prune) is cleaned out as it merges: its counts are not counted again, its removed elements do not come back,
    /// and it is not pruned a second time.
    /// </summary>
    [Fact]
    public async Task MergeEntry_StaleCopyOfARetiredReplica_CleanedOutNotCountedTwice()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, collapsed, new VersionVector([new(Owner, 1UL)])); // the cluster's state, markers long gone
        var (removedY, _) = collapsed.Apply([new ORSetRemove(["backends"], "y")], Owner, 2);
        store.MergeEntry(Key, removedY, new VersionVector([new(Owner, 2UL)]));
        _departures.Depart(Removed, retired: true);
        store.SyncDepartures();

        Assert.True(store.MergeEntry(Key, value, version.Increment("node-5"))); // the stale copy, as a cut-off node kept it

        var entry = store.Get(Key)!;
        Assert.Equal(5, entry.Value.GetPnCounter("hits")!.Value);
        Assert.Equal(["x"], entry.Value.GetORSet("backends")!.Elements);
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(0UL, entry.Version[Removed]);
        Assert.False(store.MergeDelta(Key, Removed, 3, value.Apply([new ORSetAdd(["backends"], "z")], Removed, 3).Delta));
    }

    /// <summary>The removed replica's writes: two elements and a counter.</summary>
    private (CrdtMap Value, VersionVector Version) RemovedReplicasWrites(string replica = Removed)
    {
        var (value, _) = CrdtMap.Empty.Apply([new ORSetAdd(["backends"], "x"), new ORSetAdd(["backends"], "y"), new CounterAdd(["hits"], 5)], replica, 1);
        return (value, new VersionVector([new(replica, 2UL)]));
    }

    private static Dictionary<KvKey, Dictionary<Dot, Dot[]>> Moves(CrdtMap before, CrdtMap after)
    {
        var removed = before.GetORSet("backends")!.Entries;
        var fresh = after.GetORSet("backends")!.Entries;
        return new() { [Key] = removed.ToDictionary(e => e.Value.Single(), e => fresh[e.Key].ToArray()) };
    }

    private CrdtMap PerformedMarker(Dictionary<KvKey, Dictionary<Dot, Dot[]>> moves, string replica = Removed, IEnumerable<KvEntry>? collapsed = null)
    {
        _ = replica;
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return CrdtMap.Empty.Apply(
            [
                new LwwSet([PruneMarker.Fields.Started], Owner),
                new ORSetAdd([PruneMarker.Fields.Acks], PruneAck.Format(Owner, Owner, 0)),
                .. PruneMarker.PerformedOps(Owner, 0, 0, moves, collapsed ?? []),
            ],
            Owner,
            now).Value;
    }

    private Task<KvStore> OpenAsync(TimeSpan? markerTtl = null, int maxFrame = 16 * 1024 * 1024) =>
        TestStores.OpenAsync(
            "node-1",
            _dir,
            new CoreOptions
            {
                ExpireAfter = new Duration(TimeSpan.FromHours(24)),
                PruneMarkerTtl = new Duration(markerTtl ?? TimeSpan.FromHours(48)),
                MaxStreamFrameSize = maxFrame,
            },
            _time,
            _departures,
            _broadcast);

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
