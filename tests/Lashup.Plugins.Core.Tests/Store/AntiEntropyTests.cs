using Lashup.Abstractions.Data;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>Anti-entropy between two real stores, in process: convergence, and bytes that follow the difference.</summary>
public sealed class AntiEntropyTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-ae-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Exchange_TenThousandKeysOnePercentDifferent_ConvergesWithBytesFarBelowFullTransfer()
    {
        using var a = await OpenAsync("node-1");
        using var b = await OpenAsync("node-2");
        for (var i = 0; i < 10_000; i++)
        {
            var key = KvKey.Parse($"services/s{i:D5}");
            var entry = await a.UpdateAsync(key, [new ORSetAdd(["endpoints"], $"10.0.{i / 250}.{i % 250}:80"), new LwwSet(["owner"], "team-a")]);
            if (i % 100 != 0)
            {
                b.MergeEntry(key, entry.Value, entry.Version); // b has 99% of a's keys
            }
        }

        var full = a.List(KvKey.Root).Sum(e => CrdtCodec.EncodeMap(e.Value).Length + CrdtCodec.EncodeVersion(e.Version).Length + e.Key.ToString().Length);

        var bytes = Exchange(a, b, out var messages);

        Assert.Equal(10_000, b.List(KvKey.Root).Count);
        Assert.Equal(a.BucketDigest(), b.BucketDigest());
        Assert.All(a.List(KvKey.Root), e => Assert.Equal(e, b.Get(e.Key)));
        var again = Exchange(a, b, out _);
        output.WriteLine($"10,000 keys: 1% different: {bytes} B in {messages} messages; identical: {again} B; full transfer: {full} B");
        Assert.True(bytes < full / 5, $"{bytes} B exchanged for a 1% difference, full transfer is {full} B");
        Assert.True(again < 4096, $"{again} B exchanged between identical stores");
    }

    [Fact]
    public async Task Exchange_FreshReplicas_OnlyANonFreshPeerEndsTheHoldAndTheIncarnationFollowsItsData()
    {
        using var old = await OpenAsync("node-1");
        await old.UpdateAsync(KvKey.Parse("services/web"), [new CounterAdd(["hits"], 5)]); // node-1's earlier life, held by node-2
        using var peer = await OpenAsync("node-2");
        var earlier = old.Get(KvKey.Parse("services/web"))!;
        peer.MergeEntry(earlier.Key, earlier.Value, earlier.Version);
        old.Dispose();
        Directory.Delete(Path.Combine(_dir, "node-1"), recursive: true); // the data folder is emptied

        using var wiped = await OpenAsync("node-1");
        using var other = await OpenAsync("node-3"); // another new replica
        wiped.HoldWritesUntilSynced();
        other.HoldWritesUntilSynced();
        Assert.True(wiped.Fresh && other.Fresh);

        Exchange(wiped, other, out _);
        Exchange(other, wiped, out _);
        Assert.True(wiped.Fresh && other.Fresh, "two new replicas ended each other's hold");

        Exchange(wiped, peer, out _);
        Assert.False(wiped.Fresh);
        Assert.Equal("node-1~2", wiped.ReplicaName);
        var entry = await wiped.UpdateAsync(KvKey.Parse("services/web"), [new CounterAdd(["hits"], 2)]);
        Assert.Equal(7, entry.Value.GetPnCounter("hits")!.Value);
    }

    /// <summary>Runs one anti-entropy round started by <paramref name="from"/>; returns the bytes of every message.</summary>
    private static long Exchange(KvStore from, KvStore to, out int messages)
    {
        long bytes = 0;
        var count = 0;
        var queue = new Queue<(byte[] Payload, KvStore Receiver, KvStore Sender)>();
        var peers = new Dictionary<KvStore, AntiEntropy.PeerFreshness> { [from] = new(), [to] = new() }; // per receiver
        queue.Enqueue((AntiEntropy.Digest(from), to, from));
        while (queue.TryDequeue(out var m))
        {
            bytes += m.Payload.Length;
            count++;
            AntiEntropy.Handle(m.Receiver, m.Payload, reply => queue.Enqueue((reply, m.Sender, m.Receiver)), peers[m.Receiver]);
        }

        messages = count;
        return bytes;
    }

    private async Task<KvStore> OpenAsync(string node)
    {
        var store = new KvStore(Options.Create(new CoreOptions()), new NodeInfo(node, "test", Path.Combine(_dir, node)), TimeProvider.System, NullLoggerFactory.Instance);
        await store.StartAsync(CancellationToken.None);
        return store;
    }
}
