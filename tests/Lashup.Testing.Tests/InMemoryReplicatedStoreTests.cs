using Lashup.Abstractions.Data;

namespace Lashup.Testing.Tests;

/// <summary>What only the kit has (overload and size switches, simulated peers); the rest is InMemoryReplicatedStoreConformanceTests.</summary>
public sealed class InMemoryReplicatedStoreTests
{
    private static readonly KvKey Web = KvKey.Parse("lb/vips/web:80");

    private static CrdtOp[] AddBackend(string backend) => [new ORSetAdd(["backends"], backend)];

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
