using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Overlay.Tests;

public sealed class OverlayControllerTests
{
    private static FakeTimeProvider NewTime() => new(DateTimeOffset.Parse("2026-06-01T00:00:00Z"));

    [Fact]
    public async Task ALoneNode_ClaimsASubnet_WritesItsRecord_ProgramsIt_WritesSubnetEnv()
    {
        await using var node = new OverlayHarness("node-1", NewTime());
        await node.StartAsync();

        var subnet = await node.SubnetAsync();

        var claim = OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-1"))!, out _)!;
        Assert.Equal(subnet, claim.Subnet);
        Assert.Equal(IPAddress.Parse("192.168.1.1"), claim.Underlay);
        Assert.Equal(subnet.BaseAddress, claim.VtepAddress);
        Assert.Equal(OverlayCatalog.VtepMacOf("node-1"), claim.VtepMac);
        var local = node.Backend.Programmed.Local!;
        Assert.Equal(IPNetwork.Parse("10.240.0.0/16"), local.Network);
        var first = subnet.BaseAddress.GetAddressBytes();
        first[3]++;
        Assert.True(await WaitAsync(() => File.Exists(Path.Combine(node.Folder, "subnet.env"))));
        Assert.Equal($"LASHUP_NETWORK=10.240.0.0/16\nLASHUP_SUBNET={new IPAddress(first)}/24\nLASHUP_MTU=1450\nLASHUP_IPMASQ=false\n", File.ReadAllText(Path.Combine(node.Folder, "subnet.env")));
        Assert.True(((IReadinessCheck)node.Controller).Check().IsReady);
    }

    [Fact]
    public async Task Peers_FromWinningClaims_UnreachableKeptForGrace_ThenLeftOut_LeftAtOnce()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        node.AddPeer("node-3");
        Write(node, "node-2", "10.240.2.0/24", 10);
        Write(node, "node-3", "10.240.3.0/24", 10);
        await node.StartAsync();
        await node.SubnetAsync();
        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.Count == 2, OverlayHarness.Patience));
        Assert.Equal(IPAddress.Parse("192.168.1.2"), node.Backend.Programmed.Peers["node-2"].Underlay);

        node.Members.SetState("node-2", MemberState.Unreachable);
        await Task.Delay(200);
        Assert.True(node.Backend.Programmed.Peers.ContainsKey("node-2"), "an unreachable peer stays for peer_grace");
        Assert.Equal("unreachable", node.Controller.Snapshot.Claims.Single(c => c.Claim.Node == "node-2").State);
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.True(await node.Backend.WaitUntilAsync(b => !b.Programmed.Peers.ContainsKey("node-2"), OverlayHarness.Patience), "gone after peer_grace");

        node.Members.SetState("node-2", MemberState.Alive);
        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.ContainsKey("node-2"), OverlayHarness.Patience), "back when reachable");

        node.Members.SetState("node-3", MemberState.Left);
        Assert.True(await node.Backend.WaitUntilAsync(b => !b.Programmed.Peers.ContainsKey("node-3"), OverlayHarness.Patience), "a node that left goes at once");
        var applies = node.Backend.CallsOf(OverlayCallKind.Apply);
        Assert.Equal(["node-3"], applies[^1].Delta!.Removed.ToArray());
    }

    [Fact]
    public async Task AnEstablishedClaim_IsNeverTakenByANewcomer_TheNewcomerMoves()
    {
        var time = NewTime();
        await using var newcomer = new OverlayHarness("node-1", time);
        var first = new SubnetAllocator(IPNetwork.Parse("10.240.0.0/16"), 24).FirstFree("node-1", new HashSet<IPNetwork>())!.Value;
        newcomer.AddPeer("node-9");
        // node-9 holds the subnet node-1 would take first, claimed long ago.
        Write(newcomer, "node-9", first.ToString(), time.GetUtcNow().ToUnixTimeMilliseconds() - 100_000);
        await newcomer.StartAsync();

        var subnet = await newcomer.SubnetAsync();

        Assert.NotEqual(first, subnet);
        Assert.Equal("node-9", newcomer.Controller.Snapshot.Claims.Single(c => c.Claim.Subnet == first).Claim.Node);
    }

    [Fact]
    public async Task ConcurrentClaimsOfOneSubnet_TheEarlierKeepsIt_TheOtherClaimsAnew_AndReprograms()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        await node.StartAsync();
        var mine = await node.SubnetAsync();
        node.AddPeer("node-2");

        // node-2 claimed the same subnet earlier (a concurrent claim, merged late): node-1 moves.
        Write(node, "node-2", mine.ToString(), 1);

        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Local is { } l && l.Subnet != mine, OverlayHarness.Patience));
        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.TryGetValue("node-2", out var p) && p.Subnet == mine, OverlayHarness.Patience));
        Assert.Equal(1, Interlocked.Read(ref node.Controller.Stats.ClaimConflicts));
    }

    [Fact]
    public async Task ARestart_KeepsTheSubnet_AndAWipedFolderGetsItBackFromTheCluster()
    {
        var time = NewTime();
        IPNetwork subnet;
        var store = new InMemoryReplicatedStore("node-1", time);
        await using (var before = new OverlayHarness("node-1", time, store: store))
        {
            await before.StartAsync();
            subnet = await before.SubnetAsync();
        }

        await using (var restarted = new OverlayHarness("node-1", time, store: store))
        {
            await restarted.StartAsync();
            Assert.Equal(subnet, await restarted.SubnetAsync());
            Assert.Empty(restarted.Backend.CallsOf(OverlayCallKind.Apply).Where(c => c.Delta!.LocalChanged));
        }

        // A wiped data folder: an empty store, the cluster (node-2) still holds node-1's record.
        await using var wiped = new OverlayHarness("node-1", time);
        wiped.AddPeer("node-2");
        await wiped.StartAsync(settle: false);
        await Task.Delay(300);
        Assert.Null(wiped.Backend.Programmed.Local);
        Assert.Equal("waiting for the cluster's claims before claiming a subnet", wiped.Controller.Snapshot.LocalReason);
        wiped.Store.MergeRemote(store.Get(OverlayCatalog.KeyOf("node-1"))!);
        Assert.Equal(subnet, await wiped.SubnetAsync());
    }

    [Fact]
    public async Task ARangeExhausted_NotReady_WithTheReason()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time, range: "10.240.0.0/23", prefix: 24);
        node.AddPeer("node-2");
        node.AddPeer("node-3");
        Write(node, "node-2", "10.240.0.0/24", 1);
        Write(node, "node-3", "10.240.1.0/24", 1);
        await node.StartAsync();

        Assert.True(await WaitAsync(() => ((IReadinessCheck)node.Controller).Check().Reason?.StartsWith("the overlay range", StringComparison.Ordinal) == true));
        Assert.StartsWith("the overlay range 10.240.0.0/23 is exhausted", ((IReadinessCheck)node.Controller).Check().Reason, StringComparison.Ordinal);
        Assert.Null(node.Backend.Programmed.Local);
    }

    [Fact]
    public async Task Release_RefusedWhileReachable_FreesTheSubnetOnceGone_AndAnExpiredNodesClaimIsReleased()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        node.AddPeer("node-3");
        Write(node, "node-2", "10.240.2.0/24", 1);
        Write(node, "node-3", "10.240.3.0/24", 1);
        await node.StartAsync();
        await node.SubnetAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => node.Controller.ReleaseAsync("node-2", default));
        node.Members.SetState("node-2", MemberState.Unreachable);
        Assert.True(await WaitAsync(() => node.Controller.Snapshot.Claims.Any(c => c.Claim.Node == "node-2" && c.State == "unreachable")));
        // Unreachable from here for less than peer_grace may be a partition: the node may still hold its subnet.
        await Assert.ThrowsAsync<InvalidOperationException>(() => node.Controller.ReleaseAsync("node-2", default));
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(IPNetwork.Parse("10.240.2.0/24"), await node.Controller.ReleaseAsync("node-2", default));
        Assert.Null(OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-2"))!, out _));
        Assert.True(await node.Backend.WaitUntilAsync(b => !b.Programmed.Peers.ContainsKey("node-2"), OverlayHarness.Patience));

        // node-3 expires from the member list: after expire_after, node-1, the lowest-named reachable member holding a
        // claim, releases its claim.
        node.Members.RemoveMember("node-3");
        await Task.Delay(200);
        Assert.NotNull(OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-3"))!, out _));
        time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));
        Assert.True(await WaitAsync(() => OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-3"))!, out _) is null));
    }

    [Fact]
    public async Task Drift_IsRepairedAtTheNextReconcile_AndCounted()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        Write(node, "node-2", "10.240.2.0/24", 1);
        await node.StartAsync();
        await node.SubnetAsync();
        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.Count == 1, OverlayHarness.Patience));

        node.Backend.Drift(t => t with { Peers = t.Peers.Clear() });
        time.Advance(TimeSpan.FromSeconds(31));

        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.Count == 1, OverlayHarness.Patience));
        Assert.True(await WaitAsync(() => Interlocked.Read(ref node.Controller.Stats.DriftRepaired) == 1));
    }

    [Fact]
    public async Task AFailingBackend_MakesTheNodeUnready_UntilAReconcileSucceeds()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        await node.StartAsync();
        await node.SubnetAsync();
        node.AddPeer("node-2");
        node.Backend.FailNext = "RTM_NEWNEIGH: EPERM";
        Write(node, "node-2", "10.240.2.0/24", 1);

        Assert.True(await WaitAsync(() => !((IReadinessCheck)node.Controller).Check().IsReady));
        Assert.Contains("EPERM", ((IReadinessCheck)node.Controller).Check().Reason, StringComparison.Ordinal);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.ContainsKey("node-2"), OverlayHarness.Patience));
        Assert.True(await WaitAsync(() => ((IReadinessCheck)node.Controller).Check().IsReady));
    }

    [Fact]
    public async Task AWipedNode_WaitsForItsOwnRecord_EvenWhenOthersArriveFirst_AndIsNotReadyMeanwhile()
    {
        var time = NewTime();
        var allocator = new SubnetAllocator(IPNetwork.Parse("10.240.0.0/16"), 24);
        var first = allocator.FirstFree("node-1", new HashSet<IPNetwork>())!.Value;
        var old = allocator.FirstFree("node-1", new HashSet<IPNetwork> { first })!.Value;
        await using var wiped = new OverlayHarness("node-1", time);
        wiped.AddPeer("node-2");
        await wiped.StartAsync(settle: false);
        Write(wiped, "node-2", "10.240.200.0/24", 1);
        await Task.Delay(300);
        Assert.Null(wiped.Backend.Programmed.Local);
        var readiness = ((IReadinessCheck)wiped.Controller).Check();
        Assert.False(readiness.IsReady);
        Assert.Equal("waiting for the cluster's claims before claiming a subnet", readiness.Reason);

        Write(wiped, "node-1", old.ToString(), 5);

        Assert.Equal(old, await wiped.SubnetAsync());
        Assert.True(await WaitAsync(() => ((IReadinessCheck)wiped.Controller).Check().IsReady));
    }

    [Fact]
    public async Task AWipedNode_WhosePeersAppearLate_WaitsFromWhenAPeerIsKnown()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        await node.StartAsync(settle: false);
        time.Advance(TimeSpan.FromSeconds(5));
        node.AddPeer("node-2");
        await Task.Delay(200);
        time.Advance(TimeSpan.FromSeconds(6));
        await Task.Delay(300);
        Assert.Null(node.Backend.Programmed.Local);

        time.Advance(TimeSpan.FromSeconds(5));
        await node.SubnetAsync();
    }

    [Fact]
    public async Task ANodeWhoseClockIsBehind_ClaimsLaterThanEveryClaimItHasSeen()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        var future = time.GetUtcNow().AddHours(2).ToUnixTimeMilliseconds();
        Write(node, "node-2", "10.240.2.0/24", future);
        await node.StartAsync();

        await node.SubnetAsync();

        var mine = OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-1"))!, out _)!;
        Assert.Equal(future + 1, mine.ClaimedAt);
    }

    [Fact]
    public async Task AClaimTimeFarInTheFuture_IsSkipped_AndDoesNotPushThisNodesClaimTime()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        Write(node, "node-2", "10.240.2.0/24", long.MaxValue);
        await node.StartAsync();

        await node.SubnetAsync();

        var mine = OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-1"))!, out _)!;
        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), mine.ClaimedAt);
        Assert.False(node.Backend.Programmed.Peers.ContainsKey("node-2"));
    }

    [Fact]
    public async Task APeersVtepAddressAndMac_ComeFromItsSubnetAndName_NotFromWhatItsRecordSays_AndABadUnderlayIsSkipped()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        node.AddPeer("node-3");
        node.Store.ApplyRemote("node-2", OverlayCatalog.KeyOf("node-2"), OverlayCatalog.Write(new OverlayClaim(
            "node-2", IPNetwork.Parse("10.240.2.0/24"), 1, OverlayHarness.UnderlayOf("node-2"), IPAddress.Parse("10.240.9.9"), OverlayCatalog.VtepMacOf("node-9"))));
        node.Store.ApplyRemote("node-3", OverlayCatalog.KeyOf("node-3"), OverlayCatalog.Write(new OverlayClaim(
            "node-3", IPNetwork.Parse("10.240.3.0/24"), 1, IPAddress.Parse("224.0.0.1"), null, null)));
        await node.StartAsync();

        Assert.True(await node.Backend.WaitUntilAsync(b => b.Programmed.Peers.ContainsKey("node-2"), OverlayHarness.Patience));
        Assert.Equal(IPAddress.Parse("10.240.2.0"), node.Backend.Programmed.Peers["node-2"].VtepAddress);
        Assert.Equal(OverlayCatalog.VtepMacOf("node-2"), node.Backend.Programmed.Peers["node-2"].VtepMac);
        Assert.False(node.Backend.Programmed.Peers.ContainsKey("node-3"));
    }

    [Fact]
    public async Task AClaimOfANodeThatExpiredWhileThisOneWasDown_IsReleasedAfterExpireAfter()
    {
        var time = NewTime();
        await using var node = new OverlayHarness("node-1", time);
        node.AddPeer("node-2");
        Write(node, "node-2", "10.240.2.0/24", 1);
        Write(node, "node-3", "10.240.3.0/24", 1);
        await node.StartAsync();
        await node.SubnetAsync();

        time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromSeconds(1));

        Assert.True(await WaitAsync(() => OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-3"))!, out _) is null));
        Assert.NotNull(OverlayCatalog.Read(node.Store.Get(OverlayCatalog.KeyOf("node-2"))!, out _));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task ClaimsMergedInRandomOrders_EveryNodeAgrees_NoSubnetTwice(int seed)
    {
        // Eight nodes, sixteen subnets (hash collisions are likely), every store its own replica; entries copied between
        // them in a random order, again and again, until nothing changes.
        var time = NewTime();
        var random = new Random(seed);
        var names = Enumerable.Range(1, 8).Select(i => $"node-{i}").ToList();
        var nodes = names.Select(n => new OverlayHarness(n, time, range: "10.240.0.0/24", prefix: 28)).ToList();
        try
        {
            foreach (var node in nodes)
            {
                foreach (var other in names.Where(n => n != node.Node))
                {
                    node.AddPeer(other);
                }

                await node.StartAsync();
            }

            time.Advance(OverlayController.ClaimSettle + TimeSpan.FromSeconds(1));
            for (var round = 0; round < 60; round++)
            {
                foreach (var (to, from) in nodes.SelectMany(a => nodes.Where(b => b != a).Select(b => (a, b))).OrderBy(_ => random.Next()).Take(20))
                {
                    to.MergeFrom(from);
                }

                time.Advance(TimeSpan.FromMilliseconds(random.Next(1, 50)));
                await Task.Delay(20);
                if (Settled(nodes))
                {
                    break;
                }
            }

            // Then full anti-entropy rounds until it settles (a node that lost a claim in the last round claims anew,
            // and that claim must reach the others too).
            var deadline = DateTime.UtcNow + OverlayHarness.Patience;
            while (!Settled(nodes) && DateTime.UtcNow < deadline)
            {
                foreach (var to in nodes)
                {
                    foreach (var from in nodes)
                    {
                        to.MergeFrom(from);
                    }
                }

                time.Advance(TimeSpan.FromMilliseconds(10));
                await Task.Delay(20);
            }

            Assert.True(Settled(nodes), string.Join("; ", nodes.Select(n => $"{n.Node}: {n.Backend.Programmed.Local?.Subnet} ({n.Controller.Snapshot.LocalReason})")));
            var subnets = nodes.Select(n => n.Backend.Programmed.Local!.Subnet).ToList();
            Assert.Equal(subnets.Count, subnets.Distinct().Count());
            foreach (var node in nodes)
            {
                Assert.Equal(
                    nodes.Where(n => n != node).ToDictionary(n => n.Node, n => n.Backend.Programmed.Local!.Subnet),
                    node.Backend.Programmed.Peers.ToDictionary(p => p.Key, p => p.Value.Subnet));
            }
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    /// <summary>Every node programs a subnet, every store holds the same claims, every node's peers are all the others.</summary>
    private static bool Settled(List<OverlayHarness> nodes)
    {
        var claims = nodes.Select(n => string.Join(",", n.Store.List(OverlayCatalog.Prefix).Select(e => OverlayCatalog.Read(e, out _)).Where(c => c is not null).Select(c => $"{c!.Node}={c.Subnet}").Order())).Distinct().Count();
        return claims == 1
            && nodes.All(n => n.Backend.Programmed.Local is { } local && n.Backend.Programmed.Peers.Count == nodes.Count - 1
                && n.Controller.Snapshot.Claims.All(c => c.State is "local" or "programmed"));
    }

    private static void Write(OverlayHarness node, string other, string subnet, long claimedAt) =>
        node.Store.ApplyRemote(other, OverlayCatalog.KeyOf(other), OverlayCatalog.Write(new OverlayClaim(
            other, IPNetwork.Parse(subnet), claimedAt, OverlayHarness.UnderlayOf(other), IPNetwork.Parse(subnet).BaseAddress, OverlayCatalog.VtepMacOf(other))));

    private static async Task<bool> WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + OverlayHarness.Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}
