using System.Collections.Immutable;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// What the store refuses before it writes anything (the limits of <see cref="KvLimits"/> and the counters' ranges),
/// and what it does with what it cannot read: one undecodable row or entry is quarantined, never the whole store.
/// </summary>
public sealed class KvStoreQuarantineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kvq-").FullName;

    private readonly TestDepartures _departures = new();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(18)]
    [InlineData(40)]
    [InlineData(70)]
    public async Task Update_PathDeeperThanTheCodecReads_RefusedNamingTheLimitAndNothingWritten(int segments)
    {
        var key = KvKey.Parse("deep");
        using (var store = await OpenAsync("node-1"))
        {
            var path = Enumerable.Range(0, segments).Select(i => $"m{i}").ToImmutableArray();

            var e = await Assert.ThrowsAsync<KvValidationException>(async () => await store.UpdateAsync(key, [new LwwSet(path, "x")]));

            Assert.Contains($"{KvLimits.MaxPathSegments}", e.Message, StringComparison.Ordinal);
            Assert.Null(store.Get(key));
        }

        using var reopened = await OpenAsync("node-1");
        Assert.Null(reopened.Get(key));
        Assert.Empty(reopened.Quarantined());
    }

    [Fact]
    public async Task Update_DeepestAllowedPath_ReadableAfterRestart()
    {
        var key = KvKey.Parse("deep");
        var path = Enumerable.Range(0, KvLimits.MaxPathSegments).Select(i => $"m{i}").ToImmutableArray();
        using (var store = await OpenAsync("node-1"))
        {
            await store.UpdateAsync(key, [new ORSetAdd(path, "x")]);
        }

        using var reopened = await OpenAsync("node-1");
        Assert.NotNull(reopened.Get(key));
        Assert.Empty(reopened.Quarantined());
    }

    [Theory]
    [InlineData("lone surrogate in a field name")]
    [InlineData("lone surrogate in an element")]
    [InlineData("lone surrogate in a register")]
    [InlineData("control character in a field name")]
    [InlineData("long field name")]
    public async Task Update_FieldNameOrElementNotWritable_RefusedAndNothingWritten(string what)
    {
        using var store = await OpenAsync("node-1");
        var key = KvKey.Parse("k");

        // Built here: xunit would replace a lone surrogate in InlineData with U+FFFD.
        CrdtOp op = what switch
        {
            "lone surrogate in a field name" => new LwwSet(["a" + '\ud800'], "v"),
            "lone surrogate in an element" => new ORSetAdd(["set"], '\udc00' + "x"),
            "lone surrogate in a register" => new MvSet(["reg"], "x" + '\ud801'),
            "control character in a field name" => new FlagEnable(["a\u0001b"]),
            _ => new FlagEnable([new string('n', KvLimits.MaxFieldNameBytes + 1)]),
        };

        var e = await Assert.ThrowsAsync<KvValidationException>(async () => await store.UpdateAsync(key, [new LwwSet(["ok"], "1"), op]));

        Assert.StartsWith("ops[1]: ", e.Message, StringComparison.Ordinal);
        Assert.Null(store.Get(key));
    }

    [Fact]
    public async Task Update_PnCounterPastLongRange_RefusedAndCounterUnchanged()
    {
        using var store = await OpenAsync("node-1");
        var key = KvKey.Parse("counters");
        await store.UpdateAsync(key, [new CounterAdd(["n"], long.MaxValue)]);

        var e = await Assert.ThrowsAsync<KvValidationException>(async () => await store.UpdateAsync(key, [new CounterAdd(["n"], long.MaxValue)]));

        Assert.Contains("range", e.Message, StringComparison.Ordinal);
        Assert.Equal(long.MaxValue, store.Get(key)!.Value.GetPnCounter("n")!.Value);
        await store.UpdateAsync(key, [new CounterAdd(["n"], long.MinValue)]);
        Assert.Equal(-1, store.Get(key)!.Value.GetPnCounter("n")!.Value);
    }

    [Fact]
    public async Task Update_GCounterPastULongRange_RefusedAndCounterUnchanged()
    {
        using var store = await OpenAsync("node-1");
        var key = KvKey.Parse("counters");
        await store.UpdateAsync(key, [new GCounterAdd(["g"], ulong.MaxValue - 1)]);

        await Assert.ThrowsAsync<KvValidationException>(async () => await store.UpdateAsync(key, [new GCounterAdd(["g"], 2)]));

        Assert.Equal(ulong.MaxValue - 1, store.Get(key)!.Value.GetGCounter("g")!.Value);
    }

    [Fact]
    public async Task Start_OneUndecodableRow_OtherKeysLoadAndTheRowIsQuarantined()
    {
        string identity;
        using (var store = await OpenAsync("node-1"))
        {
            identity = store.ReplicaName;
            for (var i = 0; i < 20; i++)
            {
                await store.UpdateAsync(KvKey.Parse($"services/s{i}"), [new ORSetAdd(["endpoints"], $"10.0.0.{i}:80")]);
            }
        }

        // An entry as an older build or a bad disk could leave it: a value the codec refuses, a version naming this replica.
        PutRaw("node-1", "services/s7", [0x01, 0xc1], CrdtCodec.EncodeVersion(new VersionVector([KeyValuePair.Create(identity, 1UL)])));
        PutRaw("node-1", "bad//key", CrdtCodec.EncodeMap(CrdtMap.Empty), CrdtCodec.EncodeVersion(VersionVector.Empty));

        using var reopened = await OpenAsync("node-1");

        Assert.Equal(19, reopened.List(KvKey.Root).Count);
        Assert.Null(reopened.Get(KvKey.Parse("services/s7")));
        Assert.Equal(["bad//key", "services/s7"], reopened.Quarantined().Select(q => q.Key).Order(StringComparer.Ordinal));
        Assert.All(reopened.Quarantined(), q => Assert.Equal("disk", q.Source));
        var ready = reopened.Check();
        Assert.True(ready.IsReady);
        Assert.Contains("2 undecodable keys", ready.Reason, StringComparison.Ordinal);

        // The bad row may hold this replica's updates: it writes under a new identity, whose counters nobody has seen,
        // and the old one departs (announced to membership).
        Assert.NotEqual(identity, reopened.ReplicaName);
        Assert.StartsWith("node-1~", reopened.ReplicaName, StringComparison.Ordinal);
        Assert.Contains((reopened.ReplicaName, identity), _departures.Published);
        var written = await reopened.UpdateAsync(KvKey.Parse("services/s7"), [new ORSetAdd(["endpoints"], "10.0.0.77:80")]);
        Assert.Equal(1UL, written.Version[reopened.ReplicaName]);
        Assert.Equal(["bad//key"], reopened.Quarantined().Select(q => q.Key));
    }

    [Fact]
    public async Task Start_UndecodableRow_APeersCopyRepairsItByAntiEntropy()
    {
        var key = KvKey.Parse("services/web");
        using var peer = await OpenAsync("node-2");
        await peer.UpdateAsync(key, [new ORSetAdd(["endpoints"], "10.0.0.5:80")]);
        string identity;
        using (var store = await OpenAsync("node-1"))
        {
            identity = store.ReplicaName;
            await store.UpdateAsync(KvKey.Parse("other"), [new FlagEnable(["on"])]);
        }

        PutRaw("node-1", key.ToString(), [0x93, 0x01], CrdtCodec.EncodeVersion(new VersionVector([KeyValuePair.Create(peer.ReplicaName, 1UL)])));
        using var reopened = await OpenAsync("node-1");
        Assert.Single(reopened.Quarantined());
        Assert.Equal(identity, reopened.ReplicaName); // the row names only node-2's update

        AntiEntropyTests.Exchange(reopened, peer, out _);

        Assert.Equal(["10.0.0.5:80"], reopened.Get(key)!.Value.GetORSet("endpoints")!.Elements);
        Assert.Empty(reopened.Quarantined());
        Assert.Equal(Lashup.Abstractions.Lifecycle.Readiness.Ready, reopened.Check());
    }

    [Fact]
    public async Task DropQuarantined_DeletesTheRow_NextStartIsClean()
    {
        using (var store = await OpenAsync("node-1"))
        {
            await store.UpdateAsync(KvKey.Parse("good"), [new FlagEnable(["on"])]);
        }

        PutRaw("node-1", "broken", [0xff], [0xff]);
        using (var reopened = await OpenAsync("node-1"))
        {
            Assert.True(reopened.DropQuarantined("broken"));
            Assert.False(reopened.DropQuarantined("broken"));
            Assert.Empty(reopened.Quarantined());
        }

        using var again = await OpenAsync("node-1");
        Assert.Empty(again.Quarantined());
        Assert.NotNull(again.Get(KvKey.Parse("good")));
    }

    [Fact]
    public async Task QuarantineFromPeer_Bounded_OldestForgotten()
    {
        using var store = await OpenAsync("node-1");

        for (var i = 0; i < KvStore.MaxPeerQuarantine + 10; i++)
        {
            store.QuarantineFromPeer($"k{i}", "node-2", "bad");
        }

        Assert.Equal(KvStore.MaxPeerQuarantine, store.Quarantined().Count);
        Assert.Equal(KvStore.MaxPeerQuarantine + 10, store.Stats.Quarantined);
    }

    [Fact]
    public async Task Update_CompareAndSetOnAQuarantinedRow_RefusedUntilAPeersCopyArrives()
    {
        using (var store = await OpenAsync("node-1"))
        {
            await store.UpdateAsync(KvKey.Parse("other"), [new FlagEnable(["on"])]);
        }

        PutRaw("node-1", "lock", [0x01, 0xc1], CrdtCodec.EncodeVersion(new VersionVector([KeyValuePair.Create("node-2", 4UL)])));
        using var reopened = await OpenAsync("node-1");

        // "Create if absent" must not succeed over a row that held node-2's four updates.
        var e = await Assert.ThrowsAsync<KvOverloadedException>(async () =>
            await reopened.UpdateAsync(KvKey.Parse("lock"), [new LwwSet(["owner"], "me")], VersionVector.Empty));

        Assert.Contains("quarantined", e.Message, StringComparison.Ordinal);
        Assert.NotNull(e.RetryAfter);
        Assert.Single(reopened.Quarantined());
    }

    [Fact]
    public async Task Start_RowsInANewerFormat_RefusedNamingTheVersionNotQuarantined()
    {
        using (var store = await OpenAsync("node-1"))
        {
            await store.UpdateAsync(KvKey.Parse("other"), [new FlagEnable(["on"])]);
        }

        PutRaw("node-1", "future", [0x02, 0x90], CrdtCodec.EncodeVersion(VersionVector.Empty));
        var store2 = TestStores.Create("node-1", Path.Combine(_dir, "node-1"));

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => store2.StartAsync(CancellationToken.None));

        Assert.Contains("format 2, written by a newer version of Lashup", e.Message, StringComparison.Ordinal);
        store2.Dispose();
    }

    [Fact]
    public async Task QuarantineFromPeer_NotRepeatedForTheTtl_Forgotten()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(20_000));
        using var store = await TestStores.OpenAsync("node-1", Path.Combine(_dir, "node-1"), time: time);
        store.QuarantineFromPeer("k", "node-2", "bad");
        time.Advance(KvStore.PeerQuarantineTtl / 2);
        store.QuarantineFromPeer("k", "node-2", "bad again");
        time.Advance(KvStore.PeerQuarantineTtl / 2);

        Assert.True(store.Check().Reason is { } note && note.Contains("1 refused from peers", StringComparison.Ordinal));
        time.Advance(KvStore.PeerQuarantineTtl / 2);

        Assert.Empty(store.Quarantined());
        Assert.Equal(Lashup.Abstractions.Lifecycle.Readiness.Ready, store.Check());
    }

    private void PutRaw(string node, string key, byte[] value, byte[] version)
    {
        using var disk = SqliteKvPersistence.Open(Path.Combine(_dir, node, "core"), "test", node);
        disk.Put(key, value, version);
    }

    private Task<KvStore> OpenAsync(string node) => TestStores.OpenAsync(node, Path.Combine(_dir, node), departures: _departures);
}
