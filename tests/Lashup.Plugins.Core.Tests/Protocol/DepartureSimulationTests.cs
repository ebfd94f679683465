using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;
using Lashup.Simulator;

namespace Lashup.Plugins.Core.Tests.Protocol;

/// <summary>
/// Membership's departure record (issue 16) in the deterministic simulator, with the real store publishing identities:
/// decided only from the majority side, only after <c>expire_after</c>, gossiped to every member, persisted across
/// restarts, and final. Every assertion carries the seed.
/// </summary>
public sealed class DepartureSimulationTests
{
    private static readonly TimeSpan ExpireAfter = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After a long stable run (the member graph unchanged for many expire_afters), a crashed member departs no sooner
    /// than expire_after after it was last reachable, and then on every member.
    /// </summary>
    [Theory]
    [InlineData(201)]
    [InlineData(202)]
    public void Crash_AfterALongStableRun_DepartsExpireAfterLaterEverywhere(int seed)
    {
        var cluster = Cluster(seed, 5);
        cluster.Sim.RunFor(ExpireAfter * 5);
        var victim = cluster.Nodes[3];
        var identity = victim.Kv!.Store.ReplicaName;
        Assert.All(cluster.Live, n => Assert.Equal(0, n.Node!.Departures.Count));

        victim.Crash();
        cluster.Sim.RunFor(ExpireAfter * 0.8);
        Assert.All(cluster.Live, n => Assert.False(n.Node!.Departures.IsDeparted(identity), $"seed {seed}: {n.Name} recorded {identity} departed within expire_after"));

        var departed = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.Departures.IsDeparted(identity)), ExpireAfter * 2, TimeSpan.FromMilliseconds(200));
        Assert.True(departed is not null, $"seed {seed}: {identity} did not depart everywhere");
        Assert.All(cluster.Live, n => Assert.Equal(1, n.Node!.Departures.Count));
    }

    /// <summary>
    /// A minority (two of five) cut off for many expire_afters records nobody departed; the majority records both
    /// departed; when the partition heals the minority learns it (and its stores start over as new identities).
    /// </summary>
    [Theory]
    [InlineData(211)]
    [InlineData(212)]
    public void Partition_MinorityCutOffForLong_DecidesNothingAndLearnsItsDepartureOnHeal(int seed)
    {
        var cluster = Cluster(seed, 5);
        var minority = cluster.Nodes.Skip(3).ToList();
        var identities = minority.Select(n => n.Kv!.Store.ReplicaName).ToList();
        cluster.Partition(n => minority.Contains(n) ? 2 : 1);
        cluster.Sim.RunFor(ExpireAfter * 6);

        Assert.All(minority, n => Assert.Equal(0, n.Node!.Departures.Count));
        Assert.All(minority, n => Assert.False(n.Node!.HasMajority, $"seed {seed}: {n.Name} believes it is the majority"));
        Assert.All(cluster.Live.Except(minority), n => Assert.All(identities, i => Assert.True(n.Node!.Departures.IsDeparted(i), $"seed {seed}: {n.Name} did not record {i}")));

        cluster.Heal();
        var learnt = cluster.Sim.RunUntil(
            () => minority.All(n => identities.All(n.Node!.Departures.IsDeparted) && !identities.Contains(n.Kv!.Store.ReplicaName)),
            TimeSpan.FromMinutes(2),
            TimeSpan.FromMilliseconds(200));
        Assert.True(learnt is not null, $"seed {seed}: the minority did not learn its departure");
        Assert.All(minority, n => Assert.Equal(1, n.Kv!.Store.Stats.ReplicaDiscards));
        Assert.All(cluster.Live, n => Assert.Equal(identities.Order(StringComparer.Ordinal), n.Node!.Departures.Entries.Keys.Order(StringComparer.Ordinal)));
    }

    /// <summary>
    /// The record survives a restart; a member that was down when a departure was decided learns it when it returns;
    /// and a departure is never undone (the departed identity's node coming back cannot bring it back: it returns as a
    /// new identity).
    /// </summary>
    [Theory]
    [InlineData(221)]
    [InlineData(222)]
    public void Restart_DepartureRecordPersistedLearntOnReturnAndFinal(int seed)
    {
        var cluster = Cluster(seed, 5);
        var departing = cluster.Nodes[4];
        var away = cluster.Nodes[1];
        var identity = departing.Kv!.Store.ReplicaName;
        away.Crash();
        departing.Crash();
        var departed = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.Departures.IsDeparted(identity)), ExpireAfter * 3, TimeSpan.FromMilliseconds(200));
        Assert.True(departed is not null, $"seed {seed}: {identity} did not depart");

        var kept = cluster.Nodes[2];
        kept.Crash();
        kept.Restart();
        Assert.True(kept.Node!.Departures.IsDeparted(identity), $"seed {seed}: the record did not survive a restart");

        away.Restart();
        departing.Restart();
        var learnt = cluster.Sim.RunUntil(
            () => away.Node!.Departures.IsDeparted(identity) && departing.Kv!.Store.ReplicaName != identity && Scenarios.FullyReachable(cluster),
            TimeSpan.FromMinutes(2),
            TimeSpan.FromMilliseconds(200));
        Assert.True(learnt is not null, $"seed {seed}: the returning nodes did not learn the record");
        cluster.Sim.RunFor(ExpireAfter * 3);
        Assert.All(cluster.Live, n => Assert.True(n.Node!.Departures.IsDeparted(identity)));
        Assert.All(cluster.Live, n => Assert.False(n.Node!.Departures.IsDeparted(departing.Kv!.Store.ReplicaName), $"seed {seed}: the new identity departed"));
        Assert.All(cluster.Live, n => Assert.False(n.Node!.Departures.IsDeparted(away.Kv!.Store.ReplicaName), $"seed {seed}: {away.Name} departed"));
    }

    /// <summary>
    /// The whole cluster is down for far longer than expire_after (and than half of prune_marker_ttl, where an earlier
    /// version refused to open the stores): nobody could remove anybody, so everyone comes back as it was, with no
    /// operator action; a member that does not come back departs expire_after after the others are back.
    /// </summary>
    [Theory]
    [InlineData(231)]
    [InlineData(232)]
    public void WholeClusterDown_LongerThanExpireAfter_StartsAsItWasAndOnlyTheMissingMemberDeparts(int seed)
    {
        var cluster = Cluster(seed, 5);
        var workload = new StoreWorkload(cluster, keys: 2);
        foreach (var node in cluster.Nodes)
        {
            workload.Write(node, workload.Keys[0], new CounterAdd([StoreWorkload.CounterField], 1));
            workload.Write(node, workload.Keys[1], new ORSetAdd([StoreWorkload.SetField], node.Name));
        }

        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        var identities = cluster.Nodes.ToDictionary(n => n, n => n.Kv!.Store.ReplicaName);
        foreach (var node in cluster.Nodes)
        {
            node.Crash();
        }

        cluster.Sim.RunFor(TimeSpan.FromMinutes(20));
        var missing = cluster.Nodes[3];
        foreach (var node in cluster.Nodes.Where(n => n != missing))
        {
            node.Restart(cluster.Nodes.Where(n => n != node && n != missing));
        }

        var back = cluster.Sim.RunUntil(() => cluster.StoresSynced && cluster.Live.All(n => n.Node!.ActiveView.Count > 0), TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(100));
        Assert.True(back is not null, $"seed {seed}: the cluster did not come back");
        Assert.All(cluster.Live, n => Assert.Equal(identities[n], n.Kv!.Store.ReplicaName));
        Assert.All(cluster.Live, n => Assert.Equal(0, n.Node!.Departures.Count));
        Assert.NotNull(workload.Write(cluster.Nodes[0], workload.Keys[0], new CounterAdd([StoreWorkload.CounterField], 1)));

        cluster.Sim.RunFor(ExpireAfter * 0.8);
        Assert.All(cluster.Live, n => Assert.Equal(0, n.Node!.Departures.Count));
        var departed = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.Departures.IsDeparted(identities[missing])), ExpireAfter * 2, TimeSpan.FromMilliseconds(200));
        Assert.True(departed is not null, $"seed {seed}: the member that did not come back did not depart");
        Assert.All(cluster.Live, n => Assert.Equal(1, n.Node!.Departures.Count));
        var settled = cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(3), TimeSpan.FromSeconds(1));
        Assert.True(settled is not null, $"seed {seed}: replicas differ");
        Assert.Empty(workload.VerifyValues());
        Assert.All(cluster.Live, n => Assert.Equal(6, n.Kv!.Store.Get(workload.Keys[0])!.Value.GetPnCounter(StoreWorkload.CounterField)!.Value));
    }

    /// <summary>A node whose data folder was wiped publishes a new identity; its earlier one departs (it is gone with the folder).</summary>
    [Theory]
    [InlineData(241)]
    [InlineData(242)]
    public void WipedDataFolder_EarlierIdentityDeparts(int seed)
    {
        var cluster = Cluster(seed, 4);
        var wiped = cluster.Nodes[2];
        var earlier = wiped.Kv!.Store.ReplicaName;
        wiped.Crash();
        wiped.WipeDataFolder();
        wiped.Restart();
        Assert.NotEqual(earlier, wiped.Kv.Store.ReplicaName);

        var departed = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.Departures.IsDeparted(earlier)), ExpireAfter * 3, TimeSpan.FromMilliseconds(200));
        Assert.True(departed is not null, $"seed {seed}: the earlier identity did not depart");
        Assert.All(cluster.Live, n => Assert.False(n.Node!.Departures.IsDeparted(wiped.Kv.Store.ReplicaName)));
    }

    /// <summary>
    /// A node cut off alone long enough to be departed by the majority restarts, still cut off, with one of its own rows
    /// unreadable: it moves on to a new identity at start, keeping its data. Once the partition heals it learns that the
    /// cluster removed the identity it moved on from (not that it superseded it): its data is as stale as if it had
    /// kept that identity, so it discards it and re-syncs, as a removed node does.
    /// </summary>
    [Theory]
    [InlineData(311)]
    [InlineData(312)]
    public async Task Partition_DepartedNodeMovedOnAtRestart_StillDiscardsOnHeal(int seed)
    {
        var cluster = Cluster(seed, 5);
        var victim = cluster.Nodes[4];
        var removed = victim.Kv!.Store.ReplicaName;
        var own = KvKey.Parse("review/own");
        Assert.NotNull(await victim.Kv.Store.UpdateAsync(own, [new LwwSet(["f"], "v0")]));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));

        cluster.Partition(n => n == victim ? 2 : 1);
        cluster.Sim.RunFor(ExpireAfter * 3);
        Assert.All(cluster.Live.Where(n => n != victim), n => Assert.True(n.Node!.Departures.IsDeparted(removed)));
        victim.Crash();
        victim.Kv.Disk.CorruptValue(own.ToString());
        victim.Restart();
        var movedOn = victim.Kv.Store.ReplicaName;
        Assert.NotEqual(removed, movedOn);
        Assert.Equal(0, victim.Kv.Store.Stats.ReplicaDiscards);

        cluster.Heal();
        var discarded = cluster.Sim.RunUntil(() => victim.Kv.Store.Stats.ReplicaDiscards == 1, ExpireAfter * 2, TimeSpan.FromMilliseconds(200));
        Assert.True(discarded is not null, $"seed {seed}: {victim.Name} kept the data of its removed identity");
        Assert.NotEqual(movedOn, victim.Kv.Store.ReplicaName);
        var equal = cluster.Sim.RunUntil(() => StoreWorkload.ReplicasEqual(cluster), TimeSpan.FromMinutes(3), TimeSpan.FromSeconds(1));
        Assert.True(equal is not null, $"seed {seed}: replicas differ");
        Assert.Equal("v0", victim.Kv.Store.Get(own)!.Map.GetLwwRegister("f")?.Value);
    }

    private static SimCluster Cluster(int seed, int nodes)
    {
        var cluster = new SimCluster(seed, new NodeSettings { ExpireAfter = ExpireAfter })
        {
            StoreEnabled = true,
            KvSyncInterval = TimeSpan.FromSeconds(2),
            StoreOptions = new CoreOptions { ExpireAfter = new Duration(ExpireAfter), PruneMarkerTtl = new Duration(TimeSpan.FromMinutes(10)) },
        };
        cluster.Bootstrap(nodes, TimeSpan.FromSeconds(1));
        var up = cluster.Sim.RunUntil(() => cluster.Nodes.Count == nodes && Scenarios.FullyReachable(cluster) && cluster.StoresSynced, TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));
        Assert.True(up is not null, $"seed {seed}: the cluster did not form");
        return cluster;
    }
}
