using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>One node's replica: atomic updates, compare-and-set, limits, persistence, watchers, bad files.</summary>
public sealed class KvStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kv-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Update_AppliesAllOpsAndBumpsVersion()
    {
        using var store = await OpenAsync();
        var key = KvKey.Parse("lb/vips/web:80");

        var entry = await store.UpdateAsync(key, [new ORSetAdd(["backends"], "10.0.0.1:80"), new LwwSet(["owner"], "alice")]);

        Assert.Equal(["10.0.0.1:80"], entry.Value.GetORSet("backends")!.Elements);
        Assert.Equal("alice", entry.Value.GetLwwRegister("owner")!.Value);
        Assert.Equal(1UL, entry.Version[store.ReplicaName]);
        Assert.StartsWith("node-1~", store.ReplicaName, StringComparison.Ordinal); // a new store file is a new identity
        Assert.Equal(entry, store.Get(key));
        Assert.Single(store.List(KvKey.Parse("lb")));
        Assert.Empty(store.List(KvKey.Parse("dns")));
    }

    [Fact]
    public async Task Update_TypeMismatch_ChangesNothing()
    {
        using var store = await OpenAsync();
        var key = KvKey.Parse("a");
        var before = await store.UpdateAsync(key, [new LwwSet(["f"], "x")]);

        var e = await Assert.ThrowsAsync<CrdtTypeMismatchException>(async () =>
            await store.UpdateAsync(key, [new LwwSet(["g"], "y"), new ORSetAdd(["f"], "z")]));

        Assert.Contains("f", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, store.Get(key));
    }

    [Fact]
    public async Task Update_WrongExpectedVersion_Conflicts()
    {
        using var store = await OpenAsync();
        var key = KvKey.Parse("a");
        var first = await store.UpdateAsync(key, [new LwwSet(["f"], "1")]);
        await store.UpdateAsync(key, [new LwwSet(["f"], "2")]);

        await Assert.ThrowsAsync<KvConflictException>(async () => await store.UpdateAsync(key, [new LwwSet(["f"], "3")], first.Version));
        var ok = await store.UpdateAsync(key, [new LwwSet(["f"], "3")], store.Get(key)!.Version);
        Assert.Equal("3", ok.Value.GetLwwRegister("f")!.Value);
    }

    [Fact]
    public async Task Update_OverSizeLimit_RefusedAndUnchanged()
    {
        using var store = await OpenAsync(maxValueSize: 4096);
        var key = KvKey.Parse("big");

        var e = await Assert.ThrowsAsync<KvValidationException>(async () => await store.UpdateAsync(key, [new LwwSet(["f"], new string('x', 10_000))]));

        Assert.Contains("core.max_value_size", e.Message, StringComparison.Ordinal);
        Assert.Null(store.Get(key));
    }

    [Fact]
    public async Task Reopen_KeepsEveryAcknowledgedWrite()
    {
        var keys = Enumerable.Range(0, 200).Select(i => KvKey.Parse($"services/s{i}")).ToList();
        using (var store = await OpenAsync())
        {
            foreach (var key in keys)
            {
                await store.UpdateAsync(key, [new ORSetAdd(["endpoints"], $"{key}:1"), new CounterAdd(["n"], 2)]);
            }

            await store.UpdateAsync(keys[0], [new RemoveField(["endpoints"])]);
        }

        using var reopened = await OpenAsync();

        Assert.Single(reopened.Get(keys[1])!.Version.Entries); // the same identity: its counters go on
        Assert.Equal(199, reopened.List(KvKey.Parse("services")).Count(e => e.Value.GetORSet("endpoints")?.Elements.Count() == 1));
        Assert.Null(reopened.Get(keys[0])!.Value.GetORSet("endpoints"));
        Assert.Equal(2L, reopened.Get(keys[1])!.Value.GetPnCounter("n")!.Value);
        Assert.Equal(1UL, reopened.Get(keys[1])!.Version[reopened.ReplicaName]);
    }

    [Fact]
    public async Task Open_ForeignOrCorruptFile_ClearErrorNeverReset()
    {
        using (await OpenAsync())
        {
        }

        var foreign = TestStores.Create("node-1", _dir, cluster: "other-cluster");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => foreign.StartAsync(CancellationToken.None));
        Assert.Contains("belongs to another cluster", e.Message, StringComparison.Ordinal);

        var path = Path.Combine(_dir, "core", "kv.db");
        foreach (var f in Directory.GetFiles(Path.Combine(_dir, "core"), "kv.db*"))
        {
            File.Delete(f);
        }

        await File.WriteAllBytesAsync(path, [.. Enumerable.Repeat((byte)0x42, 8192)]);
        var corrupt = TestStores.Create("node-1", _dir);
        e = await Assert.ThrowsAsync<InvalidOperationException>(() => corrupt.StartAsync(CancellationToken.None));
        Assert.Contains("is not a Lashup store", e.Message, StringComparison.Ordinal);
        Assert.Equal(8192, new FileInfo(path).Length);
    }

    [Fact]
    public async Task Watch_SnapshotThenChanges_SlowWatcherCoalesced()
    {
        using var store = await OpenAsync();
        await store.UpdateAsync(KvKey.Parse("svc/a"), [new LwwSet(["v"], "0")]);
        await store.UpdateAsync(KvKey.Parse("other/x"), [new LwwSet(["v"], "0")]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var watch = store.WatchAsync(KvKey.Parse("svc"), cts.Token).GetAsyncEnumerator(cts.Token);

        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(KvChangeKind.Snapshot, watch.Current.Kind);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(KvChangeKind.SnapshotComplete, watch.Current.Kind);

        for (var i = 1; i <= 500; i++)
        {
            await store.UpdateAsync(KvKey.Parse("svc/a"), [new LwwSet(["v"], $"{i}")]);
        }

        await store.UpdateAsync(KvKey.Parse("svc/b"), [new LwwSet(["v"], "b")]);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal("500", watch.Current.Entry!.Value.GetLwwRegister("v")!.Value);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal("svc/b", watch.Current.Entry!.Key.ToString());
    }

    [SkippableFact]
    public async Task DiskFull_WritesRefusedReadsServedNotReady_NothingCorrupted()
    {
        var root = Environment.UserName == "root";
        if (!root && Host.Tests.Support.TestEnvironment.IsCi)
        {
            Assert.Fail("CI runs as root: this test must run there (it mounts a small tmpfs)");
        }

        Skip.IfNot(root, "needs root to mount a small tmpfs");
        var mount = Path.Combine(_dir, "small");
        Directory.CreateDirectory(mount);
        Run("mount", $"-t tmpfs -o size=256k tmpfs {mount}");
        try
        {
            var store = await TestStores.OpenAsync("node-1", mount);
            var written = new List<KvKey>();
            KvException? failure = null;
            for (var i = 0; i < 10_000 && failure is null; i++)
            {
                var key = KvKey.Parse($"fill/k{i}");
                try
                {
                    await store.UpdateAsync(key, [new LwwSet(["v"], new string('x', 2000))]);
                    written.Add(key);
                }
                catch (KvException e)
                {
                    failure = e;
                    Assert.Null(store.Get(key));
                }
            }

            Assert.NotNull(failure);
            Assert.Contains("could not be written", failure!.Message, StringComparison.Ordinal);
            Assert.False(store.Check().IsReady);
            Assert.Contains("writes fail", store.Check().Reason, StringComparison.Ordinal);
            Assert.All(written, k => Assert.NotNull(store.Get(k)));
            store.Dispose();

            // What was acknowledged is on disk and the file is intact.
            var reopened = await TestStores.OpenAsync("node-1", mount);
            Assert.Equal(written.Count, reopened.List(KvKey.Parse("fill")).Count);
            reopened.Dispose();
        }
        finally
        {
            Run("umount", mount);
        }
    }

    private static void Run(string file, string args)
    {
        using var p = System.Diagnostics.Process.Start(file, args);
        p.WaitForExit(10_000);
        Assert.Equal(0, p.ExitCode);
    }

    private Task<KvStore> OpenAsync(int maxValueSize = 1 << 20) =>
        TestStores.OpenAsync("node-1", _dir, new CoreOptions { MaxValueSize = maxValueSize });
}
