using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Nftables;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Benchmarks;

/// <summary>
/// The nftables backend at scale, against the real kernel inside a network namespace the caller made
/// (benchmarks/lb-nftables.sh): the first build of N VIPs × 2 backends, M single-VIP changes one after another (each
/// one <c>nft -f</c> transaction, as the load balancer sends them), a reconcile that finds nothing to repair; then the
/// chain-per-service layout (kube-proxy's iptables shape written in nft: a chain per service jumping by <c>numgen</c> to
/// a chain per endpoint) loaded and changed the same way, for comparison. Prints one line of figures per layout.
/// Usage: nft-scale NETNS VIPS CHANGES
/// </summary>
internal static class NftScale
{
    public static void Run(string[] args)
    {
        var netns = args[0];
        var count = int.Parse(args[1], CultureInfo.InvariantCulture);
        var changes = int.Parse(args[2], CultureInfo.InvariantCulture);
        RunAsync(netns, count, changes).GetAwaiter().GetResult();
    }

    private static IPAddress Vip(int i) => new([10, (byte)(100 + (i >> 16)), (byte)(i >> 8), (byte)i]);

    private static VipEntry Entry(int i, int generation) => new(
        new VipKey(Vip(i), 80, TransportProtocol.Tcp),
        [
            new VipBackend(new IPEndPoint(new IPAddress([10, 1, (byte)(i >> 8), (byte)i]), 8080), "node-1", 1),
            new VipBackend(new IPEndPoint(new IPAddress([10, 2, (byte)(generation >> 8), (byte)generation]), 8080), "node-2", 1),
        ]);

    private static async Task RunAsync(string netns, int count, int changes)
    {
        using var library = LibNftablesRunner.TryCreate(netns, out var why);
        INftRunner nft = library is not null ? library : new ProcessNftRunner(netns);
        Console.WriteLine(library is not null ? "runner: libnftables in the process" : $"runner: the nft command ({why})");
        var backend = new NftablesBackend(nft, new NftablesOptions(), null, NullLogger<NftablesBackend>.Instance);
        await backend.EnsureSupportedAsync(default);
        var table = LoadBalancerTable.From(Enumerable.Range(0, count).Select(i => Entry(i, 0)));

        var started = Stopwatch.GetTimestamp();
        await backend.ReconcileAsync(table, default);
        var build = Stopwatch.GetElapsedTime(started);

        var latencies = new List<double>();
        var random = new Random(1);
        for (var c = 1; c <= changes; c++)
        {
            var i = random.Next(count);
            var next = new LoadBalancerTable(table.Vips.SetItem(Entry(i, 0).Vip, Entry(i, c)));
            var delta = LoadBalancerDelta.Between(table, next);
            started = Stopwatch.GetTimestamp();
            await backend.ApplyAsync(delta, default);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            table = next;
        }

        started = Stopwatch.GetTimestamp();
        var repairs = await backend.ReconcileAsync(table, default);
        var reconcile = Stopwatch.GetElapsedTime(started);
        await backend.ClearAsync(default);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"flat-maps vips={count} build_s={build.TotalSeconds:0.000} change_p50_ms={Percentile(latencies, 0.50):0.0} change_p99_ms={Percentile(latencies, 0.99):0.0} reconcile_s={reconcile.TotalSeconds:0.000} repairs={repairs}"));

        // The chain-per-service layout, for comparison: the same VIPs and backends, the same kind of change.
        var script = new StringBuilder("add table inet bench_chains\ndelete table inet bench_chains\n");
        script.Append("add table inet bench_chains\nadd chain inet bench_chains prerouting { type nat hook prerouting priority dstnat; policy accept; }\n");
        for (var i = 0; i < count; i++)
        {
            AppendService(script, i, 0, create: true);
        }

        started = Stopwatch.GetTimestamp();
        await nft.RunAsync(script.ToString(), default);
        var chainsBuild = Stopwatch.GetElapsedTime(started);
        latencies.Clear();
        for (var c = 1; c <= changes; c++)
        {
            var change = new StringBuilder();
            AppendService(change, random.Next(count), c, create: false);
            started = Stopwatch.GetTimestamp();
            await nft.RunAsync(change.ToString(), default);
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        await nft.RunAsync("delete table inet bench_chains\n", default);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"chain-per-service vips={count} build_s={chainsBuild.TotalSeconds:0.000} change_p50_ms={Percentile(latencies, 0.50):0.0} change_p99_ms={Percentile(latencies, 0.99):0.0}"));
    }

    /// <summary>One service as kube-proxy's layout has it: a rule in the dispatch chain, a chain per service, a chain per endpoint.</summary>
    private static void AppendService(StringBuilder script, int i, int generation, bool create)
    {
        var entry = Entry(i, generation);
        var service = "svc" + i.ToString(CultureInfo.InvariantCulture);
        if (create)
        {
            script.Append(CultureInfo.InvariantCulture, $"add chain inet bench_chains {service}\n");
            script.Append(CultureInfo.InvariantCulture, $"add rule inet bench_chains prerouting ip daddr {entry.Vip.Address} tcp dport 80 jump {service}\n");
        }

        for (var b = 0; b < 2; b++)
        {
            var endpoint = $"{service}_{b}";
            script.Append(CultureInfo.InvariantCulture, $"add chain inet bench_chains {endpoint}\nflush chain inet bench_chains {endpoint}\n");
            script.Append(CultureInfo.InvariantCulture, $"add rule inet bench_chains {endpoint} meta l4proto tcp dnat ip to {entry.Backends[b].Endpoint}\n");
        }

        script.Append(CultureInfo.InvariantCulture, $"flush chain inet bench_chains {service}\nadd rule inet bench_chains {service} numgen random mod 2 vmap {{ 0 : jump {service}_0, 1 : jump {service}_1 }}\n");
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }
}
