using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Store;
using Lashup.Simulator;
using Xunit.Abstractions;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// Removed-replica pruning with the real store and replication (<see cref="KvReplication"/>, <see cref="KvPruning"/>)
/// in the deterministic simulator: churn, a node that comes back under its old name, and a node cut off from the
/// majority for longer than <c>expire_after</c>. Every assertion message carries the seed;
/// <c>dotnet run --project tests/Lashup.Simulator -- kv-churn --seed S</c> replays the churn run.
/// </summary>
public sealed class PruningSimulationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ExpireAfter = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MarkerTtl = TimeSpan.FromMinutes(10);
    private static readonly KvKey Key = KvKey.Parse("sim/k0000");

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Churn_NodesReplacedUnderNewNames_StatePerKeyBoundedByLiveNodesAndNoWriteLost(int seed)
    {
        var options = new StoreScenarios.ChurnOptions { Seed = seed, Live = 5, Churns = 8 };

        var r = StoreScenarios.Churn(options, print: false);

        var replay = $"seed {seed} (replay: dotnet run --project tests/Lashup.Simulator -- kv-churn --seed {seed} --live 5 --churns 8)";
        output.WriteLine($"{replay}: {r.NodesEver} nodes ever, {r.LiveAtEnd} live, {r.Acknowledged} writes; replicas per key at most {r.MaxReplicasPerKeyDuringChurn} " +
                         $"during the churn, {r.MaxReplicasPerKeyAtEnd} after ({r.MaxWritersPerKey} writers); settled after {r.Settled?.TotalSeconds} s; " +
                         $"prunes {r.PrunesPerformed}, removes translated {r.RemovesTranslated}, mismatches {r.Mismatches}; per round {string.Join(' ', r.PerRound)}; wall {r.WallSeconds:F1} s");
        Assert.True(r.Violations.Count == 0, $"{replay}:\n{string.Join("\n", r.Violations)}");
        Assert.Equal(options.Live + options.Churns, r.NodesEver);
        Assert.True(r.MaxReplicasPerKeyAtEnd <= r.LiveAtEnd, $"{replay}: {r.MaxReplicasPerKeyAtEnd} replicas in one key, {r.LiveAtEnd} live nodes");
        Assert.True(r.MaxWritersPerKey >= options.Live + options.Churns - 1, $"{replay}: only {r.MaxWritersPerKey} writers of a key; the run did not churn");

        // While nodes keep leaving, a key names the live nodes plus those departed within about expire_after plus the
        // member graph's one-minute expiry tick (pruning keeps pace instead of falling behind): here ~6 churns.
        Assert.True(r.MaxReplicasPerKeyDuringChurn <= options.Live + 7, $"{replay}: {r.MaxReplicasPerKeyDuringChurn} replicas in one key during the churn");

        // Every departed node is pruned exactly once (two owners collapsing one node would count its counters twice).
        Assert.Equal(options.Churns, r.PrunesPerformed);
        Assert.True(r.StaleExercised, $"{replay}: the cut-off replica did not miss the prune");
        Assert.True(r.RemovesTranslated > 0, $"{replay}: the cut-off replica's remove of a collapsed element was not translated");
    }

    [Fact]
    public void ReturningNode_SameNameAfterItsPrune_NewIncarnationKeepsEveryWriteAndNoRemovedElementReturns()
    {
        const int seed = 41;
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var returning = cluster.Nodes[3];
        var remover = cluster.Nodes[1];
        workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "kept"));
        workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "removed"));
        workload.Write(returning, Key, new CounterAdd([StoreWorkload.CounterField], 5));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));

        returning.Crash();
        workload.Write(remover, Key, new ORSetRemove([StoreWorkload.SetField], "removed"));
        var pruned = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(returning.Name)), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {returning.Name} was not pruned everywhere");

        // Back under the same name, with its old disk (which still holds "removed" and its old counts).
        returning.Restart();
        Assert.Equal($"{returning.Name}~2", returning.Kv!.Store.ReplicaName);
        workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "after"));
        workload.Write(returning, Key, new CounterAdd([StoreWorkload.CounterField], 2));
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(returning.Name)),
            TimeSpan.FromMinutes(2),
            TimeSpan.FromSeconds(1));

        Assert.True(settled is not null, $"seed {seed}: replicas did not converge after the return");
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n =>
        {
            var value = n.Kv!.Store.Get(Key)!.Value;
            Assert.Equal(["after", "kept"], value.GetORSet(StoreWorkload.SetField)!.Elements);
            Assert.Equal(7, value.GetPnCounter(StoreWorkload.CounterField)!.Value);
            Assert.Equal(0, n.Kv.Store.Stats.PruneMismatches);
        });
    }

    [Fact]
    public void Partition_NodeCutOffPastExpireAfter_MinorityPrunesNobodyAndNodeRejoinsUnderNextIncarnation()
    {
        const int seed = 42;
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var cut = cluster.Nodes[4]; // alone, it is the pruning owner in its own view once the others expire there
        workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "before"));
        workload.Write(cluster.Nodes[2], Key, new ORSetAdd([StoreWorkload.SetField], "other-before"));
        cluster.Sim.RunFor(ExpireAfter + TimeSpan.FromSeconds(10));

        cluster.Partition(n => n == cut ? 2 : 1);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "while-cut-off"));
        workload.Write(cluster.Nodes[3], Key, new ORSetAdd([StoreWorkload.SetField], "majority-during"));
        var pruned = cluster.Sim.RunUntil(() => cluster.Live.Where(n => n != cut).All(n => n.Kv!.Store.Pruned.ContainsKey(cut.Name)), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: the majority did not prune {cut.Name}");
        var expired = cluster.Sim.RunUntil(() => cluster.Live.Where(n => n != cut).All(n => cut.Node!.StateOf(n.Name) is null), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(1));
        Assert.True(expired is not null, $"seed {seed}: {cut.Name} has not expired the others");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        Assert.Equal(0, cut.Kv!.Store.Stats.PrunesPerformed);
        Assert.Empty(cut.Kv.Store.Markers());

        cluster.Heal();
        var settled = cluster.Sim.RunUntil(
            () => cut.Kv.Store.ReplicaName == $"{cut.Name}~2" && StoreWorkload.ReplicasEqual(cluster)
                  && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(cut.Name)),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));

        Assert.True(settled is not null, $"seed {seed}: no convergence after the heal");
        Assert.Equal(0, cluster.Live.Sum(n => n.Kv!.Store.Stats.PrunesPerformed) - cluster.Live.Where(n => n != cut).Sum(n => n.Kv!.Store.Stats.PrunesPerformed));
        workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "after"));
        cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        Assert.All(cluster.Live, n =>
        {
            var elements = n.Kv!.Store.Get(Key)!.Value.GetORSet(StoreWorkload.SetField)!.Elements.ToList();

            // Everything the majority holds survives, and the cut-off node's write after it rejoined; its write made
            // while cut off, which no other replica held when it was pruned, is the documented loss, and is counted.
            Assert.Equal(["after", "before", "majority-during", "other-before"], elements);
        });
        Assert.Equal(1, cut.Kv.Store.Stats.PruneMismatches);
    }

    /// <summary>
    /// Review blocker 1: a node cut off for 6 x expire_after (optionally restarted while cut off) sees every other
    /// member expire; it must prune none of them, and nobody may apply its markers. After the heal no acknowledged
    /// element may be lost and every replica must be equal.
    /// </summary>
    [Theory]
    [InlineData(false, 43)]
    [InlineData(true, 43)]
    [InlineData(false, 46)]
    [InlineData(true, 47)]
    public void Isolated_NodeCutOffSixExpireAfters_PrunesNobodyAndNoAcknowledgedElementIsLost(bool restartWhileCutOff, int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var cut = cluster.Nodes[4];
        for (var i = 0; i < 9; i++)
        {
            workload.Write(cluster.Nodes[i % 5], Key, new ORSetAdd([StoreWorkload.SetField], $"e{i}"));
            workload.Write(cluster.Nodes[i % 5], Key, new CounterAdd([StoreWorkload.CounterField], 1));
        }

        cluster.Sim.RunFor(ExpireAfter + TimeSpan.FromSeconds(10));
        cluster.Partition(n => n == cut ? 2 : 1);
        cluster.Sim.RunFor(3 * ExpireAfter);
        if (restartWhileCutOff)
        {
            cut.Crash();
            cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
            cut.Restart();
        }

        cluster.Sim.RunFor(3 * ExpireAfter);
        Assert.Equal(0, cut.Kv!.Store.Stats.PrunesPerformed);
        Assert.DoesNotContain(cut.Kv.Store.Markers().Values, m => m.PerformedBy == cut.Name || m.PerformedBy == cut.Kv.Store.ReplicaName);

        cluster.Heal();
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(cut.Name)),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(settled is not null, $"seed {seed}: no convergence after the heal");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n => Assert.Equal(9, n.Kv!.Store.Get(Key)!.Value.GetORSet(StoreWorkload.SetField)!.Elements.Count()));
        Assert.All(cluster.Live.Where(n => n != cut), n => Assert.DoesNotContain(n.Kv!.Store.Pruned.Keys, r => KvStore.NodeOf(r) != cut.Name));
    }

    /// <summary>
    /// Review blocker 2: the owner crashes in the middle of its collapse (after writing the first collapsed key, before
    /// the others and the marker's <c>performed</c>), restarts, and the prune completes. Counter totals must be the
    /// acknowledged increments (not the removed replica's counts twice), and replicas equal.
    /// </summary>
    [Theory]
    [InlineData(44)]
    [InlineData(48)]
    public void CrashMidCollapse_OwnerCrashesAfterFirstKey_CountersNotDoubleCounted(int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 3);
        var removed = cluster.Nodes[3];
        var owner = cluster.Nodes[0];
        foreach (var key in workload.Keys)
        {
            workload.Write(removed, key, new CounterAdd([StoreWorkload.CounterField], 5));
            workload.Write(removed, key, new ORSetAdd([StoreWorkload.SetField], $"e-{key}"));
            workload.Write(cluster.Nodes[1], key, new CounterAdd([StoreWorkload.CounterField], 1));
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        removed.Crash();
        var puts = 0;
        owner.Kv!.Disk.CrashOnPut = key => !key.StartsWith("lashup/prune", StringComparison.Ordinal)
                                           && owner.Kv.Store.Markers().ContainsKey(removed.Name) && ++puts == 2;
        var crashed = cluster.Sim.RunUntil(() => !owner.IsUp, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100));
        Assert.True(crashed is not null, $"seed {seed}: the owner never reached its collapse");
        owner.Kv.Disk.CrashOnPut = null;
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        owner.Restart();

        var pruned = cluster.Sim.RunUntil(
            () => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(removed.Name)) && StoreWorkload.ReplicasEqual(cluster),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {removed.Name} was not pruned everywhere after the owner's crash");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n => Assert.All(workload.Keys, k => Assert.Equal(6, n.Kv!.Store.Get(k)!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value)));
    }

    /// <summary>
    /// Review blocker 3: the owner performs (its collapse and marker committed), crashes before anything of it spreads,
    /// and returns: within expire_after, after it (its collapse comes back with it: nobody may have performed
    /// meanwhile), or after half of prune_marker_ttl (it discards its replica, collapse included, and the prune is
    /// performed once more, by someone). Counters must hold the acknowledged increments, not the removed replica's
    /// counts twice.
    /// </summary>
    [Theory]
    [InlineData(45, 0.7)]
    [InlineData(49, 0.7)]
    [InlineData(45, 3)]
    [InlineData(50, 3)]
    [InlineData(45, 12)]
    [InlineData(51, 12)]
    public void CrashAfterPerform_OwnerReturnsLater_RemovedReplicaCountedOnce(int seed, double expireAftersAway)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 2);
        var removed = cluster.Nodes[3];
        var owner = cluster.Nodes[0];
        foreach (var key in workload.Keys)
        {
            workload.Write(removed, key, new CounterAdd([StoreWorkload.CounterField], 5));
            workload.Write(removed, key, new ORSetAdd([StoreWorkload.SetField], $"e-{key}"));
            workload.Write(cluster.Nodes[1], key, new CounterAdd([StoreWorkload.CounterField], 1));
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        removed.Crash();
        owner.Kv!.Disk.CrashAfterPutAll = () => true; // the collapse is the only transaction
        var crashed = cluster.Sim.RunUntil(() => !owner.IsUp, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100));
        Assert.True(crashed is not null, $"seed {seed}: the owner never performed");
        owner.Kv.Disk.CrashAfterPutAll = null;
        Assert.Contains(owner.Kv.Disk.ReadAll(), r => r.Key == KvStore.MarkerKey(removed.Name).ToString());
        cluster.Sim.RunFor(ExpireAfter * expireAftersAway);
        var seeds = cluster.Nodes.Where(n => n != owner && n != removed).ToList();
        if (expireAftersAway * ExpireAfter >= MarkerTtl / 2)
        {
            // Away for half of the TTL in a cluster of five: the store refuses to open; the operator moves it away and
            // the node re-syncs as a new replica (its unspread collapse goes with the old store).
            var refused = Assert.Throws<InvalidOperationException>(() => owner.Restart(seeds));
            Assert.Contains("accept_stale_store", refused.Message, StringComparison.Ordinal);
            owner.Crash();
            owner.Kv.Disk.Wipe();
        }

        owner.Restart(seeds);

        var pruned = cluster.Sim.RunUntil(
            () => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(removed.Name)) && StoreWorkload.ReplicasEqual(cluster),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {removed.Name} was not pruned everywhere after the owner's return\n{Describe(cluster)}");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.Equal(0, cluster.Live.Where(n => n != owner).Sum(n => n.Kv!.Store.Stats.PrunesPerformed));
        Assert.All(cluster.Live, n => Assert.All(workload.Keys, k => Assert.Equal(6, n.Kv!.Store.Get(k)!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value)));
    }

    /// <summary>
    /// Nodes' data folders are emptied and they restart under the same names: a new replica holds writes until its first
    /// exchange with a peer that is not new itself (so two wiped at once do not end each other's hold), keeps that state
    /// across a restart before that exchange, learns that the cluster holds its earlier life's updates, and writes as its
    /// next incarnation. Without the hold its counters restart at 1, naming updates its peers have seen, and they drop
    /// its writes (seeds 61/62 with one node: the new element lost, counter 5 for 7).
    /// </summary>
    [Theory]
    [InlineData(61, 3, 1)]
    [InlineData(62, 3, 1)]
    [InlineData(61, 4, 2)]
    [InlineData(4, 4, 2)]
    [InlineData(64, 4, 2)]
    public void WipedDataFolder_SameNameRestart_WritesUnderNextIncarnationAndNoneIsLost(int seed, int nodes, int wipedCount)
    {
        var cluster = Cluster(seed, nodes);
        var workload = new StoreWorkload(cluster, keys: 2);
        var wiped = cluster.Nodes.Skip(nodes - wipedCount).ToList();
        foreach (var node in wiped)
        {
            foreach (var key in workload.Keys)
            {
                workload.Write(node, key, new CounterAdd([StoreWorkload.CounterField], 5));
                workload.Write(node, key, new ORSetAdd([StoreWorkload.SetField], $"old-{node.Name}"));
            }
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        foreach (var node in wiped)
        {
            node.Crash();
            node.Kv!.Disk.Wipe();
            node.Restart();
            Assert.True(node.Kv.Store.Fresh);
        }

        cluster.Sim.RunFor(TimeSpan.FromMilliseconds(500));
        wiped[0].Crash();
        wiped[0].Restart();
        Assert.True(wiped[0].Kv!.Store.Fresh, $"seed {seed}: a restart before the first exchange forgot the hold");

        var synced = cluster.Sim.RunUntil(() => wiped.All(n => !n.Kv!.Store.Fresh), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(synced is not null, $"seed {seed}: the new replicas never synced");
        Assert.All(wiped, n => Assert.Equal($"{n.Name}~2", n.Kv!.Store.ReplicaName));
        foreach (var node in wiped)
        {
            foreach (var key in workload.Keys)
            {
                Assert.NotNull(workload.Write(node, key, new CounterAdd([StoreWorkload.CounterField], 2)));
                Assert.NotNull(workload.Write(node, key, new ORSetAdd([StoreWorkload.SetField], $"new-{node.Name}")));
            }
        }

        AssertEqualAndLedgerHolds(cluster, workload, seed);
        var elements = wiped.SelectMany(n => new[] { $"new-{n.Name}", $"old-{n.Name}" }).Order(StringComparer.Ordinal);
        Assert.All(cluster.Live, n => Assert.All(workload.Keys, k =>
        {
            var value = n.Kv!.Store.Get(k)!.Value;
            Assert.Equal(7 * wipedCount, value.GetPnCounter(StoreWorkload.CounterField)!.Value);
            Assert.Equal(elements, value.GetORSet(StoreWorkload.SetField)!.Elements);
        }));
    }

    /// <summary>
    /// Review finding: after a quick graceful scale-down (five nodes to two), the survivors' reference membership kept
    /// the three that left (it shrank only while they reached a majority of it), so they pruned nothing any more. A
    /// member that left gracefully cannot prune: it leaves the reference at once.
    /// </summary>
    [Theory]
    [InlineData(81)]
    [InlineData(82)]
    public void ScaleDown_ThreeOfFiveLeaveGracefullyAtOnce_SurvivorsStillPruneThem(int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 2);
        foreach (var node in cluster.Nodes)
        {
            workload.Write(node, workload.Keys[0], new CounterAdd([StoreWorkload.CounterField], 1));
            workload.Write(node, workload.Keys[1], new ORSetAdd([StoreWorkload.SetField], $"from-{node.Name}"));
        }

        cluster.Sim.RunFor(ExpireAfter * 2);
        var leaving = cluster.Nodes.Skip(2).ToList();
        foreach (var node in leaving)
        {
            node.Leave();
        }

        var survivors = cluster.Nodes.Take(2).ToList();
        var pruned = cluster.Sim.RunUntil(
            () => survivors.All(n => leaving.All(l => n.Kv!.Store.Pruned.ContainsKey(l.Name))) && StoreWorkload.ReplicasEqual(cluster),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: the survivors did not prune the nodes that left\n{Describe(cluster)}");
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(survivors, n => Assert.Equal(5, n.Kv!.Store.Get(workload.Keys[0])!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value));
    }

    /// <summary>Runs until every replica is equal (at most a minute), then checks them against the acknowledged writes.</summary>
    private static void AssertEqualAndLedgerHolds(SimCluster cluster, StoreWorkload workload, int seed)
    {
        var equal = cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        Assert.True(equal is not null, $"seed {seed}: replicas did not converge\n{Describe(cluster)}");
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
    }

    /// <summary>Each live node's replica, applied prunes and markers (for failure messages).</summary>
    private static string Describe(SimCluster cluster) => string.Join("\n", cluster.Live.Select(n =>
        $"{n.Name} as {n.Kv!.Store.ReplicaName}: pruned [{string.Join(",", n.Kv.Store.Pruned.Keys)}]; markers "
        + string.Join("; ", n.Kv.Store.Markers().Select(m => $"{m.Key} by {m.Value.PerformedBy ?? "-"} acks {string.Join(",", m.Value.Acks.Select(a => $"{a.Node}>{a.Owner}"))}"))
        + $"; data [{string.Join(",", n.Kv.Store.ReplicasInData().Keys)}]"
        + $"; members [{string.Join(",", n.Node!.Members.Select(m => $"{m.Name}:{m.State}"))}]"));

    private static SimCluster Cluster(int seed, int nodes)
    {
        var cluster = new SimCluster(seed, new NodeSettings { ExpireAfter = ExpireAfter })
        {
            StoreEnabled = true,
            KvSyncInterval = TimeSpan.FromSeconds(2),
            StoreOptions = new CoreOptions { ExpireAfter = new Duration(ExpireAfter), PruneMarkerTtl = new Duration(MarkerTtl) },
        };
        cluster.Bootstrap(nodes, TimeSpan.FromSeconds(1));
        var up = cluster.Sim.RunUntil(() => cluster.Nodes.Count == nodes && Scenarios.FullyReachable(cluster) && cluster.StoresSynced, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(up is not null, $"seed {seed}: the cluster did not form");
        return cluster;
    }
}
