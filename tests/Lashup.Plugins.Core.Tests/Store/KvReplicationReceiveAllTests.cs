using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// <see cref="KvReplication.ReceiveAll"/>, the replication worker's batch of inbox messages: whatever it groups into one
/// commit, it ends exactly where <see cref="KvReplication.Receive"/> one message after another ends (versions, values,
/// errors, quarantine), and a failed commit merges nothing.
/// </summary>
public sealed class KvReplicationReceiveAllTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kv-recv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ReceiveAll_MalformedEntryAndUndecodableAmongDeltas_LikeReceiveOneByOne()
    {
        var (writer, d, second) = await WriteAsync();

        // A valid delta; a malformed message; a whole entry between two deltas of one key; a valid delta of q, then an
        // undecodable delta of q (it is quarantined after the valid one is merged, and stays quarantined).
        List<(string Topic, string From, byte[] Payload)> messages =
        [
            Message(KvReplication.EncodeDelta(d[0].Key, writer, d[0].Counter, d[0].Delta)),
            Message([0x93, 0x01]),
            Message(KvReplication.EncodeEntry(second, writer)),
            Message(KvReplication.EncodeDelta(d[2].Key, writer, d[2].Counter, d[2].Delta)),
            Message(KvReplication.EncodeDelta(d[3].Key, writer, d[3].Counter, d[3].Delta)),
            Message(Undecodable("q", writer, 2)),
        ];

        var (oneByOne, batched) = await CompareAsync(messages);

        Assert.Equal(3UL, batched.Get(KvKey.Parse("k"))!.Version[writer]);
        Assert.Equal(["q"], batched.Quarantined().Select(q => q.Key));
        Assert.Equal(2, batched.Stats.BadMessages);
        oneByOne.Dispose();
        batched.Dispose();
    }

    [Fact]
    public async Task ReceiveAll_GapsAndDuplicates_LikeReceiveOneByOne()
    {
        var (writer, d, _) = await WriteAsync();
        var encoded = d.Select(x => Message(KvReplication.EncodeDelta(x.Key, writer, x.Counter, x.Delta))).ToList();

        // k: 1, 1 again, 3 (after a gap: skipped), 2; q: 1 twice.
        var (oneByOne, batched) = await CompareAsync([encoded[0], encoded[0], encoded[2], encoded[1], encoded[3], encoded[3]]);

        Assert.Equal(2UL, batched.Get(KvKey.Parse("k"))!.Version[writer]);
        Assert.Equal(1UL, batched.Get(KvKey.Parse("q"))!.Version[writer]);
        Assert.Equal(oneByOne.Stats.DeltasSkipped, batched.Stats.DeltasSkipped);
        Assert.Equal(3, batched.Stats.DeltasSkipped);
        oneByOne.Dispose();
        batched.Dispose();
    }

    [Fact]
    public async Task ReceiveAll_CommitFails_MergesNothing()
    {
        var (writer, d, _) = await WriteAsync();
        var messages = d.Select(x => Message(KvReplication.EncodeDelta(x.Key, writer, x.Counter, x.Delta))).ToList();
        var disk = new FailingDisk(Path.Combine(_dir, "n1"));
        using var store = await TestStores.OpenAsync("node-1", Path.Combine(_dir, "n1"), disk: () => disk);
        var replication = new KvReplication(store, new NoNetwork(), new TestDepartures(), new Random(1));

        disk.Fail = true;
        Assert.Empty(replication.ReceiveAll(messages));
        Assert.Null(store.Get(KvKey.Parse("k")));
        Assert.Null(store.Get(KvKey.Parse("q")));
        Assert.Equal(0, store.Stats.DeltasMerged);

        // Nothing half-merged: the same deltas again (anti-entropy's repair) are each the next update and all merge.
        disk.Fail = false;
        Assert.Empty(replication.ReceiveAll(messages));
        Assert.Equal(3UL, store.Get(KvKey.Parse("k"))!.Version[writer]);
        Assert.Equal(4, store.Stats.DeltasMerged);
    }

    /// <summary>Three updates of k and one of q by node-2: its replica, the deltas it sent, and k after its second update.</summary>
    private async Task<(string Writer, List<(KvKey Key, string Writer, ulong Counter, CrdtMap Delta)> Deltas, KvEntry Second)> WriteAsync()
    {
        var sent = new CapturingBroadcast();
        using var writer = await TestStores.OpenAsync("node-2", Path.Combine(_dir, "n2"), broadcast: sent);
        await writer.UpdateAsync(KvKey.Parse("k"), [new ORSetAdd(["e"], "1")]);
        var second = await writer.UpdateAsync(KvKey.Parse("k"), [new ORSetAdd(["e"], "2")]);
        await writer.UpdateAsync(KvKey.Parse("k"), [new ORSetAdd(["e"], "3")]);
        await writer.UpdateAsync(KvKey.Parse("q"), [new ORSetAdd(["e"], "1")]);
        return (writer.ReplicaName, sent.Deltas, second);
    }

    /// <summary>Feeds the messages to two fresh stores, one at a time and as one batch, and asserts they end alike.</summary>
    private async Task<(KvStore OneByOne, KvStore Batched)> CompareAsync(List<(string Topic, string From, byte[] Payload)> messages)
    {
        var oneByOne = await TestStores.OpenAsync("node-1", Path.Combine(_dir, "a"));
        var single = new KvReplication(oneByOne, new NoNetwork(), new TestDepartures(), new Random(1));
        var errors = messages.Select(m => single.Receive(m.Topic, m.From, m.Payload)).OfType<string>().ToList();

        var batched = await TestStores.OpenAsync("node-1", Path.Combine(_dir, "b"));
        var batch = new KvReplication(batched, new NoNetwork(), new TestDepartures(), new Random(1));
        Assert.Equal(errors, batch.ReceiveAll(messages));

        Assert.Equal(Keys(oneByOne), Keys(batched));
        foreach (var key in Keys(oneByOne))
        {
            Assert.Equal(oneByOne.GetRaw(key)!.Version, batched.GetRaw(key)!.Version);
            Assert.Equal(oneByOne.GetRaw(key)!.Map, batched.GetRaw(key)!.Map);
        }

        Assert.Equal(oneByOne.Quarantined().Select(q => (q.Key, q.Source)), batched.Quarantined().Select(q => (q.Key, q.Source)));
        Assert.Equal(oneByOne.Stats.BadMessages, batched.Stats.BadMessages);
        Assert.Equal(oneByOne.Stats.DeltasMerged, batched.Stats.DeltasMerged);
        return (oneByOne, batched);
    }

    private static List<KvKey> Keys(KvStore store) => [.. store.List(KvKey.Root).Select(e => e.Key)];

    private static (string Topic, string From, byte[] Payload) Message(byte[] payload) => (KvReplication.DeltaTopic, "node-2", payload);

    /// <summary>A delta whose value the codec refuses (a reserved MessagePack byte).</summary>
    private static byte[] Undecodable(string key, string replica, ulong counter)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(buffer);
        writer.WriteArrayHeader(4);
        writer.Write(key);
        writer.Write(replica);
        writer.Write(counter);
        writer.Write(new byte[] { 0x01, 0xc1 });
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private sealed class NoNetwork : IReplicationNetwork
    {
        public string LocalName => "node-1";

        public int MaxPayloadSize => 48 * 1024;

        public IReadOnlyCollection<Member> Members => [];

        public void Broadcast(string topic, ReadOnlyMemory<byte> payload)
        {
        }

        public void SendDirect(string node, string topic, byte[] payload)
        {
        }

        public ValueTask<IReadOnlyList<string>> ActiveNeighborsAsync() => ValueTask.FromResult<IReadOnlyList<string>>([]);
    }

    /// <summary>SQLite whose writes fail, as a full disk's would, while <see cref="Fail"/> is set.</summary>
    private sealed class FailingDisk(string dir) : IKvPersistence
    {
        private readonly SqliteKvPersistence _inner = SqliteKvPersistence.Open(System.IO.Path.Combine(dir, "core"), "test", "node-1");

        public bool Fail { get; set; }

        public string Path => _inner.Path;

        public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll() => _inner.ReadAll();

        public void Put(string key, byte[] value, byte[] version) => Write(() => _inner.Put(key, value, version));

        public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta) =>
            Write(() => _inner.PutAll(rows, meta));

        private void Write(Action write)
        {
            if (Fail)
            {
                throw new KvPersistenceException($"cannot write to {Path}: injected disk failure");
            }

            write();
        }

        public void Delete(string key) => _inner.Delete(key);

        public void Reset(IReadOnlyList<(string Name, string Value)> meta) => _inner.Reset(meta);

        public string? GetMeta(string name) => _inner.GetMeta(name);

        public void PutMeta(string name, string value) => _inner.PutMeta(name, value);

        public void Dispose() => _inner.Dispose();
    }
}
