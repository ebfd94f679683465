using System.Diagnostics;
using Lashup.Abstractions.Data;

namespace Lashup.Simulator;

/// <summary>The replicated store in the simulator: the scenarios of docs/benchmarks.md, shared by the command line and the tests.</summary>
internal static class StoreScenarios
{
    /// <summary>The partition-and-heal run's knobs; the defaults are the documented run.</summary>
    public sealed record PartitionOptions
    {
        public int Nodes { get; init; } = 100;
        public int Seed { get; init; } = 1;
        public int Keys { get; init; } = 200;
        public double WritesPerSecond { get; init; } = 20;
        public double Loss { get; init; } = 0.10;
        public double StreamLoss { get; init; }
        public TimeSpan Before { get; init; } = TimeSpan.FromSeconds(20);
        public TimeSpan Partition { get; init; } = TimeSpan.FromSeconds(60);
        public int ContestedKeys { get; init; } = 20;
        public int Crashes { get; init; } = -1;
        public TimeSpan ConvergeLimit { get; init; } = TimeSpan.FromMinutes(10);

        /// <summary>Start from a prewired converged cluster instead of joins (see <see cref="SimCluster.Prewire"/>).</summary>
        public bool WarmStart { get; init; }
    }

    public sealed record PartitionResult(
        PartitionOptions Options,
        long Writes,
        long Acknowledged,
        int Crashed,
        int ContestedObserved,
        int ContestedKept,
        TimeSpan? MembershipHealed,
        TimeSpan? Converged,
        double Rounds,
        double RoundsStartedPerNode,
        long DeltaBytes,
        long SyncBytes,
        long SyncBytesAfterHeal,
        long BadMessages,
        List<string> Violations,
        double WallSeconds);

    /// <summary>
    /// A converged cluster with the store; 10% loss; random writes everywhere; a partition into two halves during
    /// which both sides keep writing (plus, on contested keys, a remove on one side concurrent with a re-add of the same
    /// element on the other, and a few nodes that write alone and crash, restarted 25 s later from their kept
    /// state); heal and stop writing; run until every replica holds the same (key, value, version), then check them all
    /// against the ledger of acknowledged writes.
    /// </summary>
    public static PartitionResult PartitionAndHeal(PartitionOptions o, bool print = true)
    {
        var wall = Stopwatch.StartNew();
        var n = o.Nodes;
        var cluster = Scenarios.Converged(n, o.Seed, store: true, warm: o.WarmStart);
        var boot = wall.Elapsed.TotalSeconds;
        void Progress(string what)
        {
            if (print)
            {
                Console.Error.WriteLine($"#   {what} at {cluster.Sim.Elapsed.TotalSeconds:F0} s virtual, {wall.Elapsed.TotalSeconds:F0} s wall");
            }
        }

        Progress("converged");
        cluster.Network.Loss = o.Loss;
        cluster.Network.StreamLoss = o.StreamLoss;
        cluster.Network.Jitter = TimeSpan.FromMilliseconds(5);
        var random = cluster.Sim.Random;
        var workload = new StoreWorkload(cluster, o.Keys);
        var writing = true;
        var period = TimeSpan.FromSeconds(1 / o.WritesPerSecond);
        void WriteTick()
        {
            if (!writing)
            {
                return;
            }

            var node = cluster.Nodes[random.Next(n)];
            if (node.IsUp)
            {
                workload.WriteRandom(node);
            }

            cluster.Sim.After(period, WriteTick);
        }

        cluster.Sim.After(period, WriteTick);

        // Contested elements, on keys of their own (random writes never touch them): added once before the partition,
        // so both sides can see the add.
        var contested = Enumerable.Range(0, o.ContestedKeys).Select(i => (Key: KvKey.Parse($"sim/contested{i:D3}"), Element: $"contested-{i}")).ToList();
        foreach (var (key, element) in contested)
        {
            workload.Write(cluster.Nodes[random.Next(n)], key, new ORSetAdd([StoreWorkload.SetField], element));
        }

        cluster.Sim.RunFor(o.Before);

        int Side(SimNode node) => cluster.Nodes.IndexOf(node) < n / 2 ? 1 : 2;
        var sides = cluster.Nodes.ToDictionary(x => x, Side);
        cluster.Partition(x => sides[x]);
        var partitionStart = cluster.Sim.Elapsed;
        Progress("partitioned");

        // Both sides see the other unreachable within seconds; then the concurrent remove / re-add.
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        var observed = 0;
        for (var i = 0; i < contested.Count; i++)
        {
            var (key, element) = contested[i];
            var removerSide = i % 2 == 0 ? 1 : 2;
            var holders = cluster.Live.Where(x => sides[x] == removerSide && x.Kv!.Store.Get(key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(element) == true).ToList();
            var others = cluster.Live.Where(x => sides[x] != removerSide).ToList();
            if (holders.Count > 0)
            {
                observed++;
                workload.Write(holders[random.Next(holders.Count)], key, new ORSetRemove([StoreWorkload.SetField], element));
            }

            workload.Write(others[random.Next(others.Count)], key, new ORSetAdd([StoreWorkload.SetField], element));
        }

        // Nodes that write while cut off from everyone, then crash: their writes exist only in their kept state.
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        var crashes = o.Crashes >= 0 ? o.Crashes : Math.Max(2, n / 50);
        var victims = cluster.Nodes.Skip(3).OrderBy(_ => random.Next()).Take(crashes).ToList();
        foreach (var victim in victims)
        {
            cluster.Partition(x => x == victim ? 3 : sides[x]);
            for (var w = 0; w < 3; w++)
            {
                workload.WriteRandom(victim);
            }

            victim.Crash();
        }

        cluster.Partition(x => sides[x]);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(25));
        foreach (var victim in victims)
        {
            victim.Restart();
        }

        cluster.Sim.RunUntil(partitionStart + o.Partition);
        writing = false;
        cluster.Heal();
        var healAt = cluster.Sim.Elapsed;
        Progress("healed");
        var syncBytesAtHeal = cluster.StoreSyncBytes;
        var roundsAtHeal = cluster.Live.Sum(x => x.Kv!.Store.Stats.SyncRounds);
        TimeSpan? membership = null;
        var converged = cluster.Sim.RunUntil(
            () =>
            {
                if (membership is null && Scenarios.FullyReachable(cluster))
                {
                    membership = cluster.Sim.Elapsed - healAt;
                }

                return StoreWorkload.ReplicasEqual(cluster);
            },
            o.ConvergeLimit,
            TimeSpan.FromSeconds(1));
        var roundsStarted = (double)(cluster.Live.Sum(x => x.Kv!.Store.Stats.SyncRounds) - roundsAtHeal) / n;
        var syncAfterHeal = cluster.StoreSyncBytes - syncBytesAtHeal;
        var violations = converged is null ? [$"replicas still differ {o.ConvergeLimit} after the heal"] : workload.Verify();
        var kept = contested.Count(c => cluster.Live.All(x => x.Kv!.Store.Get(c.Key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(c.Element) == true));
        var result = new PartitionResult(
            o, workload.Writes, workload.Acknowledged, victims.Count, observed, kept, membership, converged,
            converged is { } c ? c / cluster.KvSyncInterval : double.NaN, roundsStarted,
            cluster.StoreDeltaBytes, cluster.StoreSyncBytes, syncAfterHeal,
            cluster.Live.Sum(x => x.Kv!.Store.Stats.BadMessages), violations, wall.Elapsed.TotalSeconds);
        if (print)
        {
            Console.WriteLine(
                $"kv partition N={n,5} seed {o.Seed}: {result.Acknowledged}/{result.Writes} writes acknowledged on {o.Keys} keys, {o.Loss:P0} loss, " +
                $"{o.Partition.TotalSeconds:F0} s partition, {victims.Count} crashed+restarted; after heal: members reachable in {membership?.TotalSeconds:F0} s, " +
                $"replicas equal in {converged?.TotalSeconds:F0} s = {result.Rounds:F0} anti-entropy intervals ({roundsStarted:F1} rounds started per node); " +
                $"contested add-vs-remove: {kept}/{contested.Count} adds kept ({observed} removes had seen the add); " +
                $"store bytes: deltas {result.DeltaBytes / 1e6:F1} MB, anti-entropy {result.SyncBytes / 1e6:F1} MB ({syncAfterHeal / 1e6:F1} MB after heal); " +
                $"violations {violations.Count}; bad messages {result.BadMessages}; wall {result.WallSeconds:F0} s (bootstrap {boot:F0} s)");
            foreach (var v in violations.Take(20))
            {
                Console.WriteLine($"  {v}");
            }
        }

        return result;
    }
}
