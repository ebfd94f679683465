using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Protocol;
using Lashup.Simulator;

namespace Lashup.Plugins.Core.Tests.Protocol;

/// <summary>
/// The protocol in the deterministic simulator: convergence asserted in gossip rounds (one round = one network hop
/// of fixed delay) or in virtual seconds. Every assertion message carries the seed, and the same seed replays the run.
/// </summary>
public sealed class SimulatorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void JoinAndLeave_ThirtyNodes_KnownEverywhereWithinLogRounds(int seed)
    {
        var result = Scenarios.JoinAndLeaveRounds(30, seed, print: false);

        // log2(30) ~ 4.9; a flood crosses the graph's diameter (~log N) plus a few hops for the join handshake.
        Assert.True(result.JoinRounds <= 4 * Math.Log2(30), $"seed {seed}: join took {result.JoinRounds} rounds");
        Assert.True(result.LeaveRounds <= 3 * Math.Log2(30), $"seed {seed}: leave took {result.LeaveRounds} rounds");
    }

    [Fact]
    public void Broadcast_NoLoss_ReachesEveryoneWithinTwiceTheIdealTree()
    {
        var result = Scenarios.Broadcast(50, seed: 3, broadcasts: 5, print: false);

        Assert.Equal(result.Expected, result.Delivered);
        Assert.True(result.MessagesPerIdealTree <= 2.0, $"seed 3: {result.MessagesPerIdealTree:F2} x ideal");
    }

    [Fact]
    public void KillNine_DeclaredUnreachableEverywhereWithinFiveSeconds()
    {
        var result = Scenarios.Detection(20, seed: 4, runs: 2, print: false);

        Assert.True(result.P99 < TimeSpan.FromSeconds(5), $"seed 4: p99 {result.P99}");
    }

    [Fact]
    public void HalfTheNodesCrash_OverlayStaysConnected()
    {
        var result = Scenarios.HalfCrash(40, seed: 5, runs: 2, print: false);

        Assert.Equal(result.Runs, result.Connected);
    }

    [Fact]
    public void TenPercentLoss_FalsePositivesBelowOnePerThousandProbes()
    {
        var result = Scenarios.FalsePositives(10, seed: 6, loss: 0.10, duration: TimeSpan.FromMinutes(3), print: false);

        Assert.True(result.Probes > 1000, $"seed 6: only {result.Probes} probes");
        Assert.True(result.FalsePositiveRate < 0.001, $"seed 6: {result.FalseFailures} false failures in {result.Probes} probes");
    }

    [Fact]
    public void Partition_HealsAndReconverges()
    {
        const int seed = 7;
        var cluster = Scenarios.Converged(30, seed);
        var half = cluster.Nodes.Take(15).Select(n => n.Name).ToHashSet();
        cluster.Partition(n => half.Contains(n.Name) ? 1 : 2);

        var split = cluster.Sim.RunUntil(
            () => cluster.Live.All(n => n.Node!.ReachableCount == 15),
            TimeSpan.FromSeconds(30),
            TimeSpan.FromMilliseconds(100));
        Assert.True(split is not null, $"seed {seed}: the two sides did not see each other unreachable");
        cluster.Sim.RunFor(TimeSpan.FromSeconds(60));

        cluster.Heal();
        var healed = cluster.Sim.RunUntil(() => Scenarios.FullyReachable(cluster) && cluster.Converged(), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));

        // Re-linking an unreachable node runs every relink interval (12 s + jitter), so a heal takes about that.
        Assert.True(healed is not null && healed < TimeSpan.FromSeconds(60), $"seed {seed}: healed after {healed}");
    }

    [Fact]
    public void CrashAndRestart_ComesBackAliveWithNewEpoch()
    {
        const int seed = 8;
        var cluster = Scenarios.Converged(10, seed);
        var victim = cluster.Nodes[4];
        var epoch = victim.Epoch;
        victim.Crash();
        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.StateOf(victim.Name) != MemberState.Alive), TimeSpan.FromSeconds(30)));

        victim.Restart();

        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Converged(), TimeSpan.FromSeconds(30)));
        Assert.Equal(epoch + 1, victim.Epoch);
    }

    [Fact]
    public void ExpiredMember_NotBroughtBackByGraphSync()
    {
        const int seed = 15;
        var cluster = new SimCluster(seed, new NodeSettings { ExpireAfter = TimeSpan.FromSeconds(30) });
        cluster.Bootstrap(12, TimeSpan.FromSeconds(1));
        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Nodes.Count == 12 && cluster.Converged(), TimeSpan.FromMinutes(2)));
        cluster.Nodes[9].Crash();
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var gone = cluster.Nodes[5];
        gone.Crash(); // out of phase with the expiry ticks: nodes expire it up to a minute apart

        var expired = cluster.Sim.RunUntil(() => cluster.Live.All(n => n.Node!.StateOf(gone.Name) is null), TimeSpan.FromMinutes(3), TimeSpan.FromSeconds(1));
        Assert.True(expired is not null, $"seed {seed}: {gone.Name} still listed by {string.Join(", ", cluster.Live.Where(n => n.Node!.StateOf(gone.Name) is not null).Select(n => n.Name))}");
        for (var i = 0; i < 300; i++)
        {
            cluster.Sim.RunFor(TimeSpan.FromSeconds(1));
            Assert.True(cluster.Live.All(n => n.Node!.StateOf(gone.Name) is null), $"seed {seed}: {gone.Name} came back after {cluster.Sim.Elapsed}");
        }

        gone.Restart();
        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Converged(), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Prewire_StartsConvergedAndStaysQuiet()
    {
        const int seed = 16;
        var cluster = new SimCluster(seed);
        cluster.Prewire(100);

        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Converged() && Scenarios.FullyReachable(cluster), TimeSpan.FromSeconds(2)));
        Assert.All(cluster.Live, n => Assert.InRange(n.Node!.ActiveView.Count, 1, cluster.Settings.ActiveViewSize));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));
        var floods = cluster.Live.Sum(n => n.Node!.Stats.AdjacencyFloodsReceived);
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));

        // As after a bootstrap through joins: once settled, links stop changing (a change would flood to all 100).
        Assert.True(cluster.Converged(), $"seed {seed}");
        var more = cluster.Live.Sum(n => n.Node!.Stats.AdjacencyFloodsReceived) - floods;
        Assert.True(more < 100 * 7, $"seed {seed}: {more} adjacency floods received in 30 s");
        var restarted = cluster.Nodes[50];
        restarted.Crash();
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        restarted.Restart();
        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Converged(), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void DuplicateName_NewcomerGetsClearFatalError()
    {
        const int seed = 9;
        var cluster = Scenarios.Converged(5, seed);
        var impostor = cluster.AddNode([cluster.Nodes[0].Address], name: cluster.Nodes[2].Name);

        cluster.Sim.RunFor(TimeSpan.FromSeconds(5));

        Assert.Contains($"the node name \"{cluster.Nodes[2].Name}\" is already used by the live node at {cluster.Nodes[2].Address}", impostor.Node!.FatalError, StringComparison.Ordinal);
        Assert.Empty(impostor.Node.ActiveView);
        Assert.True(cluster.Nodes.Take(5).All(n => n.Node!.StateOf(n.Name) == MemberState.Alive), $"seed {seed}");
    }

    [Fact]
    public void LossDuplicationReordering_StillConverges()
    {
        const int seed = 10;
        var cluster = new SimCluster(seed);
        cluster.Network.Loss = 0.05;
        cluster.Network.Duplication = 0.05;
        cluster.Network.Jitter = TimeSpan.FromMilliseconds(20);
        cluster.Bootstrap(20, TimeSpan.FromSeconds(2));

        var took = cluster.Sim.RunUntil(() => cluster.Nodes.Count == 20 && cluster.Converged(), TimeSpan.FromMinutes(2), TimeSpan.FromMilliseconds(100));

        Assert.True(took is not null, $"seed {seed}: not converged");
    }

    [Fact]
    public void WallClockJumps_DoNotDisturbMembership()
    {
        const int seed = 11;
        var cluster = Scenarios.Converged(10, seed);
        cluster.Nodes[1].Clock.Skew = TimeSpan.FromHours(3);
        cluster.Nodes[2].Clock.Skew = -TimeSpan.FromHours(3);

        cluster.Sim.RunFor(TimeSpan.FromMinutes(2));

        Assert.True(cluster.Converged(), $"seed {seed}");
        Assert.All(cluster.Live, n => Assert.Equal(0, n.Node!.Stats.NeighborsFailed));
    }

    [Fact]
    public void SeedNotAnswering_KeepsRetryingAndJoinsWhenItAppears()
    {
        const int seed = 14;
        var cluster = new SimCluster(seed);
        var early = cluster.AddNode(["10.0.0.1:7470"]); // node-00001's address; that node does not exist yet
        cluster.Sim.RunFor(TimeSpan.FromSeconds(10));
        Assert.Empty(early.Node!.ActiveView);
        Assert.True(early.Node.Stats.MessagesSent >= 8, $"seed {seed}: only {early.Node.Stats.MessagesSent} join attempts in 10 s");

        cluster.AddNode([]);

        Assert.NotNull(cluster.Sim.RunUntil(() => cluster.Converged() && early.Node.ActiveView.Count == 1, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void SameSeed_ReplaysIdentically()
    {
        static string Trace(int seed)
        {
            var cluster = new SimCluster(seed);
            cluster.Network.Loss = 0.1;
            cluster.Network.Jitter = TimeSpan.FromMilliseconds(5);
            cluster.Bootstrap(15, TimeSpan.FromSeconds(1));
            cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
            cluster.Nodes[3].Crash();
            cluster.Sim.RunFor(TimeSpan.FromSeconds(20));
            return $"{cluster.Sim.EventsRun}/{cluster.MessagesDelivered}/{cluster.MessagesLost}/" +
                   string.Join(";", cluster.Live.Select(n => string.Join(",", n.Node!.ActiveView.Order(StringComparer.Ordinal))));
        }

        Assert.Equal(Trace(12), Trace(12));
        Assert.NotEqual(Trace(12), Trace(13));
    }
}
