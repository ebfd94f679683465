using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>
/// A real partition between daemons: nftables drops every packet between two loopback addresses (root only; CI runs
/// as root). Both sides keep taking writes; after the heal every replica converges to the same values.
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class PartitionTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task Partition_BothSidesWrite_HealConverges()
    {
        var root = Environment.UserName == "root";
        if (!root && TestEnvironment.IsCi)
        {
            Assert.Fail("CI runs as root: this test must run there (it installs nftables drop rules)");
        }

        Skip.IfNot(root && File.Exists("/usr/sbin/nft"), "needs root and nft to drop traffic between loopback addresses");
        var table = $"lashup_test_{Environment.ProcessId}";
        using var cluster = new DaemonCluster();
        var a = cluster.Add(coreAddress: "127.0.0.11");
        var b = cluster.Add(coreAddress: "127.0.0.12");
        var c = cluster.Add(coreAddress: "127.0.0.13");
        cluster.StartAll();
        Assert.True(await cluster.WaitAsync(async () => await AliveAsync(a) == 3 && await AliveAsync(b) == 3, Timeout), "not converged:\n" + cluster.Logs());

        try
        {
            // Cut a (127.0.0.11) off from b and c, both ways, UDP and TCP.
            Nft($"add table inet {table}");
            Nft($"add chain inet {table} input {{ type filter hook input priority -10 ; }}");
            Nft($"add rule inet {table} input ip saddr 127.0.0.11 ip daddr {{ 127.0.0.12, 127.0.0.13 }} drop");
            Nft($"add rule inet {table} input ip saddr {{ 127.0.0.12, 127.0.0.13 }} ip daddr 127.0.0.11 drop");
            Assert.True(
                await cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(b)).GetValueOrDefault(a.Name) == "unreachable", Timeout),
                "the partition was not detected:\n" + cluster.Logs());

            await DaemonCluster.CliAsync("kv", "put", "svc/x", "--api", a.Api, "--add", "e=from-a", "--set", "owner=a");
            await DaemonCluster.CliAsync("kv", "put", "svc/x", "--api", b.Api, "--add", "e=from-b");
            await DaemonCluster.CliAsync("kv", "put", "svc/y", "--api", c.Api, "--set", "v=c");
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.DoesNotContain("from-b", await GetAsync(a, "svc/x"), StringComparison.Ordinal);
        }
        finally
        {
            Nft($"delete table inet {table}", check: false);
        }

        // Healed: re-link, then deltas and anti-entropy bring every replica to the same value.
        Assert.True(
            await cluster.WaitAsync(
                async () =>
                {
                    var values = await Task.WhenAll(cluster.Nodes.Select(n => GetAsync(n, "svc/x")));
                    var ys = await Task.WhenAll(cluster.Nodes.Select(n => GetAsync(n, "svc/y")));
                    return values.All(v => v.Contains("from-a", StringComparison.Ordinal) && v.Contains("from-b", StringComparison.Ordinal) && v == values[0])
                           && ys.All(v => v.Contains("\"v\":\"c\"", StringComparison.Ordinal) && v == ys[0]);
                },
                Timeout),
            "replicas did not converge after the heal:\n" + cluster.Logs());
    }

    private static async Task<int> AliveAsync(DaemonCluster.Daemon node) =>
        (await DaemonCluster.MembersAsync(node)).Values.Count(s => s == "alive");

    private static async Task<string> GetAsync(DaemonCluster.Daemon node, string key)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync($"http://{node.Api}/v1/kv/{key}");
            return response.StatusCode == HttpStatusCode.OK
                ? JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("value").GetRawText()
                : "";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return "";
        }
    }

    private static void Nft(string args, bool check = true)
    {
        var info = new ProcessStartInfo("nft") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var part in SplitArgs(args))
        {
            info.ArgumentList.Add(part);
        }

        using var p = Process.Start(info)!;
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit(10_000);
        if (check)
        {
            Assert.True(p.ExitCode == 0, $"nft {args}: {error}");
        }
    }

    private static IEnumerable<string> SplitArgs(string args) => args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
