using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

public sealed class KvWatchQueueTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>An entry of <paramref name="key"/> whose field "v" holds <paramref name="value"/>; deleted when null.</summary>
    private static KvEntry Entry(string key, string? value, ulong version = 1)
    {
        var map = value is null ? CrdtMap.Empty : CrdtMap.Empty.Apply(new LwwSet(["v"], value), "node-1", 1).Value;
        var vector = VersionVector.Empty;
        for (var i = 0UL; i < version; i++)
        {
            vector = vector.Increment("node-1");
        }

        return new KvEntry(KvKey.Parse(key), map, vector);
    }

    private static KvChange Updated(string key, string? value, ulong version = 1) => new(KvChangeKind.Updated, Entry(key, value, version));

    private static string? ValueOf(KvChange change) => change.Entry!.Value.GetLwwRegister("v")?.Value;

    private static List<KvChange> Drain(KvWatchQueue queue)
    {
        var changes = new List<KvChange>();
        while (queue.TryDequeue(out var change))
        {
            changes.Add(change);
        }

        return changes;
    }

    [Fact]
    public void Constructor_NullPrefix_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => new KvWatchQueue(null!));
    }

    [Fact]
    public void TryDequeue_Empty_ReturnsFalse()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        Assert.False(queue.TryDequeue(out var change));
        Assert.Null(change);
        Assert.Equal(0, queue.Backlog);
    }

    [Fact]
    public void Enqueue_DifferentKeys_DequeuedInEnqueueOrder()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        queue.Enqueue(Updated("svc/c", "1"));
        queue.Enqueue(Updated("svc/a", "2"));
        queue.Enqueue(Updated("svc/b", "3"));

        Assert.Equal(3, queue.Backlog);
        Assert.Equal(["svc/c", "svc/a", "svc/b"], Drain(queue).Select(c => c.Entry!.Key.ToString()));
        Assert.Equal(0, queue.Backlog);
    }

    [Fact]
    public void Enqueue_SameKeyWhileWaiting_KeepsItsSlotWithTheLatestEntry()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        queue.Enqueue(Updated("svc/a", "a1", version: 1));
        queue.Enqueue(Updated("svc/b", "b1", version: 1));

        queue.Enqueue(Updated("svc/a", "a2", version: 2));
        queue.Enqueue(Updated("svc/a", "a3", version: 3));

        Assert.Equal(2, queue.Backlog);
        var changes = Drain(queue);
        Assert.Equal(["svc/a", "svc/b"], changes.Select(c => c.Entry!.Key.ToString()));
        Assert.Equal(["a3", "b1"], changes.Select(ValueOf));
        Assert.Equal(3UL, changes[0].Entry!.Version["node-1"]);
    }

    [Fact]
    public void Enqueue_UpdateOfAWaitingSnapshotEntry_KeepsTheSnapshotKind()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        queue.Enqueue(new KvChange(KvChangeKind.Snapshot, Entry("svc/a", "old")));
        queue.Enqueue(KvChange.SnapshotComplete);

        queue.Enqueue(Updated("svc/a", null, version: 2));

        var changes = Drain(queue);
        Assert.Equal([KvChangeKind.Snapshot, KvChangeKind.SnapshotComplete], changes.Select(c => c.Kind));
        Assert.True(changes[0].Entry!.IsEmpty);
        Assert.Null(changes[1].Entry);
    }

    [Fact]
    public void Enqueue_SameKeyAfterItWasDequeued_QueuesItAgainAtTheEnd()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        queue.Enqueue(Updated("svc/a", "a1"));
        queue.Enqueue(Updated("svc/b", "b1"));
        Assert.True(queue.TryDequeue(out var first));
        Assert.Equal("a1", ValueOf(first));

        queue.Enqueue(Updated("svc/a", "a2"));

        var changes = Drain(queue);
        Assert.Equal(["b1", "a2"], changes.Select(ValueOf));
    }

    [Fact]
    public void Enqueue_SnapshotCompleteTwice_NeverCoalesced()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        queue.Enqueue(KvChange.SnapshotComplete);
        queue.Enqueue(KvChange.SnapshotComplete);

        Assert.Equal(2, queue.Backlog);
    }

    [Fact]
    public void Enqueue_ManyWritesToFewKeysWithoutAReader_BacklogBoundedByTheKeys()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        for (var i = 1; i <= 10_000; i++)
        {
            queue.Enqueue(Updated($"svc/k{i % 3}", $"{i}"));
        }

        Assert.Equal(3, queue.Backlog);
        Assert.Equal(["10000", "9998", "9999"], Drain(queue).Select(ValueOf));
    }

    [Fact]
    public void Enqueue_Null_Throws()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        Assert.Throws<ArgumentNullException>(() => queue.Enqueue(null!));
    }

    [Fact]
    public void EnqueueSnapshot_MixedEntries_OnlyPresentOnesUnderThePrefixInOrderThenSnapshotComplete()
    {
        var queue = new KvWatchQueue(KvKey.Parse("svc"));

        queue.EnqueueSnapshot([Entry("other/x", "0"), Entry("svc/a", "1"), Entry("svc/b", null), Entry("svc/c", "3"), Entry("svcx", "4")]);

        var changes = Drain(queue);
        Assert.Equal([KvChangeKind.Snapshot, KvChangeKind.Snapshot, KvChangeKind.SnapshotComplete], changes.Select(c => c.Kind));
        Assert.Equal(["svc/a", "svc/c"], changes.Take(2).Select(c => c.Entry!.Key.ToString()));
    }

    [Fact]
    public void EnqueueSnapshot_NoEntries_OnlySnapshotComplete()
    {
        var queue = new KvWatchQueue(KvKey.Root);

        queue.EnqueueSnapshot([]);

        Assert.True(queue.TryDequeue(out var change));
        Assert.Same(KvChange.SnapshotComplete, change);
        Assert.False(queue.TryDequeue(out _));
    }

    [Fact]
    public async Task WaitAsync_NothingEnqueued_CompletesOnTheNextEnqueue()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource(Bound);

        var wait = queue.WaitAsync(cts.Token).AsTask();
        await Task.Delay(50, cts.Token);
        Assert.False(wait.IsCompleted);
        queue.Enqueue(Updated("svc/a", "1"));

        Assert.True(await wait);
        Assert.True(queue.TryDequeue(out _));
    }

    [Fact]
    public async Task WaitAsync_SeveralEnqueuesBeforeTheWait_ReturnsOnceThenWaitsAgain()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource(Bound);
        queue.Enqueue(Updated("svc/a", "1"));
        queue.Enqueue(Updated("svc/b", "1"));

        Assert.True(await queue.WaitAsync(cts.Token));
        var second = queue.WaitAsync(cts.Token).AsTask();
        await Task.Delay(50, cts.Token);

        Assert.False(second.IsCompleted);
        Assert.Equal(2, Drain(queue).Count);
        queue.Complete();
        Assert.False(await second);
    }

    [Fact]
    public async Task WaitAsync_Cancelled_ThrowsOperationCanceled()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource();

        var wait = queue.WaitAsync(cts.Token).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task ReadAllAsync_CompletedWithChangesWaiting_YieldsThemThenEnds()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource(Bound);
        queue.EnqueueSnapshot([Entry("svc/a", "1")]);
        queue.Enqueue(Updated("svc/b", "2"));

        queue.Complete();
        var changes = new List<KvChange>();
        await foreach (var change in queue.ReadAllAsync(cts.Token))
        {
            changes.Add(change);
        }

        Assert.Equal([KvChangeKind.Snapshot, KvChangeKind.SnapshotComplete, KvChangeKind.Updated], changes.Select(c => c.Kind));
        Assert.False(await queue.WaitAsync(cts.Token));
    }

    [Fact]
    public async Task ReadAllAsync_CompletedWhileWaiting_Ends()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource(Bound);
        await using var reader = queue.ReadAllAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        queue.Enqueue(Updated("svc/a", "1"));
        Assert.True(await reader.MoveNextAsync());

        var next = reader.MoveNextAsync().AsTask();
        await Task.Delay(50, cts.Token);
        Assert.False(next.IsCompleted);
        queue.Complete();

        Assert.False(await next);
    }

    [Fact]
    public async Task ReadAllAsync_Cancelled_ThrowsOperationCanceled()
    {
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource();
        await using var reader = queue.ReadAllAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        queue.Enqueue(Updated("svc/a", "1"));
        Assert.True(await reader.MoveNextAsync());

        var next = reader.MoveNextAsync().AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next);
    }

    [Fact]
    public async Task ReadAllAsync_SlowReaderAndAConcurrentWriter_EveryKeyEndsAtItsLatestValueInOrder()
    {
        // 4,000 writes and a reader that yields after each change: enough to interleave them, few enough thread-pool
        // hops to stay far under the bound on two busy cores (500 rounds once took over 10 s there).
        const int Keys = 20;
        const int Rounds = 200;
        var queue = new KvWatchQueue(KvKey.Root);
        using var cts = new CancellationTokenSource(Bound * 3);
        var writer = Task.Run(() =>
        {
            for (var round = 1; round <= Rounds; round++)
            {
                for (var k = 0; k < Keys; k++)
                {
                    queue.Enqueue(Updated($"svc/k{k}", $"{round}", (ulong)round));
                }
            }

            queue.Complete();
        }, cts.Token);

        var latest = new Dictionary<string, ulong>();
        var maxBacklog = 0;
        await foreach (var change in queue.ReadAllAsync(cts.Token))
        {
            maxBacklog = Math.Max(maxBacklog, queue.Backlog);
            var key = change.Entry!.Key.ToString();
            var version = change.Entry.Version["node-1"];
            Assert.True(version > latest.GetValueOrDefault(key), $"{key} went back from {latest.GetValueOrDefault(key)} to {version}");
            latest[key] = version;
            await Task.Yield();
        }

        await writer;
        Assert.Equal(Keys, latest.Count);
        Assert.All(latest.Values, v => Assert.Equal((ulong)Rounds, v));
        Assert.InRange(maxBacklog, 0, Keys);
    }
}
