using System.Diagnostics;
using Lashup.Abstractions.Cluster;

namespace Lashup.Simulator;

/// <summary>The simulator's measured scenarios, shared by the command line (docs/benchmarks.md) and the tests.</summary>
internal static class Scenarios
{
    /// <summary>One network hop: the fixed one-way delay of these runs, so virtual time / hop = gossip rounds.</summary>
    public static readonly TimeSpan Hop = TimeSpan.FromMilliseconds(10);

    public sealed record JoinLeave(int Nodes, TimeSpan Bootstrap, double JoinRounds, double LeaveRounds, double WallSeconds);

    public sealed record BroadcastResult(int Nodes, int Broadcasts, long Delivered, long Expected, long Forwarded, long Duplicates, double MessagesPerIdealTree);

    public sealed record ChurnResult(int Nodes, int Runs, int Connected, TimeSpan WorstRepair);

    public sealed record DetectionResult(int Nodes, int Runs, TimeSpan P50, TimeSpan P99, TimeSpan Max);

    public sealed record LossResult(int Nodes, double Loss, TimeSpan Duration, long Probes, long FalseFailures, long Suspicions, double FalsePositiveRate);

    public sealed record TrafficResult(int Nodes, double BytesPerSecondPerNode, double MessagesPerSecondPerNode);

    /// <summary>A converged cluster of <paramref name="n"/> nodes with a fixed per-hop delay; bootstrapped through joins, or prewired (<paramref name="warm"/>).</summary>
    public static SimCluster Converged(int n, int seed, TimeSpan? hop = null, bool measureBytes = false, bool store = false, bool warm = false)
    {
        var cluster = new SimCluster(seed, measureBytes: measureBytes) { StoreEnabled = store };
        cluster.Network.Delay = hop ?? Hop;
        if (warm)
        {
            cluster.Prewire(n);
        }
        else
        {
            cluster.Bootstrap(n, TimeSpan.FromMilliseconds(5 * n));
        }

        var took = cluster.Sim.RunUntil(() => cluster.Nodes.Count == n && FullyReachable(cluster) && cluster.StoresSynced, TimeSpan.FromMinutes(10), TimeSpan.FromMilliseconds(100));
        if (took is null)
        {
            throw new InvalidOperationException($"{n} nodes did not converge in 10 virtual minutes (seed {seed})");
        }

        return cluster;
    }

    /// <summary>Every live node reaches every live node and knows no more members than are live (O(N) per check).</summary>
    public static bool FullyReachable(SimCluster cluster)
    {
        var live = cluster.Live.Count();
        foreach (var node in cluster.Live)
        {
            if (node.Node!.ReachableCount != live)
            {
                return false;
            }
        }

        return true;
    }

    public static JoinLeave JoinAndLeaveRounds(int n, int seed, bool print = true)
    {
        var wall = Stopwatch.StartNew();
        var cluster = Converged(n, seed);
        var bootstrap = cluster.Sim.Elapsed;

        var seeds = cluster.Nodes.Take(3).Select(x => x.Address).ToList();
        var joiner = cluster.AddNode(seeds);
        var joinTime = cluster.Sim.RunUntil(() => cluster.Live.All(x => x.Node!.StateOf(joiner.Name) == MemberState.Alive), TimeSpan.FromMinutes(2), Hop)
            ?? throw new InvalidOperationException($"join not known everywhere (seed {seed})");

        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        var leaver = cluster.Nodes[cluster.Sim.Random.Next(1, cluster.Nodes.Count)];
        leaver.Leave();
        var leaveTime = cluster.Sim.RunUntil(() => cluster.Live.All(x => x.Node!.StateOf(leaver.Name) != MemberState.Alive), TimeSpan.FromMinutes(2), Hop)
            ?? throw new InvalidOperationException($"leave not known everywhere (seed {seed})");

        var result = new JoinLeave(n, bootstrap, joinTime / Hop, leaveTime / Hop, wall.Elapsed.TotalSeconds);
        Console.Error.WriteLine($"#   events {cluster.Sim.EventsRun}, messages delivered {cluster.MessagesDelivered}, lost {cluster.MessagesLost}");
        if (print)
        {
            Console.WriteLine($"join/leave  N={n,6}  log2N={Math.Log2(n),5:F1}  join={result.JoinRounds,5:F0} rounds  leave={result.LeaveRounds,5:F0} rounds  (bootstrap {bootstrap.TotalSeconds:F1} s virtual, {result.WallSeconds:F1} s wall)");
        }

        return result;
    }

    public static BroadcastResult Broadcast(int n, int seed, int broadcasts = 5, bool print = true)
    {
        var cluster = Converged(n, seed);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(2));
        long delivered = 0;
        foreach (var node in cluster.Live)
        {
            node.Node!.Subscribe("bench", _ => delivered++);
        }

        var forwardedBefore = cluster.Live.Sum(x => x.Node!.Stats.MulticastForwarded);
        var duplicatesBefore = cluster.Live.Sum(x => x.Node!.Stats.MulticastDuplicates);
        for (var i = 0; i < broadcasts; i++)
        {
            var origin = cluster.Nodes[cluster.Sim.Random.Next(cluster.Nodes.Count)];
            origin.Node!.Broadcast("bench", [1, 2, 3]);
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        var forwarded = cluster.Live.Sum(x => x.Node!.Stats.MulticastForwarded) - forwardedBefore;
        var duplicates = cluster.Live.Sum(x => x.Node!.Stats.MulticastDuplicates) - duplicatesBefore;
        var expected = (long)broadcasts * (n - 1);
        var result = new BroadcastResult(n, broadcasts, delivered, expected, forwarded, duplicates, (double)forwarded / expected);
        if (print)
        {
            Console.WriteLine($"broadcast   N={n,6}  delivered {delivered}/{expected}  messages {forwarded} = {result.MessagesPerIdealTree:F2}x ideal tree  duplicates {duplicates}");
        }

        return result;
    }

    public static ChurnResult HalfCrash(int n, int seed, int runs, bool print = true)
    {
        var connected = 0;
        var worst = TimeSpan.Zero;
        for (var r = 0; r < runs; r++)
        {
            var cluster = Converged(n, seed + r);
            cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
            foreach (var victim in cluster.Nodes.OrderBy(_ => cluster.Sim.Random.Next()).Take(n / 2).ToList())
            {
                victim.Crash();
            }

            var repair = cluster.Sim.RunUntil(() => FullyReachable(cluster), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
            if (repair is { } t)
            {
                connected++;
                worst = t > worst ? t : worst;
            }
        }

        var result = new ChurnResult(n, runs, connected, worst);
        if (print)
        {
            Console.WriteLine($"50% crash   N={n,6}  connected after repair in {connected}/{runs} runs  (worst repair {worst.TotalSeconds:F1} s virtual)");
        }

        return result;
    }

    public static DetectionResult Detection(int n, int seed, int runs, bool print = true)
    {
        var samples = new List<TimeSpan>();
        for (var r = 0; r < runs; r++)
        {
            var cluster = Converged(n, seed + r, hop: TimeSpan.FromMilliseconds(1));
            cluster.Network.Jitter = TimeSpan.FromMilliseconds(1);
            cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
            var victim = cluster.Nodes[cluster.Sim.Random.Next(cluster.Nodes.Count)];
            victim.Crash();
            var start = cluster.Sim.Elapsed;
            var pending = cluster.Live.ToHashSet();
            cluster.Sim.RunUntil(
                () =>
                {
                    foreach (var node in pending.Where(x => x.Node!.StateOf(victim.Name) != MemberState.Alive).ToList())
                    {
                        samples.Add(cluster.Sim.Elapsed - start);
                        pending.Remove(node);
                    }

                    return pending.Count == 0;
                },
                TimeSpan.FromMinutes(2),
                TimeSpan.FromMilliseconds(10));
        }

        samples.Sort();
        var result = new DetectionResult(n, runs, Percentile(samples, 0.5), Percentile(samples, 0.99), samples.Count > 0 ? samples[^1] : TimeSpan.Zero);
        if (print)
        {
            Console.WriteLine($"kill -9     N={n,6}  declared unreachable: p50 {result.P50.TotalSeconds:F2} s  p99 {result.P99.TotalSeconds:F2} s  max {result.Max.TotalSeconds:F2} s  ({runs} runs)");
        }

        return result;
    }

    public static LossResult FalsePositives(int n, int seed, double loss, TimeSpan? duration = null, bool print = true)
    {
        var cluster = Converged(n, seed, hop: TimeSpan.FromMilliseconds(1));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        var probes0 = cluster.Live.Sum(x => x.Node!.Stats.ProbesSent);
        var failed0 = cluster.Live.Sum(x => x.Node!.Stats.NeighborsFailed);
        var suspicions0 = cluster.Live.Sum(x => x.Node!.Stats.Suspicions);
        cluster.Network.Loss = loss;
        cluster.Network.Jitter = TimeSpan.FromMilliseconds(2);
        var length = duration ?? TimeSpan.FromMinutes(10);
        cluster.Sim.RunFor(length);
        var probes = cluster.Live.Sum(x => x.Node!.Stats.ProbesSent) - probes0;
        var failed = cluster.Live.Sum(x => x.Node!.Stats.NeighborsFailed) - failed0;
        var suspicions = cluster.Live.Sum(x => x.Node!.Stats.Suspicions) - suspicions0;
        var result = new LossResult(n, loss, length, probes, failed, suspicions, probes == 0 ? 0 : (double)failed / probes);
        if (print)
        {
            Console.WriteLine($"loss {loss:P0}   N={n,6}  {length.TotalMinutes:F0} min: probes {probes}, neighbours wrongly declared failed {failed} ({result.FalsePositiveRate:P4} of probes), suspicions {suspicions}");
        }

        return result;
    }

    public static TrafficResult Traffic(int n, int seed, bool print = true)
    {
        var cluster = Converged(n, seed, hop: TimeSpan.FromMilliseconds(1), measureBytes: true);
        cluster.Sim.RunFor(TimeSpan.FromMinutes(2));
        var bytes0 = cluster.BytesSent;
        var messages0 = cluster.Live.Sum(x => x.Node!.Stats.MessagesSent);
        var window = TimeSpan.FromMinutes(5);
        cluster.Sim.RunFor(window);
        var perNode = (cluster.BytesSent - bytes0) / window.TotalSeconds / n;
        var messages = (cluster.Live.Sum(x => x.Node!.Stats.MessagesSent) - messages0) / window.TotalSeconds / n;
        var result = new TrafficResult(n, perNode, messages);
        if (print)
        {
            Console.WriteLine($"idle        N={n,6}  {perNode:F0} B/s and {messages:F1} msg/s sent per node ({perNode / n:F1} B/s per member)");
        }

        return result;
    }

    private static TimeSpan Percentile(List<TimeSpan> sorted, double p) =>
        sorted.Count == 0 ? TimeSpan.Zero : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
