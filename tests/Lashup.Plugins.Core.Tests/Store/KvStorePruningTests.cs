using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Plugins;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// One replica's side of removed-replica pruning, on the SQLite store: reserved marker keys, the owner's collapse,
/// cleanup (and remove translation) of what it holds and merges once a prune is performed, dropped deltas of pruned
/// replicas, marker expiry, incarnations, and all of it across a restart.
/// </summary>
public sealed class KvStorePruningTests : IDisposable
{
    private const string Removed = "node-9";
    private const string Owner = "node-2";
    private static readonly KvKey Key = KvKey.Parse("lb/vips/web:80");
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-prune-").FullName;
    private readonly ManualTime _time = new();

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
        store.UpdateMarker(Removed, [new LwwSet([MarkerFields.Started], Owner)]);

        Assert.Equal([Key], store.List(KvKey.Root).Select(e => e.Key));
        Assert.Equal([KvStore.MarkerKey(Removed)], store.List(KvStore.PrunePrefix).Select(e => e.Key));
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
        var broadcast = new List<(KvKey Key, CrdtMap Delta, ulong Counter)>();
        store.LocalDelta = (k, d, c) => broadcast.Add((k, d, c));

        var moves = store.Collapse(Removed)!;

        var entry = store.Get(Key)!;
        Assert.Equal(value.ToString(), entry.Value.ToString());
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]); // until the marker is applied
        Assert.Equal(1UL, entry.Version["node-1"]);
        Assert.Empty(broadcast); // a collapsed key travels as an entry, never as a delta
        Assert.Equal(4, moves[Key].Count); // the two elements' dots and the two fields' presence dots, each replaced by a fresh dot of node-1
        Assert.All(moves[Key], m => Assert.Equal("node-1", Assert.Single(m.Value).Replica));
    }

    [Fact]
    public async Task PerformedMarker_Merged_CleansHeldKeysAndDropsLaterDeltasOfReplica()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, value, version);
        store.MergeEntry(Key, collapsed, version.Without(Removed).Increment(Owner));

        store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));

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

    [Fact]
    public async Task PerformedMarker_ReplicaReachableHere_RefusedUntilUnreachableThenAppliedAndKeptAcrossRestart()
    {
        var reachable = true;
        var (value, version) = RemovedReplicasWrites();
        using (var store = await OpenAsync(_ => !reachable))
        {
            store.MergeEntry(Key, value, version);

            // A performed marker for a replica this node reaches (an isolated node's, or forged) is not applied.
            store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker([]), new VersionVector([new(Owner, 1UL)]));
            Assert.False(store.Pruned.ContainsKey(Removed));
            Assert.True(store.Get(Key)!.Map.Mentions(Removed));
            Assert.True(store.MergeDelta(Key, Removed, version[Removed] + 1, value.Apply([new ORSetAdd(["backends"], "z")], Removed, 3).Delta));

            reachable = false;
            store.RecheckPruned();
            Assert.True(store.Pruned.ContainsKey(Removed));
            Assert.False(store.GetRaw(Key)!.Map.Mentions(Removed));
        }

        // Applied stays applied across a restart, even before the protocol's view is back (it refuses everything).
        using var reopened = await OpenAsync(_ => false);
        Assert.True(reopened.Pruned.ContainsKey(Removed));
    }

    [Fact]
    public async Task Cleanup_WriteFailsOnce_RetriedOnNextTickUntilNoKeyNamesReplica()
    {
        var disk = new Lashup.Simulator.InMemoryKvPersistence("memory:node-1");
        using var store = new KvStore(
            Options.Create(new CoreOptions { ExpireAfter = new Duration(TimeSpan.FromHours(24)), PruneMarkerTtl = new Duration(TimeSpan.FromHours(48)) }),
            new NodeInfo("node-1", "test", _dir),
            _time,
            NullLoggerFactory.Instance,
            () => disk);
        await store.StartAsync(CancellationToken.None);
        store.MayApplyPrune = _ => true;
        var (value, version) = RemovedReplicasWrites();
        var collapsed = value.Collapse(Removed, Owner);
        store.MergeEntry(Key, value, version);
        store.MergeEntry(Key, collapsed, version.Without(Removed).Increment(Owner));

        disk.FailPut = key => key == Key.ToString();
        store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));
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
        store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker(Moves(value, collapsed)), new VersionVector([new(Owner, 1UL)]));

        // A replica cut off through the prune removed "x" (the removed replica's dot), never having seen the collapse.
        var (stale, _) = value.Apply([new ORSetRemove(["backends"], "x")], "node-5", 4);
        Assert.True(store.MergeEntry(Key, stale, version.Increment("node-5")));

        var entry = store.Get(Key)!;
        Assert.Equal(["y"], entry.Value.GetORSet("backends")!.Elements);
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]);
        Assert.Equal(1, store.Stats.RemovesTranslated);
    }

    [Fact]
    public async Task LocalDelta_AfterNextIncarnation_BroadcastUnderTheIncarnationWithItsCounter()
    {
        using var store = await OpenAsync();
        var network = new CapturingNetwork();
        store.LocalDelta = new KvReplication(store, network, new Random(1)).OnLocalDelta;
        var (value, version) = RemovedReplicasWrites("node-1");
        store.MergeEntry(Key, value, version);
        var collapsed = value.Collapse("node-1", Owner);
        store.MergeEntry(Key, collapsed, version.Without("node-1").Increment(Owner));
        store.MergeEntry(KvStore.MarkerKey("node-1"), PerformedMarker(Moves(value, collapsed), "node-1"), new VersionVector([new(Owner, 1UL)]));
        Assert.Equal("node-1~2", store.ReplicaName);

        await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "after")]);

        // [key, writer, counter, delta]: the writer is the replica whose counter it is, not the bare node name
        // (a receiver would take it as node-1's update 1 and hold a value its version does not describe).
        var reader = new MessagePack.MessagePackReader(Assert.Single(network.Broadcasts));
        Assert.Equal(4, reader.ReadArrayHeader());
        Assert.Equal(Key.ToString(), reader.ReadString());
        Assert.Equal("node-1~2", reader.ReadString());
        Assert.Equal(1UL, reader.ReadUInt64());
    }

    [Fact]
    public async Task Restart_AfterOwnReplicaPruned_MarkersValuesAndNextIncarnationSurvive()
    {
        var (value, version) = RemovedReplicasWrites("node-1");
        CrdtMap collapsed;
        using (var store = await OpenAsync())
        {
            store.MergeEntry(Key, value, version);
            collapsed = value.Collapse("node-1", Owner);
            store.MergeEntry(Key, collapsed, version.Without("node-1").Increment(Owner));
            store.MergeEntry(KvStore.MarkerKey("node-1"), PerformedMarker(Moves(value, collapsed), "node-1"), new VersionVector([new(Owner, 1UL)]));

            Assert.Equal("node-1~2", store.ReplicaName);
            var written = await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "after")]);
            Assert.Equal(1UL, written.Version["node-1~2"]);
            Assert.Equal(KvStore.CollapsedVersion, written.Version["node-1"]);
        }

        using var reopened = await OpenAsync();
        Assert.Equal("node-1~2", reopened.ReplicaName);
        Assert.True(reopened.Pruned.ContainsKey("node-1"));
        Assert.Equal(["after", "x", "y"], reopened.Get(Key)!.Value.GetORSet("backends")!.Elements);
        Assert.False(reopened.Get(Key)!.Map.Mentions("node-1"));
    }

    [Fact]
    public async Task Start_AwayLongerThanExpireAfter_WritesUnderNextIncarnation()
    {
        var ttl = TimeSpan.FromHours(96);
        using (var store = await OpenAsync(markerTtl: ttl))
        {
            await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "a")]);
            store.TouchLastActive();
        }

        _time.Advance(TimeSpan.FromHours(25));
        using var reopened = await OpenAsync(markerTtl: ttl);

        Assert.Equal("node-1~2", reopened.ReplicaName);
        var entry = await reopened.UpdateAsync(Key, [new ORSetAdd(["backends"], "b")]);
        Assert.Equal((1UL, 1UL), (entry.Version["node-1"], entry.Version["node-1~2"]));
    }

    [Theory]
    [InlineData(3, true)]
    [InlineData(5, true)]
    [InlineData(2, false)]
    [InlineData(1, false)]
    public async Task Start_AwayHalfOfPruneMarkerTtl_RefusedWhereOthersCouldPruneUnlessAccepted(int members, bool refused)
    {
        using (var store = await OpenAsync())
        {
            await store.UpdateAsync(Key, [new ORSetAdd(["backends"], "a")]);
            await store.UpdateAsync(KvKey.Parse("dns/a"), [new LwwSet(["ip"], "10.0.0.1")]);
            Assert.True(store.PutPruneState(string.Join('\n', Enumerable.Range(1, members).Select(i => $"m node-{i}"))));
            store.TouchLastActive();
        }

        // Under half of the TTL (48 h) away: opened as usual.
        _time.Advance(TimeSpan.FromHours(23));
        using (var kept = await OpenAsync())
        {
            Assert.Equal(2, kept.Count);
            kept.TouchLastActive();
        }

        _time.Advance(TimeSpan.FromHours(24));
        if (!refused)
        {
            using var alone = await OpenAsync(); // nobody could have pruned without it
            Assert.Equal(2, alone.Count);
            return;
        }

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => OpenAsync());
        Assert.Contains("last active 24 h ago, at least half of core.prune_marker_ttl (24 h)", e.Message, StringComparison.Ordinal);
        Assert.Contains("move the store away", e.Message, StringComparison.Ordinal);
        Assert.Contains("core.accept_stale_store = true", e.Message, StringComparison.Ordinal);

        using var accepted = await OpenAsync(acceptStale: true);
        Assert.Equal(2, accepted.Count);
        Assert.Equal("node-1~2", accepted.ReplicaName); // away longer than expire_after
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

        store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker(Moves(value, collapsed), collapsed: [new KvEntry(Key, collapsed, collapsedVersion)]),
            new VersionVector([new(Owner, 2UL)]));

        var entry = store.Get(Key)!;
        Assert.False(entry.Map.Mentions(Removed));
        Assert.Equal(KvStore.CollapsedVersion, entry.Version[Removed]); // the evidence stays while the marker lives
        Assert.Equal(collapsed, entry.Value);

        // Deleted with the marker (prune_marker_ttl after it was performed).
        _time.Advance(TimeSpan.FromHours(49));
        store.DeleteExpiredMarkers();
        Assert.Equal(new VersionVector([new(Owner, 1UL)]), store.Get(Key)!.Version);
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

        var moves = store.Collapse(Removed, (moves, keys) => [
            new LwwSet([MarkerFields.Performed], $"node-1|{0:x16}|{0:x16}"),
            .. MarkerFields.FormatMoves(moves).Select(m => new ORSetAdd([MarkerFields.Moved], m)),
            .. MarkerFields.FormatKeys(keys).Select(k => new ORSetAdd([MarkerFields.Keys], k)),
        ]);

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
    public async Task Collapse_OwnReplicaCollapsedElsewhere_WritesAsNextIncarnationFirst()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);
        var (mine, _) = CrdtMap.Empty.Apply([new CounterAdd(["n"], 1)], "node-1", 1);
        store.MergeEntry(KvKey.Parse("other/key"), mine.Collapse("node-1", Owner), new VersionVector([new("node-1", KvStore.CollapsedVersion), new(Owner, 1UL)]));

        var moves = store.Collapse(Removed);

        Assert.NotNull(moves);
        Assert.Equal("node-1~2", store.ReplicaName);
        Assert.Equal(1UL, store.Get(Key)!.Version["node-1~2"]);
    }

    [Fact]
    public async Task PerformedMarker_CollapseNotArrived_KeyKeepsReplicaUntilItDoes()
    {
        using var store = await OpenAsync();
        var (value, version) = RemovedReplicasWrites();
        store.MergeEntry(Key, value, version);
        var collapsed = value.Collapse(Removed, Owner);
        var owners = new VersionVector([new(Removed, KvStore.CollapsedVersion), new(Owner, 1UL)]);
        store.MergeEntry(KvStore.MarkerKey(Removed), PerformedMarker(Moves(value, collapsed), collapsed: [new KvEntry(Key, collapsed, owners)]),
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
        store.MergeEntry(KvStore.MarkerKey(Removed), marker, new VersionVector([new(Owner, 1UL)]));
        Assert.True(store.Pruned.ContainsKey(Removed));

        _time.Advance(TimeSpan.FromHours(47));
        Assert.Empty(store.DeleteExpiredMarkers());
        _time.Advance(TimeSpan.FromHours(2));
        Assert.Equal([Removed], store.DeleteExpiredMarkers());

        Assert.Empty(store.Markers());
        Assert.False(store.Pruned.ContainsKey(Removed));
        Assert.False(store.MergeEntry(KvStore.MarkerKey(Removed), marker, new VersionVector([new(Owner, 1UL)])));
        Assert.Null(store.GetRaw(KvStore.MarkerKey(Removed)));
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
                new LwwSet([MarkerFields.Started], Owner),
                new ORSetAdd([MarkerFields.Acks], PruneAck.Format(Owner, Owner, 0)),
                new LwwSet([MarkerFields.Performed], $"{Owner}|{0:x16}|{0:x16}"),
                .. MarkerFields.FormatMoves(moves).Select(m => new ORSetAdd([MarkerFields.Moved], m)),
                .. MarkerFields.FormatKeys(collapsed ?? []).Select(k => new ORSetAdd([MarkerFields.Keys], k)),
            ],
            Owner,
            now).Value;
    }

    private async Task<KvStore> OpenAsync(Func<string, bool>? mayApply = null, TimeSpan? markerTtl = null, int maxFrame = 16 * 1024 * 1024, bool acceptStale = false)
    {
        var store = new KvStore(
            Options.Create(new CoreOptions
            {
                ExpireAfter = new Duration(TimeSpan.FromHours(24)),
                PruneMarkerTtl = new Duration(markerTtl ?? TimeSpan.FromHours(48)),
                MaxStreamFrameSize = maxFrame,
                AcceptStaleStore = acceptStale,
            }),
            new NodeInfo("node-1", "test", _dir),
            _time,
            NullLoggerFactory.Instance);
        await store.StartAsync(CancellationToken.None);
        store.MayApplyPrune = mayApply ?? (_ => true);
        return store;
    }

    private sealed class CapturingNetwork : IReplicationNetwork
    {
        public List<byte[]> Broadcasts { get; } = [];

        public string LocalName => "node-1";

        public int MaxPayloadSize => 60_000;

        public IReadOnlyCollection<Lashup.Abstractions.Cluster.Member> Members => [];

        public void Broadcast(string topic, ReadOnlyMemory<byte> payload) => Broadcasts.Add(payload.ToArray());

        public void SendDirect(string node, string topic, byte[] payload)
        {
        }

        public ValueTask<IReadOnlyList<string>> ActiveNeighborsAsync() => ValueTask.FromResult<IReadOnlyList<string>>([]);
    }

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
