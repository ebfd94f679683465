using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Wire;
using Lashup.Simulator;

namespace Lashup.Plugins.Core.Tests.Protocol;

/// <summary>
/// Issue 15 in the deterministic simulator (plaintext): one forged frame in a member's name with an epoch far ahead
/// must not cut the member off, and a member that really moved several epochs ahead still gets back in.
/// </summary>
public sealed class ForgerySimulationTests
{
    [Fact]
    public void ForgedPingWithHugeEpoch_MembersRealFramesStillAcceptedAndNobodyFails()
    {
        const int seed = 31;
        var cluster = Scenarios.Converged(5, seed);
        var node = cluster.Nodes[0];
        var member = cluster.Nodes.First(n => node.Node!.ActiveView.Contains(n.Name));
        var replayedBefore = node.Node!.Stats.Dropped[(int)DropReason.Replayed];

        node.Node.Receive(new Envelope(member.Name, member.Address, 1_000_000_000_000, 1, new Ping(424242)));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));

        // The node used to take every later frame of the member for a replay, fail it, and keep it out until expiry.
        Assert.True(node.Node.Stats.Dropped[(int)DropReason.Replayed] - replayedBefore == 0, $"seed {seed}: {node.Node.Stats.Dropped[(int)DropReason.Replayed] - replayedBefore} of the member's frames refused");
        Assert.Equal(0, node.Node.Stats.NeighborsFailed);
        Assert.Contains(member.Name, node.Node.ActiveView);
        Assert.True(cluster.Converged(), $"seed {seed}");
    }

    [Fact]
    public void ForgedRecordFarAhead_NotBelievedAndTheMemberKeepsItsEpoch()
    {
        const int seed = 32;
        var cluster = Scenarios.Converged(5, seed);
        var node = cluster.Nodes[0];
        var member = cluster.Nodes[3];
        var epoch = member.Epoch;
        var forged = new AdjacencyRecord(member.Name, member.Address, 1_000_000_000_000, 1, [], new Dictionary<string, string> { ["forged"] = "yes" }, false);

        node.Node!.Receive(new Envelope("forger", "10.66.0.1:7470", 1, 1, new AdjacencyUpdate(forged)));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));

        // It used to be kept and flooded, and the member, seeing a newer record in its name, jumped past it.
        Assert.Equal(epoch, member.Epoch);
        Assert.All(cluster.Live, n => Assert.Equal(epoch, n.Node!.RecordOf(member.Name)!.Epoch));
        Assert.All(cluster.Live.Where(n => n != member), n => Assert.False(n.Node!.RecordOf(member.Name)!.Metadata.ContainsKey("forged")));
        Assert.True(cluster.Converged(), $"seed {seed}");
    }

    [Fact]
    public void ForgedOwnRecordAtTheLargestEpoch_TheMemberDoesNotWrapAround()
    {
        const int seed = 33;
        var cluster = Scenarios.Converged(5, seed);
        var member = cluster.Nodes[2];
        var forged = new AdjacencyRecord(member.Name, member.Address, long.MaxValue, 1, [], [], false);

        member.Node!.Receive(new Envelope("forger", "10.66.0.1:7470", 1, 1, new AdjacencyUpdate(forged)));
        cluster.Sim.RunFor(TimeSpan.FromSeconds(30));

        Assert.True(member.Epoch > 0, $"seed {seed}: epoch {member.Epoch}");
        Assert.True(cluster.Converged(), $"seed {seed}");
    }

    [Fact]
    public void MemberRestartedSeveralTimesWhileCutOff_ConfirmedAndBackEverywhere()
    {
        // Its records of the epochs in between never reached anyone: the one that arrives is three ahead, and each
        // node asks the member before believing it.
        const int seed = 34;
        var cluster = Scenarios.Converged(8, seed);
        var member = cluster.Nodes[5];
        var epoch = member.Epoch;
        cluster.Partition(n => n == member ? 2 : 1);
        for (var i = 0; i < 3; i++)
        {
            member.Crash();
            cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
            member.Restart();
            cluster.Sim.RunFor(TimeSpan.FromSeconds(5));
        }

        cluster.Heal();
        var took = cluster.Sim.RunUntil(
            () => cluster.Converged() && cluster.Live.All(n => n.Node!.RecordOf(member.Name)?.Epoch == member.Epoch),
            TimeSpan.FromMinutes(2),
            TimeSpan.FromMilliseconds(100));

        Assert.Equal(epoch + 3, member.Epoch);
        Assert.True(took is not null, $"seed {seed}: not back everywhere: {string.Join(", ", cluster.Live.Select(n => $"{n.Name}: {n.Node!.RecordOf(member.Name)?.Epoch} {n.Node.StateOf(member.Name)}"))}");
        Assert.All(cluster.Live, n => Assert.Equal(MemberState.Alive, n.Node!.StateOf(member.Name)));
        Assert.True(cluster.Live.Sum(n => n.Node!.Stats.EpochsConfirmed) > 0, $"seed {seed}: no node had to ask the member");
    }
}
