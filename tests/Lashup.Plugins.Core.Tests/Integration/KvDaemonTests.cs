using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>The store on a real daemon: the <c>lashup kv</c> commands, and no acknowledged write lost to a kill -9.</summary>
[Collection(DaemonCollection.Name)]
public sealed class KvDaemonTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task KvCommands_PutGetListWatchDel_AgainstRealDaemon()
    {
        using var cluster = new DaemonCluster();
        var node = cluster.Add();
        cluster.StartAll();
        Assert.True(await WaitReadyAsync(cluster, node), cluster.Logs());

        var put = await DaemonCluster.CliAsync("kv", "put", "lb/vips/web:80", "--api", node.Api, "--add", "backends=10.0.0.5:80", "--add", "backends=10.0.0.6:80", "--set", "owner=alice");
        Assert.Contains("lb/vips/web:80", put, StringComparison.Ordinal);
        Assert.Contains("\"owner\":\"alice\"", put, StringComparison.Ordinal);

        var get = await DaemonCluster.CliAsync("kv", "get", "lb/vips/web:80", "--api", node.Api, "--json");
        var entry = JsonDocument.Parse(get.Split('\n').First(l => l.StartsWith('{'))).RootElement;
        Assert.Equal(2, entry.GetProperty("value").GetProperty("backends").GetArrayLength());
        var writer = Assert.Single(entry.GetProperty("version").EnumerateObject()); // the store's identity: name~incarnation
        Assert.StartsWith($"{node.Name}~", writer.Name, StringComparison.Ordinal);
        Assert.Equal(1, writer.Value.GetInt32());

        await DaemonCluster.CliAsync("kv", "put", "lb/vips/db:5432", "--api", node.Api, "--set", "owner=bob");
        var list = await DaemonCluster.CliAsync("kv", "list", "lb/vips", "--api", node.Api);
        Assert.Contains("lb/vips/db:5432", list, StringComparison.Ordinal);
        Assert.Contains("lb/vips/web:80", list, StringComparison.Ordinal);

        var (code, output) = await LashupProcess.RunAsync(Timeout, "kv", "put", "lb/vips/web:80", "--api", node.Api, "--incr", "owner=1");
        Assert.Equal(1, code);
        Assert.Contains("lashup: the daemon answered 400", output, StringComparison.Ordinal);

        using var watch = LashupProcess.Start("kv", "watch", "lb/vips", "--api", node.Api);
        await cluster.WaitAsync(() => Task.FromResult(watch.Output.Contains("now watching", StringComparison.Ordinal)), Timeout);
        await DaemonCluster.CliAsync("kv", "put", "lb/vips/web:80", "--api", node.Api, "--remove", "backends=10.0.0.5:80");
        Assert.True(await cluster.WaitAsync(() => Task.FromResult(watch.Output.Contains("~ lb/vips/web:80", StringComparison.Ordinal)), Timeout), watch.Output);

        await DaemonCluster.CliAsync("kv", "del", "lb/vips/db:5432", "--api", node.Api);
        (code, output) = await LashupProcess.RunAsync(Timeout, "kv", "get", "lb/vips/db:5432", "--api", node.Api);
        Assert.Equal(1, code);
        Assert.Contains("no key \"lb/vips/db:5432\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KillNineDuringWrites_EveryAcknowledgedWriteSurvivesRestart()
    {
        using var cluster = new DaemonCluster();
        var node = cluster.Add();
        cluster.StartAll();
        Assert.True(await WaitReadyAsync(cluster, node), cluster.Logs());
        using var http = new HttpClient { BaseAddress = new Uri($"http://{node.Api}/"), Timeout = TimeSpan.FromSeconds(5) };
        var acknowledged = new List<int>();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 100_000; i++)
            {
                try
                {
                    using var response = await http.PutAsJsonAsync($"v1/kv/crash/k{i}", new { ops = new[] { new { op = "set", field = "v", value = $"{i}" } } });
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        return;
                    }

                    lock (acknowledged)
                    {
                        acknowledged.Add(i);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return;
                }
            }
        });

        await Task.Delay(TimeSpan.FromSeconds(2));
        node.ExpectedExit = true;
        node.Process!.Kill();
        await writer.WaitAsync(Timeout);
        Assert.True(acknowledged.Count > 10, $"only {acknowledged.Count} writes before the kill");

        cluster.Restart(node);
        Assert.True(await WaitReadyAsync(cluster, node), cluster.Logs());
        var list = JsonDocument.Parse(await http.GetStringAsync("v1/kv?prefix=crash")).RootElement.GetProperty("entries")
            .EnumerateArray().Select(e => e.GetProperty("key").GetString()).ToHashSet();
        var lost = acknowledged.Where(i => !list.Contains($"crash/k{i}")).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} of {acknowledged.Count} acknowledged writes lost, e.g. {string.Join(", ", lost.Take(5))}");
    }

    [Fact]
    public async Task ThreeDaemons_PutVisibleElsewhere_RestartedNodeCatchesUpByAntiEntropy()
    {
        using var cluster = await StartThreeAsync();
        var (first, third) = (cluster.Nodes[0], cluster.Nodes[2]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        await DaemonCluster.CliAsync("kv", "put", "services/web", "--api", first.Api, "--add", "endpoints=10.0.0.5:80");
        Assert.True(await cluster.WaitAsync(async () => await HasAsync(http, third, "services/web"), Timeout), "the put did not reach node-3:\n" + cluster.Logs());
        await DaemonCluster.CliAsync("kv", "put", "services/web", "--api", third.Api, "--add", "endpoints=10.0.0.6:80");
        Assert.True(
            await cluster.WaitAsync(async () => (await http.GetStringAsync($"http://{first.Api}/v1/kv/services/web")).Contains("10.0.0.6:80", StringComparison.Ordinal), Timeout),
            "node-3's add did not reach node-1");

        third.ExpectedExit = true;
        third.Process!.Kill();
        for (var i = 0; i < 20; i++)
        {
            await DaemonCluster.CliAsync("kv", "put", $"missed/k{i}", "--api", first.Api, "--set", $"v={i}");
        }

        cluster.Restart(third);
        Assert.True(
            await cluster.WaitAsync(async () => await CountAsync(http, third, "missed") == 20, Timeout),
            $"node-3 has {await CountAsync(http, third, "missed")}/20 keys written while it was down:\n" + cluster.Logs());
    }

    /// <summary>
    /// Issue 16: a brand-new cluster takes writes as soon as its members are alive. With <c>kv_sync_interval</c> at
    /// its default (5 s) an earlier version held every write of a new store until its first anti-entropy exchanges (13-15
    /// s for five nodes); at 1 h that hold lasted hours. The write must be acknowledged within the bounded wait; the
    /// time from "every node sees every member alive" to the acknowledgement is printed (docs/benchmarks.md).
    /// </summary>
    [Theory]
    [InlineData("5s")]
    [InlineData("1h")]
    public async Task NewCluster_FiveDaemons_FirstWriteTakenAsSoonAsMembersAreAlive(string kvSyncInterval)
    {
        using var cluster = new DaemonCluster();
        for (var i = 0; i < 5; i++)
        {
            cluster.Add(kvSyncInterval: kvSyncInterval);
        }

        var started = System.Diagnostics.Stopwatch.StartNew();
        cluster.StartAll();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        Assert.True(
            await cluster.WaitAsync(async () => (await Task.WhenAll(cluster.Nodes.Select(n => AliveCountAsync(http, n)))).All(c => c == 5), Timeout),
            "not every node sees five members alive:\n" + cluster.Logs());
        var alive = started.Elapsed;

        // One write on every node at once: each node's first write.
        using var writer = new HttpClient { Timeout = Timeout };
        var took = await Task.WhenAll(cluster.Nodes.Select(async n =>
        {
            using var put = await writer.PutAsJsonAsync(
                $"http://{n.Api}/v1/kv/services/{n.Name}",
                new { ops = new[] { new { op = "add", field = "endpoints", value = "10.0.0.1:80" } } });
            Assert.True(put.IsSuccessStatusCode, $"{n.Name}: {put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
            return started.Elapsed - alive;
        }));
        log.WriteLine($"kv_sync_interval {kvSyncInterval}: every member alive everywhere {alive.TotalSeconds:F1} s after the start; first writes acknowledged " +
                      $"{took.Min().TotalMilliseconds:F0}-{took.Max().TotalMilliseconds:F0} ms after that");
        Assert.True(
            await cluster.WaitAsync(async () => (await Task.WhenAll(cluster.Nodes.Select(n => HasAsync(http, cluster.Nodes[0], $"services/{n.Name}")))).All(h => h), Timeout),
            cluster.Logs());
    }

    private static async Task<int> AliveCountAsync(HttpClient http, DaemonCluster.Daemon node)
    {
        try
        {
            var members = JsonDocument.Parse(await http.GetStringAsync($"http://{node.Api}/v1/members")).RootElement.GetProperty("members");
            return members.EnumerateArray().Count(m => m.GetProperty("state").GetString() == "alive");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return 0;
        }
    }

    [Fact]
    public async Task WipedDataFolder_SameNameRestart_NewWritesReachEveryNodeAndOldOnesStay()
    {
        using var cluster = await StartThreeAsync();
        var (first, third) = (cluster.Nodes[0], cluster.Nodes[2]);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await DaemonCluster.CliAsync("kv", "put", "services/web", "--api", third.Api, "--incr", "hits=5", "--add", "endpoints=old");
        Assert.True(await cluster.WaitAsync(async () => await HasAsync(http, first, "services/web"), Timeout), "the put did not reach node-1:\n" + cluster.Logs());

        // The operator empties node-3's data folder and starts it again under the same name.
        third.ExpectedExit = true;
        third.Process!.Kill();
        Assert.True(await cluster.WaitAsync(() => Task.FromResult(third.Process.HasExited), Timeout), "node-3 did not exit");
        var earlier = Identity(third);
        Directory.Delete(Path.Combine(third.Folder, "data"), recursive: true);
        cluster.Restart(third);
        Assert.True(await WaitReadyAsync(cluster, third), cluster.Logs());

        // Its store file is new: a new identity, whose counters nobody has seen; its first write is taken at once.
        var put = await DaemonCluster.CliAsync("kv", "put", "services/web", "--api", third.Api, "--incr", "hits=2", "--add", "endpoints=new", "--json");
        var version = JsonDocument.Parse(put.Split('\n').First(l => l.StartsWith('{'))).RootElement.GetProperty("version");
        Assert.Contains(version.EnumerateObject(), v => v.Name.StartsWith("node-3~", StringComparison.Ordinal) && v.Name != earlier && v.Value.GetInt32() == 1);
        Assert.True(
            await cluster.WaitAsync(async () => await ValueAsync(http, first, "services/web") is { } v && v.Contains("\"hits\":7", StringComparison.Ordinal) && v.Contains("new", StringComparison.Ordinal) && v.Contains("old", StringComparison.Ordinal), Timeout),
            $"node-1 holds {await ValueAsync(http, first, "services/web")}, not hits 7 with old and new:\n" + cluster.Logs());
    }

    [Fact]
    public async Task PoisonAttempts_RefusedWith400_AnUndecodableRowIsQuarantined_TheNodeServesAndReplicatesEveryOtherKey()
    {
        using var cluster = new DaemonCluster();
        var first = cluster.Add();
        cluster.StartAll();
        Assert.True(await WaitReadyAsync(cluster, first), cluster.Logs());
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var i = 0; i < 20; i++)
        {
            await DaemonCluster.CliAsync("kv", "put", $"services/s{i}", "--api", first.Api, "--add", $"endpoints=10.0.0.{i}:80");
        }

        // The writes that used to be acknowledged and then broke the store: refused, nothing kept.
        foreach (var depth in new[] { 18, 40, 70 })
        {
            var field = string.Join('.', Enumerable.Range(0, depth).Select(d => $"m{d}"));
            using var response = await http.PutAsJsonAsync($"http://{first.Api}/v1/kv/deep/{depth}", new { ops = new[] { new { op = "set", field, value = "x" } } });
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"depth {depth}: {response.StatusCode} {text}");
            Assert.Contains($"the limit is {Abstractions.Data.KvLimits.MaxPathSegments}", text, StringComparison.Ordinal);
        }

        using (var nulls = await http.PutAsync($"http://{first.Api}/v1/kv/k", new StringContent("{\"ops\":[null]}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, nulls.StatusCode);
            Assert.Contains("ops[0]", await nulls.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A row no build can read (an older build's, or a bad disk's) lands in the store file while the node is down.
        first.ExpectedExit = true;
        first.Process!.Kill();
        Assert.True(await cluster.WaitAsync(() => Task.FromResult(first.Process.HasExited), Timeout), "node-1 did not exit");
        var identity = Identity(first);
        using (var disk = Lashup.Plugins.Core.Store.SqliteKvPersistence.Open(Path.Combine(first.Folder, "data", "core"), "it", first.Name))
        {
            disk.Put("services/s7", [0x01, 0x91, 0xa0, 0x80, 0xc1], Lashup.Plugins.Core.Store.CrdtCodec.EncodeVersion(new Abstractions.Data.VersionVector([KeyValuePair.Create(identity, 1UL)])));
        }

        cluster.Restart(first);
        Assert.True(await WaitReadyAsync(cluster, first), "a node with one undecodable row did not start:\n" + cluster.Logs());
        Assert.Equal(19, await CountAsync(http, first, "services"));
        var ready = await http.GetStringAsync($"http://{first.Api}/ready");
        Assert.Contains("\"degraded\"", ready, StringComparison.Ordinal);
        Assert.Contains("services/s7", ready, StringComparison.Ordinal);
        var quarantine = await DaemonCluster.CliAsync("kv", "quarantine", "--api", first.Api);
        Assert.Contains("services/s7", quarantine, StringComparison.Ordinal);
        Assert.Contains("disk", quarantine, StringComparison.Ordinal);

        // A compare-and-set cannot be checked against the unreadable row: 503, retry after the next anti-entropy exchange.
        using (var cas = await http.PutAsJsonAsync($"http://{first.Api}/v1/kv/services/s7", new { ops = new[] { new { op = "set", field = "v", value = "x" } }, expected_version = new Dictionary<string, ulong> { [first.Name] = 1 } }))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, cas.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), cas.Headers.RetryAfter?.Delta);
            Assert.Contains("quarantined", await cas.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A node joining now gets every good key by anti-entropy.
        var second = cluster.Add();
        cluster.StartAll();
        Assert.True(
            await cluster.WaitAsync(async () => await CountAsync(http, second, "services") == 19, Timeout),
            $"node-2 holds {await CountAsync(http, second, "services")}/19 keys:\n" + cluster.Logs());

        // The quarantined key takes new writes (under a new identity of node-1: the row may hold the old one's), and they replicate.
        var put = await DaemonCluster.CliAsync("kv", "put", "services/s7", "--api", first.Api, "--add", "endpoints=10.0.0.77:80", "--json");
        var version = JsonDocument.Parse(put.Split('\n').First(l => l.StartsWith('{'))).RootElement.GetProperty("version");
        Assert.Contains(version.EnumerateObject(), v => v.Name.StartsWith("node-1~", StringComparison.Ordinal) && v.Name != identity);
        Assert.True(await cluster.WaitAsync(async () => await HasAsync(http, second, "services/s7"), Timeout), cluster.Logs());
        Assert.Contains("no quarantined keys", await DaemonCluster.CliAsync("kv", "quarantine", "--api", first.Api), StringComparison.Ordinal);
    }

    /// <summary>The store identity a daemon's store file holds (read from the file: the daemon may be down).</summary>
    private static string Identity(DaemonCluster.Daemon node)
    {
        using var disk = Lashup.Plugins.Core.Store.SqliteKvPersistence.Open(Path.Combine(node.Folder, "data", "core"), "it", node.Name);
        return disk.GetMeta("replica") ?? node.Name;
    }

    private static async Task<string?> ValueAsync(HttpClient http, DaemonCluster.Daemon node, string key)
    {
        try
        {
            return JsonDocument.Parse(await http.GetStringAsync($"http://{node.Api}/v1/kv/{key}")).RootElement.GetProperty("value").GetRawText();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or KeyNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Starts three daemons (the first the others' seed) and waits until the first sees all three alive.</summary>
    private static async Task<DaemonCluster> StartThreeAsync()
    {
        var cluster = new DaemonCluster();
        for (var i = 0; i < 3; i++)
        {
            cluster.Add();
        }

        try
        {
            cluster.StartAll();
            Assert.True(
                await cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(cluster.Nodes[0])).Values.Count(s => s == "alive") == 3, Timeout),
                "not converged:\n" + cluster.Logs());
            return cluster;
        }
        catch
        {
            cluster.Dispose(); // no daemon left behind
            throw;
        }
    }

    private static async Task<bool> HasAsync(HttpClient http, DaemonCluster.Daemon node, string key)
    {
        try
        {
            return (await http.GetAsync($"http://{node.Api}/v1/kv/{key}")).StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static async Task<int> CountAsync(HttpClient http, DaemonCluster.Daemon node, string prefix)
    {
        try
        {
            return JsonDocument.Parse(await http.GetStringAsync($"http://{node.Api}/v1/kv?prefix={prefix}")).RootElement.GetProperty("entries").GetArrayLength();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return -1;
        }
    }

    private static async Task<bool> WaitReadyAsync(DaemonCluster cluster, DaemonCluster.Daemon node)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        return await cluster.WaitAsync(
            async () =>
            {
                try
                {
                    return (await http.GetAsync($"http://{node.Api}/ready")).StatusCode == HttpStatusCode.OK;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            },
            Timeout);
    }
}
