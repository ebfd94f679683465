using System.Collections.Immutable;
using System.Net;
using System.Threading.Channels;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Plugins.LoadBalancer.Tests.Support;
using Lashup.Testing;
using NSubstitute;

namespace Lashup.Plugins.LoadBalancer.Tests;

public sealed class LoadBalancerControllerTests
{
    private static readonly VipId Web = VipId.ForAddress(IPAddress.Parse("127.0.0.10"), 80, TransportProtocol.Tcp);
    private static readonly VipId Dns = VipId.ForAddress(IPAddress.Parse("127.0.0.10"), 53, TransportProtocol.Udp);

    [Fact]
    public async Task Start_NothingAppliedBeforeEverySnapshotAndTheMemberList()
    {
        var scratch = new InMemoryReplicatedStore("node-1");
        var vipEntry = await ControllerHarness.WriteVipAsync(scratch, Web, B("10.1.0.1:80", "node-1"));
        var streams = new Dictionary<string, Channel<KvChange>>
        {
            [VipCatalog.Prefix.Value] = Channel.CreateUnbounded<KvChange>(),
            [VipNames.Prefix.Value] = Channel.CreateUnbounded<KvChange>(),
            [ServiceCatalog.Prefix.Value] = Channel.CreateUnbounded<KvChange>(),
        };
        var store = Substitute.For<IReplicatedStore>();
        store.WatchAsync(Arg.Any<KvKey>(), Arg.Any<CancellationToken>())
            .Returns(call => streams[call.Arg<KvKey>().Value].Reader.ReadAllAsync(call.Arg<CancellationToken>()));
        store.List(Arg.Any<KvKey>()).Returns([]);
        var members = Channel.CreateUnbounded<MembershipEvent>();
        var membership = Substitute.For<IClusterMembership>();
        membership.LocalName.Returns("node-1");
        membership.WatchAsync(Arg.Any<CancellationToken>()).Returns(call => members.Reader.ReadAllAsync(call.Arg<CancellationToken>()));
        await using var harness = new ControllerHarness(store, membership);
        await harness.StartAsync(waitLoaded: false);

        // The VIPs' snapshot has begun, names and services are complete, the member list has not come: nothing yet.
        await streams[VipCatalog.Prefix.Value].Writer.WriteAsync(new KvChange(KvChangeKind.Snapshot, vipEntry));
        await streams[VipNames.Prefix.Value].Writer.WriteAsync(KvChange.SnapshotComplete);
        await streams[ServiceCatalog.Prefix.Value].Writer.WriteAsync(KvChange.SnapshotComplete);
        await members.Writer.WriteAsync(new MembershipEvent([Member("node-1")], null));
        await Settle();
        Assert.Equal(0, harness.CallCount);
        Assert.False(harness.Controller.Check().IsReady);

        // The VIPs' snapshot completes: the first call is one reconcile with the whole table.
        await streams[VipCatalog.Prefix.Value].Writer.WriteAsync(KvChange.SnapshotComplete);
        var first = await harness.CallAsync(1);
        Assert.Equal(LoadBalancerCallKind.Reconcile, first.Kind);
        Assert.Equal([Web.ToKey()], first.Desired!.Vips.Keys);
        await harness.Controller.Loaded.WaitAsync(ControllerHarness.Patience);
        Assert.True(harness.Controller.Check().IsReady);
    }

    [Fact]
    public async Task Start_MemberListLast_NothingAppliedUntilItComes()
    {
        var members = Channel.CreateUnbounded<MembershipEvent>();
        var membership = Substitute.For<IClusterMembership>();
        membership.LocalName.Returns("node-1");
        membership.WatchAsync(Arg.Any<CancellationToken>()).Returns(call => members.Reader.ReadAllAsync(call.Arg<CancellationToken>()));
        await using var harness = new ControllerHarness(membership: membership);
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2"));
        await harness.StartAsync(waitLoaded: false);

        await Settle();
        Assert.Equal(0, harness.CallCount);

        // Without the member list every backend would look unreachable; with it, node-2's is excluded from the start.
        await members.Writer.WriteAsync(new MembershipEvent([Member("node-1"), Member("node-2", MemberState.Unreachable)], null));
        var first = await harness.CallAsync(1);
        Assert.Equal(LoadBalancerCallKind.Reconcile, first.Kind);
        Assert.Equal([IPEndPoint.Parse("10.1.0.1:80")], first.Desired!.Vips[Web.ToKey()].Backends.Select(b => b.Endpoint));
    }

    [Fact]
    public async Task Changes_OnlyWhatDiffersIsApplied()
    {
        await using var harness = new ControllerHarness();
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2"));
        await harness.WriteVipAsync(Dns, B("10.1.0.1:53", "node-1"));
        await harness.StartAsync();
        Assert.Equal(LoadBalancerCallKind.Reconcile, (await harness.CallAsync(1)).Kind);

        // One backend's weight: only that VIP.
        await harness.Store.UpdateAsync(VipCatalog.KeyOf(Web), VipCatalog.SetBackend(B("10.1.0.2:80", "node-2", 5)), null, CancellationToken.None);
        var apply = await harness.CallAsync(2);
        Assert.Equal(LoadBalancerCallKind.Apply, apply.Kind);
        Assert.Equal([Web.ToKey()], apply.Delta!.Upserted.Select(e => e.Vip));
        Assert.Empty(apply.Delta.Removed);
        Assert.Equal(5, apply.Delta.Upserted[0].Backends.Single(b => b.Endpoint.Port == 80 && b.Node == "node-2").Weight);

        // The same value written again, a name claim and a service nobody uses: nothing differs, nothing is applied.
        await harness.Store.UpdateAsync(VipCatalog.KeyOf(Web), VipCatalog.SetBackend(B("10.1.0.2:80", "node-2", 5)), null, CancellationToken.None);
        await harness.Store.UpdateAsync(
            ServiceCatalog.KeyOf("other"),
            ServiceCatalog.Register(new ServiceInstance("other", "a", IPAddress.Parse("10.9.0.1"), "node-1", [ServicePort.Parse("80/tcp")])),
            null,
            CancellationToken.None);

        // A removal: only the removed VIP. That it is the third call shows the writes before it applied nothing.
        await harness.RemoveVipAsync(Dns);
        var removal = await harness.CallAsync(3);
        Assert.Equal(LoadBalancerCallKind.Apply, removal.Kind);
        Assert.Empty(removal.Delta!.Upserted);
        Assert.Equal([Dns.ToKey()], removal.Delta.Removed.AsEnumerable());
        Assert.Equal([Web.ToKey()], harness.Backend.Programmed.Vips.Keys);
    }

    [Fact]
    public async Task Member_Unreachable_ItsBackendsLeaveTheTable_AllUnreachableFailsOpen()
    {
        await using var harness = new ControllerHarness();
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-2"), B("10.1.0.2:80", "node-3"));
        await harness.StartAsync();
        await harness.CallAsync(1);

        harness.Members.SetState("node-2", MemberState.Unreachable);
        var apply = await harness.CallAsync(2);
        Assert.Equal([IPEndPoint.Parse("10.1.0.2:80")], apply.Delta!.Upserted.Single().Backends.Select(b => b.Endpoint));

        harness.Members.SetState("node-3", MemberState.Unreachable);
        var open = await harness.CallAsync(3);
        Assert.Equal(2, open.Delta!.Upserted.Single().Backends.Length);
        var (state, _) = harness.Controller.Describe([VipCatalog.Read(harness.Store.Get(VipCatalog.KeyOf(Web))!, out _)!]).Single();
        Assert.All(state.Backends, b => Assert.Equal(Lashup.Plugins.LoadBalancer.Table.BackendRole.FailOpen, b.Role));

        harness.Members.SetState("node-2", MemberState.Alive);
        var back = await harness.CallAsync(4);
        Assert.Equal([IPEndPoint.Parse("10.1.0.1:80")], back.Delta!.Upserted.Single().Backends.Select(b => b.Endpoint));
    }

    [Fact]
    public async Task Service_InstancesRegisteredLater_JoinTheVip()
    {
        await using var harness = new ControllerHarness();
        await harness.Store.UpdateAsync(VipCatalog.KeyOf(Web), [.. VipCatalog.Declare(), .. VipCatalog.SetService(new VipServiceRef("web", 8080))], null, CancellationToken.None);
        await harness.StartAsync();
        Assert.Empty((await harness.CallAsync(1)).Desired!.Vips[Web.ToKey()].Backends);

        await harness.Store.UpdateAsync(
            ServiceCatalog.KeyOf("web"),
            ServiceCatalog.Register(new ServiceInstance("web", "a", IPAddress.Parse("10.3.0.1"), "node-3", [ServicePort.Parse("8080/tcp")])),
            null,
            CancellationToken.None);

        var apply = await harness.CallAsync(2);
        Assert.Equal(new VipBackend(IPEndPoint.Parse("10.3.0.1:8080"), "node-3", 1), apply.Delta!.Upserted.Single().Backends.Single());
    }

    [Fact]
    public async Task ReconcileInterval_ReconcilesAndRepairsDrift()
    {
        await using var harness = new ControllerHarness();
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();
        await harness.CallAsync(1);

        harness.Backend.Drift(_ => LoadBalancerTable.Empty);
        harness.Time.Advance(harness.Options.ReconcileInterval.Value);

        var reconcile = await harness.CallAsync(2);
        Assert.Equal(LoadBalancerCallKind.Reconcile, reconcile.Kind);
        Assert.Equal(1, reconcile.Repairs);
        await ControllerHarness.EventuallyAsync(() => Volatile.Read(ref harness.Controller.Stats.DriftRepaired) == 1, "the repair is counted");
        Assert.Equal([Web.ToKey()], harness.Backend.Programmed.Vips.Keys);
    }

    [Fact]
    public async Task NamedVip_ClaimWritten_ThenServedOnItsAddress_ReleasedAfterItsLastVipGoes()
    {
        await using var harness = new ControllerHarness();
        var named = VipId.ForName("web", 80, TransportProtocol.Tcp);
        await harness.WriteVipAsync(named, B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();

        // The controller claims an address for the name; once the claim is back from the store, the VIP is served on it.
        await ControllerHarness.EventuallyAsync(() => harness.Backend.Programmed.Vips.Count == 1, "the named VIP is served");
        var claim = VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!)!;
        Assert.True(harness.Controller.Range.Contains(claim.Address));
        Assert.Equal(named.ToKey(claim.Address), harness.Backend.Programmed.Vips.Keys.Single());

        // Its last VIP goes: the name is kept for a grace period (a VIP and its claim are two writes), then released.
        await harness.RemoveVipAsync(named);
        await ControllerHarness.EventuallyAsync(() => harness.Backend.Programmed.Vips.IsEmpty, "the VIP is removed");
        Assert.NotNull(VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!));
        harness.Time.Advance(LoadBalancerController.OrphanGrace);
        await ControllerHarness.EventuallyAsync(() => VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!) is null, "the name is released");
    }

    [Fact]
    public async Task LocalAddresses_NonLocalVipAddressAddedToLo_RemovedWithItsLastVip()
    {
        await using var harness = new ControllerHarness(needsLocalAddresses: true);
        var vip = VipId.ForAddress(IPAddress.Parse("192.0.2.10"), 80, TransportProtocol.Tcp);
        await harness.WriteVipAsync(vip, B("10.1.0.1:80", "node-1"));
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();

        await harness.CallAsync(1);
        // Loopback VIPs need nothing; the other goes on lo.
        Assert.Equal([IPAddress.Parse("192.0.2.10")], harness.Addresses.Labelled);
        Assert.Equal(2, harness.Backend.Programmed.Vips.Count);

        await harness.RemoveVipAsync(vip);
        await ControllerHarness.EventuallyAsync(() => harness.Addresses.Labelled.Count == 0, "the address is removed from lo");
    }

    [Fact]
    public async Task LocalAddresses_Unavailable_VipNotServed_WithTheReason()
    {
        await using var harness = new ControllerHarness(needsLocalAddresses: true, unavailable: "adding it to lo needs root");
        var vip = VipId.ForAddress(IPAddress.Parse("192.0.2.10"), 80, TransportProtocol.Tcp);
        var definition = VipCatalog.Read(await harness.WriteVipAsync(vip, B("10.1.0.1:80", "node-1")), out _)!;
        await harness.StartAsync();

        Assert.Empty((await harness.CallAsync(1)).Desired!.Vips);
        var (_, reason) = harness.Controller.Describe([definition]).Single();
        Assert.Equal("192.0.2.10: adding it to lo needs root", reason);
    }

    [Fact]
    public async Task VipOnAMembersAddress_NotProgrammed_WithTheReason_NotPutOnLo()
    {
        await using var harness = new ControllerHarness(needsLocalAddresses: true);
        harness.Members.AddMember("node-4", new IPEndPoint(IPAddress.Parse("192.0.2.20"), 7472));
        var hijack = VipId.ForAddress(IPAddress.Parse("192.0.2.20"), 80, TransportProtocol.Tcp);
        var definition = VipCatalog.Read(await harness.WriteVipAsync(hijack, B("10.1.0.1:80", "node-1")), out _)!;
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();

        var call = await harness.CallAsync(1);
        Assert.Equal([Web.ToKey()], call.Desired!.Vips.Keys);
        Assert.DoesNotContain(IPAddress.Parse("192.0.2.20"), harness.Addresses.Labelled);
        var (state, _) = harness.Controller.Describe([definition]).Single();
        Assert.Null(state.Key);
        Assert.Equal("192.0.2.20 is the address of member node-4; served as a VIP it would take that node's traffic on every node", state.Reason);
    }

    [Fact]
    public async Task LocalAddresses_RemovedBehindItsBack_PutBackByTheReconcile()
    {
        await using var harness = new ControllerHarness(needsLocalAddresses: true);
        var vip = VipId.ForAddress(IPAddress.Parse("192.0.2.10"), 80, TransportProtocol.Tcp);
        await harness.WriteVipAsync(vip, B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();
        await harness.CallAsync(1);

        harness.Addresses.Drop(IPAddress.Parse("192.0.2.10"));
        harness.Time.Advance(harness.Options.ReconcileInterval.Value);

        await ControllerHarness.EventuallyAsync(() => harness.Addresses.Labelled.Count == 1, "the address is back on lo");
        await ControllerHarness.EventuallyAsync(() => Volatile.Read(ref harness.Controller.Stats.DriftRepaired) == 1, "the repair is counted");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Stop_KeepOnStop_LeavesWhatWasProgrammed_OtherwiseClearsIt(bool keepOnStop)
    {
        var harness = new ControllerHarness(needsLocalAddresses: true, keepOnStop: keepOnStop);
        await harness.WriteVipAsync(VipId.ForAddress(IPAddress.Parse("192.0.2.10"), 80, TransportProtocol.Tcp), B("10.1.0.1:80", "node-1"));
        await harness.StartAsync();
        await harness.CallAsync(1);

        await harness.DisposeAsync();

        Assert.Equal(keepOnStop ? 0 : 1, harness.Backend.CallsOf(LoadBalancerCallKind.Clear).Length);
        Assert.Equal(keepOnStop ? 1 : 0, harness.Addresses.Labelled.Count);
    }

    [Fact]
    public async Task Start_UnsupportedBackend_FailsWithItsMessage()
    {
        await using var harness = new ControllerHarness();
        harness.Backend.UnsupportedMessage = "no ip_vs here: modprobe ip_vs";

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => harness.Controller.StartAsync(CancellationToken.None));
        Assert.Equal("no ip_vs here: modprobe ip_vs", e.Message);
    }

    [Fact]
    public async Task MalformedEntries_Skipped_AndCounted()
    {
        await using var harness = new ControllerHarness();
        await harness.WriteVipAsync(Web, B("10.1.0.1:80", "node-1"));
        // A backend field that is no ADDR:PORT and a weight out of range, as another node's bug might write them.
        harness.Store.ApplyRemote("node-9", VipCatalog.KeyOf(Web),
        [
            new LwwSet(["backends", "not-an-endpoint", "node"], "node-9"),
            new LwwSet(["backends", "not-an-endpoint", "weight"], "1"),
            new LwwSet(["backends", "10.1.0.9:80", "node"], "node-9"),
            new LwwSet(["backends", "10.1.0.9:80", "weight"], "5000"),
        ]);
        await harness.StartAsync();

        Assert.Equal([IPEndPoint.Parse("10.1.0.1:80")], (await harness.CallAsync(1)).Desired!.Vips[Web.ToKey()].Backends.Select(b => b.Endpoint));
        Assert.Equal(2, harness.Controller.Stats.Malformed);
    }

    private static VipBackend B(string endpoint, string node, int weight = 1) => new(IPEndPoint.Parse(endpoint), node, weight);

    private static Member Member(string name, MemberState state = MemberState.Alive) =>
        new(name, new IPEndPoint(IPAddress.Loopback, 7470), state, ImmutableDictionary<string, string>.Empty, DateTimeOffset.UnixEpoch);

    /// <summary>Gives the controller's loops time to act on what they were given, to show that they do nothing.</summary>
    private static Task Settle() => Task.Delay(TimeSpan.FromMilliseconds(300));
}
