using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Store;
using Lashup.Simulator;
using Xunit.Abstractions;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// Departed-replica pruning with the real store, replication and membership (<see cref="KvReplication"/>,
/// <see cref="KvPruning"/>, the departure record of <see cref="LashupNode"/>) in the deterministic simulator: churn, a
/// node that comes back under its old name, nodes cut off from the majority for longer than <c>expire_after</c> (and
/// than <c>expire_after</c> + <c>prune_marker_ttl</c>), owners that crash, wiped data folders, a scale-down. Every
/// assertion message carries the seed; <c>dotnet run --project tests/Lashup.Simulator -- kv-churn --seed S</c>
/// replays the churn run.
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

    /// <summary>
    /// A node crashes and stays down past expire_after: the majority records it departed and prunes it. It comes back
    /// with its old disk: it waits to learn whether it was removed, learns it, discards its replica (which still holds a
    /// removed element and its old counts) and re-syncs under a new identity. Every acknowledged write is there once.
    /// </summary>
    /// <summary>
    /// Review (issue 16): clock skew. The churn run with every node's clock off, ahead and behind in turn, by a quarter
    /// of prune_marker_ttl (half a TTL between two nodes) and by half of it (a whole TTL between two nodes): markers'
    /// timestamps look old or new depending on who reads them. No acknowledged write may be lost or counted twice, and
    /// every key must end naming only the live nodes. (At half a TTL, prunes whose owner had a slow clock never completed
    /// when markers were refused by their timestamps: nodes with a fast clock took them for expired.)
    /// </summary>
    [Theory]
    [InlineData(1, 4)]
    [InlineData(3, 4)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    public void Churn_ClocksOffByAFractionOfTheMarkerTtl_NoWriteLostOrCountedTwice(int seed, int ttlDivisor)
    {
        var options = new StoreScenarios.ChurnOptions { Seed = seed, Live = 5, Churns = 8, ClockSkew = new StoreScenarios.ChurnOptions().MarkerTtl / ttlDivisor };

        var r = StoreScenarios.Churn(options, print: false);

        output.WriteLine($"seed {seed}: {r.Acknowledged} writes; replicas per key at most {r.MaxReplicasPerKeyDuringChurn} during, {r.MaxReplicasPerKeyAtEnd} after; prunes {r.PrunesPerformed}");
        Assert.True(r.Violations.Count == 0, $"seed {seed}:\n{string.Join("\n", r.Violations)}");
        Assert.True(r.MaxReplicasPerKeyAtEnd <= r.LiveAtEnd, $"seed {seed}: {r.MaxReplicasPerKeyAtEnd} replicas in one key, {r.LiveAtEnd} live nodes");
    }

    [Fact]
    public void ReturningNode_SameNameAfterItsPrune_DiscardsItsReplicaAndKeepsEveryWriteOnce()
    {
        const int seed = 41;
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var returning = cluster.Nodes[3];
        var remover = cluster.Nodes[1];
        var old = Identity(returning);
        workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "kept"));
        workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "removed"));
        workload.Write(returning, Key, new CounterAdd([StoreWorkload.CounterField], 5));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));

        returning.Crash();
        workload.Write(remover, Key, new ORSetRemove([StoreWorkload.SetField], "removed"));
        var pruned = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(old)), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {old} was not pruned everywhere\n{Describe(cluster)}");

        // Back under the same name, with its old disk (which still holds "removed" and its old counts).
        returning.Restart();
        var settled = cluster.Sim.RunUntil(() => !returning.Kv!.Store.AwaitingDepartures, TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(100));
        Assert.True(settled is not null, $"seed {seed}: the returning node never learnt the departure record");
        Assert.NotEqual(old, Identity(returning));
        Assert.Equal(1, returning.Kv!.Store.Stats.ReplicaDiscards);
        Assert.NotNull(workload.Write(returning, Key, new ORSetAdd([StoreWorkload.SetField], "after")));
        Assert.NotNull(workload.Write(returning, Key, new CounterAdd([StoreWorkload.CounterField], 2)));
        var converged = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(old)),
            TimeSpan.FromMinutes(2),
            TimeSpan.FromSeconds(1));

        Assert.True(converged is not null, $"seed {seed}: replicas did not converge after the return\n{Describe(cluster)}");
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

    /// <summary>A node restarted within expire_after keeps its identity and its replica: nothing is discarded, nothing re-synced.</summary>
    [Theory]
    [InlineData(141)]
    [InlineData(142)]
    public void Restart_WithinExpireAfter_SameIdentityNoDiscardNoDeparture(int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 2);
        var node = cluster.Nodes[2];
        var identity = Identity(node);
        workload.Write(node, Key, new CounterAdd([StoreWorkload.CounterField], 3));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        node.Crash();
        cluster.Sim.RunFor(ExpireAfter * 0.6);
        node.Restart();

        Assert.Equal(identity, Identity(node));
        Assert.False(node.Kv!.Store.AwaitingDepartures);
        Assert.NotNull(workload.Write(node, Key, new CounterAdd([StoreWorkload.CounterField], 4)));
        AssertEqualAndLedgerHolds(cluster, workload, seed);
        cluster.Sim.RunFor(ExpireAfter * 2);
        Assert.All(cluster.Live, n => Assert.False(n.Node!.Departures.IsDeparted(identity), $"seed {seed}: {n.Name} recorded {identity} departed"));
        Assert.Equal(0, node.Kv.Store.Stats.ReplicaDiscards);
        Assert.All(cluster.Live, n => Assert.Equal(7, n.Kv!.Store.Get(Key)!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value));
    }

    /// <summary>
    /// A node cut off past expire_after: alone it records nobody departed and prunes nobody; the majority records it
    /// departed and prunes it. When it heals it learns that, discards its replica and re-syncs under a new identity:
    /// what it wrote while cut off is the documented loss.
    /// </summary>
    [Fact]
    public void Partition_NodeCutOffPastExpireAfter_MinorityDecidesNothingAndNodeRejoinsAsANewIdentity()
    {
        const int seed = 42;
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var cut = cluster.Nodes[4]; // alone, it is the lowest-named member it reaches once the others expire there
        var old = Identity(cut);
        workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "before"));
        workload.Write(cluster.Nodes[2], Key, new ORSetAdd([StoreWorkload.SetField], "other-before"));
        cluster.Sim.RunFor(ExpireAfter + TimeSpan.FromSeconds(10));

        cluster.Partition(n => n == cut ? 2 : 1);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "while-cut-off"));
        workload.Write(cluster.Nodes[3], Key, new ORSetAdd([StoreWorkload.SetField], "majority-during"));
        var pruned = cluster.Sim.RunUntil(() => cluster.Live.Where(n => n != cut).All(n => n.Kv!.Store.Pruned.ContainsKey(old)), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: the majority did not prune {old}\n{Describe(cluster)}");
        var expired = cluster.Sim.RunUntil(() => cluster.Live.Where(n => n != cut).All(n => cut.Node!.StateOf(n.Name) is null), TimeSpan.FromMinutes(2), TimeSpan.FromSeconds(1));
        Assert.True(expired is not null, $"seed {seed}: {cut.Name} has not expired the others");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        Assert.Equal(0, cut.Kv!.Store.Stats.PrunesPerformed);
        Assert.Empty(cut.Kv.Store.Markers());
        Assert.Equal(0, cut.Node!.Departures.Count);
        Assert.False(cut.Node.HasMajority);

        cluster.Heal();
        var settled = cluster.Sim.RunUntil(
            () => Identity(cut) != old && StoreWorkload.ReplicasEqual(cluster)
                  && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(old)),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));

        Assert.True(settled is not null, $"seed {seed}: no convergence after the heal\n{Describe(cluster)}");
        Assert.Equal(0, cluster.Live.Sum(n => n.Kv!.Store.Stats.PrunesPerformed) - cluster.Live.Where(n => n != cut).Sum(n => n.Kv!.Store.Stats.PrunesPerformed));
        Assert.NotNull(workload.Write(cut, Key, new ORSetAdd([StoreWorkload.SetField], "after")));
        cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        Assert.All(cluster.Live, n =>
        {
            var elements = n.Kv!.Store.Get(Key)!.Value.GetORSet(StoreWorkload.SetField)!.Elements.ToList();

            // Everything the majority holds survives, and the cut-off node's write after it rejoined; its write made
            // while cut off, which no other replica held when it was removed, is the documented loss.
            Assert.Equal(["after", "before", "majority-during", "other-before"], elements);
        });
        Assert.Equal(1, cut.Kv.Store.Stats.ReplicaDiscards);
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
        var old = Identity(cut);
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

        Assert.Equal(0, cut.Node!.Departures.Count); // alone it decides nothing

        cluster.Heal();
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(Key)!).Contains(old)),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(settled is not null, $"seed {seed}: no convergence after the heal\n{Describe(cluster)}");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n => Assert.Equal(9, n.Kv!.Store.Get(Key)!.Value.GetORSet(StoreWorkload.SetField)!.Elements.Count()));
        Assert.All(cluster.Live, n => Assert.DoesNotContain(n.Node!.Departures.Entries.Keys, r => ReplicaId.NodeOf(r) != cut.Name));
    }

    /// <summary>
    /// Issue 16: a node stays up (optionally restarting once) while it is cut off from the others for longer than
    /// <c>expire_after</c> + <c>prune_marker_ttl</c>. Meanwhile the majority removes an element, a node leaves for good
    /// and is pruned (its counts collapsed into the owner's), and the markers expire. When the cut-off node heals, the
    /// copies it kept of the departed replica must not come back: its counts counted twice, the removed element back.
    /// Checked against the ledger of acknowledged writes (the cut-off node writes nothing while cut off).
    /// </summary>
    [Theory]
    [InlineData(false, 161)]
    [InlineData(true, 161)]
    [InlineData(false, 162)]
    [InlineData(true, 163)]
    public void LongPartition_CutOffPastExpireAfterAndMarkerTtl_PrunedReplicaDoesNotComeBackOnHeal(bool restartWhileCutOff, int seed)
    {
        var ttl = TimeSpan.FromMinutes(2);
        var cluster = Cluster(seed, 5, ttl);
        var workload = new StoreWorkload(cluster, keys: 1);
        var departing = cluster.Nodes[1];
        var remover = cluster.Nodes[2];
        var cut = cluster.Nodes[4];
        var departed = Identity(departing);
        workload.Write(departing, Key, new CounterAdd([StoreWorkload.CounterField], 5));
        workload.Write(departing, Key, new ORSetAdd([StoreWorkload.SetField], "kept"));
        workload.Write(departing, Key, new ORSetAdd([StoreWorkload.SetField], "removed"));
        workload.Write(remover, Key, new CounterAdd([StoreWorkload.CounterField], 1));
        workload.Write(remover, Key, new ORSetAdd([StoreWorkload.SetField], "other"));
        var spread = cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        Assert.True(spread is not null, $"seed {seed}: the writes did not reach every replica");

        // The cut-off node holds the departing node's writes; the others remove one of its elements, and it leaves.
        cluster.Partition(n => n == cut ? 2 : 1);
        var cutAt = cluster.Sim.Elapsed;
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.NotNull(workload.Write(remover, Key, new ORSetRemove([StoreWorkload.SetField], "removed")));
        departing.Leave();
        var majority = cluster.Live.Where(n => n != cut).ToList();
        var pruned = cluster.Sim.RunUntil(
            () =>
            {
                workload.HarvestCollapses();
                return majority.All(n => !n.Kv!.Store.ReplicasInData().ContainsKey(departed));
            },
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: the majority did not prune {departing.Name}\n{Describe(cluster)}");

        // Past expire_after + prune_marker_ttl (three TTLs in all, as the review reproduced it), markers gone.
        cluster.Sim.RunUntil(cutAt + 1.5 * ttl);
        if (restartWhileCutOff)
        {
            cut.Crash();
            cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
            cut.Restart();
        }

        cluster.Sim.RunUntil(cutAt + 3 * ttl);
        Assert.All(majority, n => Assert.Empty(n.Kv!.Store.Markers()));
        Assert.True(cut.Kv!.Store.ReplicasInData().ContainsKey(departed), $"seed {seed}: the cut-off node does not hold the departed replica's writes");

        cluster.Heal();
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !n.Kv!.Store.ReplicasInData().ContainsKey(departed)),
            TimeSpan.FromMinutes(10),
            TimeSpan.FromSeconds(1));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var violations = workload.VerifyValues();
        if (settled is null)
        {
            violations.Insert(0, $"no convergence within 10 min after the heal: a key still names {departed}");
        }

        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}\n{Describe(cluster)}");
        Assert.All(cluster.Live, n =>
        {
            var value = n.Kv!.Store.Get(Key)!.Value;
            Assert.Equal(6, value.GetPnCounter(StoreWorkload.CounterField)!.Value);
            Assert.Equal(["kept", "other"], value.GetORSet(StoreWorkload.SetField)!.Elements);
        });
    }

    /// <summary>
    /// Review (issue 16): a minority that believes it is the majority. Two of five are cut off, and three new nodes join
    /// on their side (seeds there): by the members it sees, that side is five of eight. It must still judge against the
    /// reference it had when it lost its majority (new members seen while in a minority do not count), decide nothing,
    /// and so not remove the majority side, which does remove the two. Every write of the majority side and of the new
    /// nodes is kept; what the two wrote while cut off is the documented loss.
    /// </summary>
    [Theory]
    [InlineData(171)]
    [InlineData(172)]
    public void Partition_NewMembersJoinTheMinoritySide_ItStaysAMinorityAndRemovesNobody(int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 1);
        var minority = cluster.Nodes.Take(2).ToList();
        var majority = cluster.Nodes.Skip(2).ToList();
        foreach (var node in cluster.Nodes)
        {
            workload.Write(node, Key, new ORSetAdd([StoreWorkload.SetField], $"before-{node.Name}"));
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        var side = new HashSet<SimNode>(minority);
        cluster.Partition(n => side.Contains(n) ? 2 : 1);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        for (var i = 0; i < 3; i++)
        {
            side.Add(cluster.AddNode(minority.Select(n => n.Address)));
            cluster.Partition(n => side.Contains(n) ? 2 : 1);
        }

        var joined = side.Except(minority).ToList();
        var settled = cluster.Sim.RunUntil(() => joined.All(n => !n.Kv!.Store.AwaitingDepartures && n.Node!.ActiveView.Count > 0), TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(200));
        Assert.True(settled is not null, $"seed {seed}: the new nodes did not join the cut-off side");
        foreach (var node in joined.Concat(majority))
        {
            workload.Write(node, Key, new ORSetAdd([StoreWorkload.SetField], $"during-{node.Name}"));
        }

        cluster.Sim.RunFor(ExpireAfter * 4);
        Assert.All(side, n => Assert.False(n.Node!.HasMajority, $"seed {seed}: {n.Name} on the cut-off side believes it is the majority: reference [{string.Join(",", n.Node.Roster)}], members [{string.Join(",", n.Node.Members.Select(m => $"{m.Name}:{m.State}"))}]"));
        Assert.All(side, n => Assert.DoesNotContain(n.Node!.Departures.Entries.Keys, r => majority.Any(m => Identity(m) == r)));
        Assert.All(majority, n => Assert.All(minority, m => Assert.True(n.Node!.Departures.IsDeparted(Identity(m)), $"seed {seed}: {n.Name} did not record {m.Name}")));

        cluster.Heal();
        var converged = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !n.Kv!.Store.AwaitingDepartures),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(converged is not null, $"seed {seed}: no convergence after the heal\n{Describe(cluster)}");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        Assert.All(majority, n => Assert.Equal(0, n.Kv!.Store.Stats.ReplicaDiscards));
        Assert.All(joined, n => Assert.Equal(0, n.Kv!.Store.Stats.ReplicaDiscards));
        var elements = cluster.Nodes.Select(n => $"before-{n.Name}").Where(e => cluster.Nodes.Take(5).Any(n => e == $"before-{n.Name}"))
            .Concat(joined.Concat(majority).Select(n => $"during-{n.Name}")).Order(StringComparer.Ordinal).ToList();
        Assert.All(cluster.Live, n => Assert.Equal(elements, n.Kv!.Store.Get(Key)!.Value.GetORSet(StoreWorkload.SetField)!.Elements));
    }

    /// <summary>
    /// Review (issue 16): partitions that heal at different times. Two of seven nodes are cut off, each alone, for longer
    /// than expire_after + prune_marker_ttl while a node crashes for good and is pruned; one heals, then, a TTL later, the
    /// other. Neither brings the pruned replica back; both come back as new identities; the ledger holds.
    /// </summary>
    [Theory]
    [InlineData(181)]
    [InlineData(182)]
    public void LongPartition_TwoNodesCutOffAloneHealAtDifferentTimes_NothingPrunedComesBack(int seed)
    {
        var ttl = TimeSpan.FromMinutes(2);
        var cluster = Cluster(seed, 7, ttl); // the four left are a majority of seven
        var workload = new StoreWorkload(cluster, keys: 1);
        var departing = cluster.Nodes[1];
        var remover = cluster.Nodes[2];
        var cut = new[] { cluster.Nodes[5], cluster.Nodes[6] };
        var departed = Identity(departing);
        workload.Write(departing, Key, new CounterAdd([StoreWorkload.CounterField], 5));
        workload.Write(departing, Key, new ORSetAdd([StoreWorkload.SetField], "kept"));
        workload.Write(departing, Key, new ORSetAdd([StoreWorkload.SetField], "removed"));
        workload.Write(remover, Key, new CounterAdd([StoreWorkload.CounterField], 1));
        Assert.NotNull(cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1)));

        cluster.Partition(n => n == cut[0] ? 2 : n == cut[1] ? 3 : 1);
        var cutAt = cluster.Sim.Elapsed;
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.NotNull(workload.Write(remover, Key, new ORSetRemove([StoreWorkload.SetField], "removed")));
        departing.Crash();
        cluster.Sim.RunUntil(cutAt + 3 * ttl);
        cluster.Partition(n => n == cut[1] ? 3 : 1); // the first heals
        cluster.Sim.RunFor(ttl);
        Assert.NotNull(workload.Write(cut[0], Key, new CounterAdd([StoreWorkload.CounterField], 2)) ?? Retry(cluster, workload, cut[0]));
        cluster.Heal(); // then the second
        var settled = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => !n.Kv!.Store.ReplicasInData().ContainsKey(departed)),
            TimeSpan.FromMinutes(10),
            TimeSpan.FromSeconds(1));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var violations = workload.VerifyValues();
        if (settled is null)
        {
            violations.Insert(0, $"no convergence within 10 min after the second heal: a key still names {departed}");
        }

        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}\n{Describe(cluster)}");
        Assert.All(cluster.Live, n =>
        {
            var value = n.Kv!.Store.Get(Key)!.Value;
            Assert.Equal(8, value.GetPnCounter(StoreWorkload.CounterField)!.Value);
            Assert.Equal(["kept"], value.GetORSet(StoreWorkload.SetField)!.Elements);
        });
        Assert.All(cut, n => Assert.Equal(1, n.Kv!.Store.Stats.ReplicaDiscards));

        static KvEntry? Retry(SimCluster cluster, StoreWorkload workload, SimNode node)
        {
            cluster.Sim.RunUntil(() => !node.Kv!.Store.AwaitingDepartures, TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(100));
            return workload.Write(node, Key, new CounterAdd([StoreWorkload.CounterField], 2));
        }
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
        var removedId = Identity(removed);
        var owner = Owner(cluster, removed);
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
                                           && owner.Kv.Store.Markers().ContainsKey(removedId) && ++puts == 2;
        var crashed = cluster.Sim.RunUntil(() => !owner.IsUp, TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(100));
        Assert.True(crashed is not null, $"seed {seed}: the owner never reached its collapse");
        owner.Kv.Disk.CrashOnPut = null;
        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        owner.Restart();

        var pruned = cluster.Sim.RunUntil(
            () => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(removedId)) && StoreWorkload.ReplicasEqual(cluster),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {removedId} was not pruned everywhere after the owner's crash\n{Describe(cluster)}");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n => Assert.All(workload.Keys, k => Assert.Equal(6, n.Kv!.Store.Get(k)!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value)));
    }

    /// <summary>
    /// Review blocker 3: the owner performs (its collapse and marker committed), crashes before anything of it spreads,
    /// and returns. Within expire_after its collapse comes back with it, and nobody performed meanwhile (it is a
    /// candidate that neither withdrew nor departed). After expire_after the majority records it departed, another
    /// candidate takes over, and the owner, back, learns it was removed and discards its replica, unspread collapse
    /// included (12 expire_afters is past half of prune_marker_ttl, where an earlier version refused to open the store
    /// and asked the operator). Counters must hold the acknowledged increments, not the departed replica's counts twice.
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
        var removedId = Identity(removed);
        var owner = Owner(cluster, removed);
        var ownerId = Identity(owner);
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
        Assert.True(crashed is not null, $"seed {seed}: the owner never performed\n{Describe(cluster)}");
        owner.Kv.Disk.CrashAfterPutAll = null;
        Assert.Contains(owner.Kv.Disk.ReadAll(), r => r.Key == PruneMarker.KeyOf(removedId).ToString());
        cluster.Sim.RunFor(ExpireAfter * expireAftersAway);
        owner.Restart(cluster.Nodes.Where(n => n != owner && n != removed));

        var pruned = cluster.Sim.RunUntil(
            () => cluster.Live.All(n => n.Kv!.Store.Pruned.ContainsKey(removedId)) && StoreWorkload.ReplicasEqual(cluster),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(pruned is not null, $"seed {seed}: {removedId} was not pruned everywhere after the owner's return\n{Describe(cluster)}");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
        var violations = workload.VerifyValues();
        Assert.True(violations.Count == 0, $"seed {seed}:\n{string.Join("\n", violations)}");
        Assert.All(cluster.Live, n => Assert.All(workload.Keys, k => Assert.Equal(6, n.Kv!.Store.Get(k)!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value)));
        var performedBy = cluster.Live.Select(n => n.Kv!.Store.Pruned[removedId].PerformedBy).Distinct().ToList();
        if (expireAftersAway < 1)
        {
            Assert.Equal([ownerId], performedBy); // its own collapse, back with it
            Assert.Equal(ownerId, Identity(owner));
        }
        else
        {
            Assert.DoesNotContain(ownerId, performedBy); // another owner's: the first one's was discarded with its replica
            Assert.Single(performedBy);
            Assert.NotEqual(ownerId, Identity(owner)); // it was removed while away
        }
    }

    /// <summary>
    /// Nodes' data folders are emptied and they restart under the same names: each is a new identity at once (its store
    /// file is new), takes writes at once, keeps that identity across a restart, and its counters never collide with its
    /// earlier life's; that earlier identity departs and is pruned. No acknowledged write is lost, from any node's point
    /// of view. (Before identities, counters restarted at 1 under the same name and peers dropped the new writes; an
    /// interim fix held the new replica's writes until its first exchange with a peer.)
    /// </summary>
    [Theory]
    [InlineData(61, 3, 1)]
    [InlineData(62, 3, 1)]
    [InlineData(61, 4, 2)]
    [InlineData(4, 4, 2)]
    [InlineData(64, 4, 2)]
    public void WipedDataFolder_SameNameRestart_NewIdentityWritesAtOnceAndNoneIsLost(int seed, int nodes, int wipedCount)
    {
        var cluster = Cluster(seed, nodes);
        var workload = new StoreWorkload(cluster, keys: 2);
        var wiped = cluster.Nodes.Skip(nodes - wipedCount).ToList();
        var earlier = wiped.Select(Identity).ToList();
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
            node.WipeDataFolder();
            node.Restart();
            Assert.DoesNotContain(Identity(node), earlier);
            Assert.False(node.Kv!.Store.AwaitingDepartures);
        }

        var identities = wiped.Select(Identity).ToList();
        cluster.Sim.RunFor(TimeSpan.FromMilliseconds(500));
        wiped[0].Crash();
        wiped[0].Restart();
        Assert.Equal(identities[0], Identity(wiped[0])); // its store file is not new any more

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

        // The earlier lives depart and are pruned: what they wrote stays, collapsed, counted once.
        var gone = cluster.Sim.RunUntil(
            () => StoreWorkload.ReplicasEqual(cluster) && cluster.Live.All(n => workload.Keys.All(k => !earlier.Any(StoreWorkload.ReplicasIn(n.Kv!.Store.GetRaw(k)!).Contains))),
            TimeSpan.FromMinutes(5),
            TimeSpan.FromSeconds(1));
        Assert.True(gone is not null, $"seed {seed}: the earlier identities were not pruned\n{Describe(cluster)}");
        AssertEqualAndLedgerHolds(cluster, workload, seed);
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
        var leavingIds = leaving.Select(Identity).ToList();
        foreach (var node in leaving)
        {
            node.Leave();
        }

        var survivors = cluster.Nodes.Take(2).ToList();
        var left = leavingIds;
        var pruned = cluster.Sim.RunUntil(
            () => survivors.All(n => left.All(l => n.Kv!.Store.Pruned.ContainsKey(l) || n.Node!.Departures.IsRetired(l))) && StoreWorkload.ReplicasEqual(cluster),
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

    private static string Identity(SimNode node) => node.Kv!.Store.ReplicaName;

    /// <summary>The node that owns the prune of <paramref name="removed"/>'s identity (the first live one in its owner order).</summary>
    private static SimNode Owner(SimCluster cluster, SimNode removed) =>
        cluster.Live.Where(n => n != removed).MinBy(n => KvPruning.Rank(Identity(removed), Identity(n)))!;

    /// <summary>Each live node's replica, applied prunes and markers (for failure messages).</summary>
    private static string Describe(SimCluster cluster) => string.Join("\n", cluster.Live.Select(n =>
        $"{n.Name} as {n.Kv!.Store.ReplicaName}: departed [{string.Join(",", n.Node!.Departures.Entries.Values.Select(d => d.Replica + (d.Retired ? "(retired)" : "")))}]; majority {n.Node.HasMajority}; pruned [{string.Join(",", n.Kv.Store.Pruned.Keys)}]; markers "
        + string.Join("; ", n.Kv.Store.Markers().Select(m => $"{m.Key} by {m.Value.PerformedBy ?? "-"} acks {string.Join(",", m.Value.Acks.Select(a => $"{a.Node}>{a.Owner}"))}"))
        + $"; data [{string.Join(",", n.Kv.Store.ReplicasInData().Keys)}]"
        + $"; members [{string.Join(",", n.Node!.Members.Select(m => $"{m.Name}:{m.State}"))}]"));

    private static SimCluster Cluster(int seed, int nodes, TimeSpan? markerTtl = null)
    {
        var cluster = new SimCluster(seed, new NodeSettings { ExpireAfter = ExpireAfter })
        {
            StoreEnabled = true,
            KvSyncInterval = TimeSpan.FromSeconds(2),
            StoreOptions = new CoreOptions { ExpireAfter = new Duration(ExpireAfter), PruneMarkerTtl = new Duration(markerTtl ?? MarkerTtl) },
        };
        cluster.Bootstrap(nodes, TimeSpan.FromSeconds(1));
        var up = cluster.Sim.RunUntil(() => cluster.Nodes.Count == nodes && Scenarios.FullyReachable(cluster) && cluster.StoresSynced, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(up is not null, $"seed {seed}: the cluster did not form");
        return cluster;
    }
}
