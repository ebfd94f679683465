using System.Diagnostics;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

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

    /// <summary>The churn run's knobs; the defaults are the CI test's run.</summary>
    public sealed record ChurnOptions
    {
        public int Live { get; init; } = 6;
        public int Churns { get; init; } = 12;
        public int Seed { get; init; } = 1;
        public int Keys { get; init; } = 6;
        public double WritesPerSecond { get; init; } = 10;
        public double Loss { get; init; } = 0.02;
        public TimeSpan ChurnEvery { get; init; } = TimeSpan.FromSeconds(15);
        public TimeSpan ExpireAfter { get; init; } = TimeSpan.FromSeconds(30);
        public TimeSpan MarkerTtl { get; init; } = TimeSpan.FromSeconds(90);
        public TimeSpan SyncInterval { get; init; } = TimeSpan.FromSeconds(2);
        public TimeSpan SettleLimit { get; init; } = TimeSpan.FromMinutes(10);

        /// <summary>Each node's clock is this far off, ahead on even-numbered nodes and behind on odd ones.</summary>
        public TimeSpan ClockSkew { get; init; }
    }

    public sealed record ChurnResult(
        ChurnOptions Options,
        int NodesEver,
        int LiveAtEnd,
        long Acknowledged,
        int MaxReplicasPerKeyDuringChurn,
        int MaxReplicasPerKeyAtEnd,
        int MaxKeyBytesDuringChurn,
        int MaxKeyBytesAtEnd,
        int MaxWritersPerKey,
        TimeSpan? Bounded,
        TimeSpan? Settled,
        long PrunesPerformed,
        long RemovesTranslated,
        long PrunedDeltasDropped,
        long Mismatches,
        bool StaleExercised,
        IReadOnlyList<int> PerRound,
        List<string> Violations,
        double WallSeconds);

    /// <summary>
    /// Removed-replica pruning under churn: <see cref="ChurnOptions.Live"/> nodes write adds, removes, counter
    /// increments and register writes to shared keys while, every <see cref="ChurnOptions.ChurnEvery"/>, a node joins
    /// under a new name and the oldest leaves for good (alternately gracefully and by crashing). Each departing node
    /// first adds an element of its own that nobody removes ("keep-", must survive) and one that a stale replica
    /// removes later ("stale-"). Once, a replica is cut off while the departing node's prune is performed, removes
    /// that node's "stale-" element while cut off, and heals. At the end every key's state must name only live
    /// replicas, every replica must be equal, and the ledger of acknowledged writes must hold.
    /// </summary>
    public static ChurnResult Churn(ChurnOptions o, bool print = true)
    {
        var wall = Stopwatch.StartNew();
        var cluster = new SimCluster(o.Seed, new Lashup.Plugins.Core.Protocol.NodeSettings { ExpireAfter = o.ExpireAfter })
        {
            StoreEnabled = true,
            KvSyncInterval = o.SyncInterval,
            StoreOptions = new Lashup.Plugins.Core.CoreOptions
            {
                ExpireAfter = new Lashup.Abstractions.Configuration.Duration(o.ExpireAfter),
                PruneMarkerTtl = new Lashup.Abstractions.Configuration.Duration(o.MarkerTtl),
            },
        };
        void Skew(SimNode node) => node.Clock.Skew = cluster.Nodes.IndexOf(node) % 2 == 0 ? o.ClockSkew : -o.ClockSkew;
        cluster.Bootstrap(o.Live, TimeSpan.FromSeconds(1));
        cluster.Sim.RunUntil(() => cluster.Nodes.Count == o.Live && Scenarios.FullyReachable(cluster) && cluster.StoresSynced, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        cluster.Nodes.ForEach(Skew);
        cluster.Network.Loss = o.Loss;
        var random = cluster.Sim.Random;
        var workload = new StoreWorkload(cluster, o.Keys);
        var writing = true;
        var period = TimeSpan.FromSeconds(1 / o.WritesPerSecond);
        var cutOff = new HashSet<SimNode>();
        void WriteTick()
        {
            if (!writing)
            {
                return;
            }

            var live = cluster.Live.Where(n => !cutOff.Contains(n)).ToList();
            workload.WriteRandom(live[random.Next(live.Count)]);
            cluster.Sim.After(period, WriteTick);
        }

        cluster.Sim.After(period, WriteTick);
        var maxDuring = 0;
        var maxBytesDuring = 0;
        var perRound = new List<int>();
        void Measure()
        {
            var now = MaxReplicasPerKey(cluster);
            perRound.Add(now);
            maxDuring = Math.Max(maxDuring, now);
            maxBytesDuring = Math.Max(maxBytesDuring, MaxKeyBytes(cluster));
        }


        var leaving = new Queue<SimNode>(cluster.Nodes);
        var staleExercised = false;
        (KvKey, string)? staleRemoved = null;
        var staleChecks = new List<(KvKey Key, string Element)>();
        var kept = new List<(KvKey Key, string Element)>();
        for (var round = 0; round < o.Churns; round++)
        {
            cluster.Sim.RunFor(o.ChurnEvery);
            Measure();
            var seeds = cluster.Live.Take(3).Select(n => n.Address).ToList();
            var joined = cluster.AddNode(seeds);
            Skew(joined);
            leaving.Enqueue(joined);
            var departing = leaving.Dequeue();
            var key = workload.Keys[round % workload.Keys.Count];
            kept.Add((key, $"keep-{departing.Name}"));
            staleChecks.Add((key, $"stale-{departing.Name}"));
            workload.Write(departing, key, new ORSetAdd([StoreWorkload.SetField], $"keep-{departing.Name}"));
            workload.Write(departing, key, new ORSetAdd([StoreWorkload.SetField], $"stale-{departing.Name}"));
            cluster.Sim.RunFor(TimeSpan.FromSeconds(3));
            workload.HarvestCollapses();
            if (round % 2 == 0)
            {
                departing.Leave();
            }
            else
            {
                departing.Crash();
            }

            if (round == o.Churns / 2)
            {
                staleExercised = CutOffThroughPrune(departing.Kv!.Store.ReplicaName, key, $"stale-{departing.Name}");
                staleRemoved = (key, $"stale-{departing.Name}");
            }
        }

        Measure();
        writing = false;
        var settleStart = cluster.Sim.Elapsed;

        // Every other departed node's "stale-" element is removed by a live replica now (an ordinary remove, after
        // or before its prune): removed elements must stay removed.
        foreach (var (key, element) in staleChecks.Where(c => c != staleRemoved))
        {
            var holder = cluster.Live.FirstOrDefault(n => n.Kv!.Store.Get(key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(element) == true);
            if (holder is not null)
            {

                workload.Write(holder, key, new ORSetRemove([StoreWorkload.SetField], element));
            }
        }

        var liveNames = cluster.Live.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var bounded = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && MaxReplicasPerKey(cluster) <= cluster.Live.Count(), o.SettleLimit, TimeSpan.FromSeconds(1));
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && MaxReplicasPerKey(cluster) <= cluster.Live.Count()
                  && cluster.Live.All(n => n.Kv!.Store.Markers().Count == 0),
            o.SettleLimit,
            TimeSpan.FromSeconds(1)) is { } rest && bounded is { } b ? b + rest : (TimeSpan?)null;
        var violations = settled is null
            ? [$"not settled {o.SettleLimit} after the churn: replicas equal {StoreWorkload.ReplicasEqual(cluster)}, max replicas per key {MaxReplicasPerKey(cluster)} (live {cluster.Live.Count()}), markers {cluster.Live.Sum(n => n.Kv!.Store.Markers().Count)}"]
            : workload.VerifyValues();
        foreach (var (key, element) in kept)
        {
            foreach (var node in cluster.Live)
            {
                if (node.Kv!.Store.Get(key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(element) != true)
                {
                    violations.Add($"{node.Name}: {key} lost {element}, added by a departed node and never removed");
                }
            }
        }

        foreach (var (key, element) in staleChecks)
        {
            foreach (var node in cluster.Live)
            {
                if (node.Kv!.Store.Get(key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(element) == true)
                {
                    violations.Add($"{node.Name}: {key} holds {element}, which was removed");
                }
            }

            foreach (var node in cluster.Live)
            {
                var entry = node.Kv!.Store.GetRaw(key);
                var foreign = entry is null ? [] : StoreWorkload.ReplicasIn(entry).Where(r => !liveNames.Contains(Lashup.Plugins.Core.Protocol.ReplicaId.NodeOf(r))).ToList();
                if (foreign.Count > 0)
                {
                    violations.Add($"{node.Name}: {key} still names departed replicas {string.Join(", ", foreign)}");
                }
            }
        }



        var stats = cluster.Nodes.Where(n => n.Kv is not null).Select(n => n.Kv!.Store.Stats).ToList();
        var result = new ChurnResult(
            o, cluster.Nodes.Count, cluster.Live.Count(), workload.Acknowledged, maxDuring, MaxReplicasPerKey(cluster), maxBytesDuring, MaxKeyBytes(cluster),
            workload.Keys.Max(workload.WritersOf), bounded, settled,
            stats.Sum(s => s.PrunesPerformed), stats.Sum(s => s.RemovesTranslated), stats.Sum(s => s.PrunedDeltasDropped),
            stats.Sum(s => s.PruneMismatches), staleExercised, perRound, violations, wall.Elapsed.TotalSeconds);
        if (print)
        {
            Console.WriteLine(
                $"kv churn seed {o.Seed}: {result.NodesEver} nodes ever, {result.LiveAtEnd} live; {result.Acknowledged} writes on {o.Keys} keys; " +
                $"replicas named per key: at most {result.MaxReplicasPerKeyDuringChurn} during the churn, {result.MaxReplicasPerKeyAtEnd} after " +
                $"(without pruning: {result.MaxWritersPerKey} writers); largest key {result.MaxKeyBytesDuringChurn} B during, {result.MaxKeyBytesAtEnd} B after (without pruning: {workload.UnprunedKeyBytes()} B); state bounded and replicas equal {bounded?.TotalSeconds:F0} s after the churn ({bounded / o.SyncInterval:F0} sync intervals), markers all deleted after {settled?.TotalSeconds:F0} s; " +
                $"prunes {result.PrunesPerformed}, removes translated {result.RemovesTranslated}, pruned deltas dropped {result.PrunedDeltasDropped}, " +
                $"footprint mismatches {result.Mismatches}; stale replica cut off through a prune: {(staleExercised ? "yes" : "no")}; " +
                $"violations {violations.Count}; wall {result.WallSeconds:F1} s");
            Console.WriteLine($"  replicas named per key (max over keys and replicas) at each churn round: {string.Join(' ', perRound)}");
            foreach (var v in violations.Take(20))
            {
                Console.WriteLine($"  {v}");
            }
        }

        return result;

        // Cuts a long-lived replica off as soon as the node's departure is recorded, waits until the prune is performed
        // elsewhere, removes the departed node's element on the cut-off replica, and heals (within expire_after: the
        // cut-off replica is not removed itself).
        bool CutOffThroughPrune(string departed, KvKey key, string element)
        {
            var stale = cluster.Live.OrderByDescending(n => cluster.Nodes.IndexOf(n)).Skip(1).First(n => n.Kv!.Store.Get(key)?.Value.GetORSet(StoreWorkload.SetField)?.Contains(element) == true);
            // As soon as the departure is recorded (the owner opens the marker at its next tick; the stale replica may
            // or may not acknowledge it before it is cut off).
            var opened = cluster.Sim.RunUntil(
                () => cluster.Live.Any(n => n.Node!.Departures.IsDeparted(departed)),
                o.ExpireAfter * 4 + TimeSpan.FromMinutes(1),
                TimeSpan.FromMilliseconds(100));
            if (opened is null)
            {
                return false;
            }

            cutOff.Add(stale);
            cluster.Partition(n => n == stale ? 2 : 1);
            var performed = cluster.Sim.RunUntil(() => cluster.Live.Any(n => n != stale && n.Kv!.Store.Pruned.ContainsKey(departed)), o.ExpireAfter * 0.8, TimeSpan.FromMilliseconds(100));
            var exercised = performed is not null && !stale.Kv!.Store.Pruned.ContainsKey(departed);

            workload.Write(stale, key, new ORSetRemove([StoreWorkload.SetField], element));
            workload.Write(stale, key, new CounterAdd([StoreWorkload.CounterField], 7));
            cluster.Sim.RunFor(TimeSpan.FromSeconds(2));
            cluster.Heal();
            cutOff.Clear();
            return exercised;
        }
    }

    /// <summary>The largest encoded key (value and version), over every live replica and key.</summary>
    public static int MaxKeyBytes(SimCluster cluster) =>
        cluster.Live.SelectMany(n => n.Kv!.Store.List(KvKey.Root)).Select(e => CrdtCodec.EncodeMap(e.Map).Length + CrdtCodec.EncodeVersion(e.Version).Length).DefaultIfEmpty().Max();

    /// <summary>The largest number of replica names in one key's state, over every live replica and key.</summary>
    public static int MaxReplicasPerKey(SimCluster cluster)
    {
        var max = 0;
        foreach (var node in cluster.Live)
        {
            foreach (var entry in node.Kv!.Store.List(KvKey.Root))
            {
                max = Math.Max(max, StoreWorkload.ReplicasIn(entry).Count);
            }
        }

        return max;
    }
}
