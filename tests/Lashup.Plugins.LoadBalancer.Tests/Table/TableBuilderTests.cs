using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Plugins.LoadBalancer.Table;

namespace Lashup.Plugins.LoadBalancer.Tests.Table;

public sealed class TableBuilderTests
{
    private static readonly VipId Web = VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly Dictionary<string, IPAddress> NoNames = [];
    private static readonly Dictionary<string, string> NoReasons = [];
    private static readonly Dictionary<string, ImmutableArray<ServiceInstance>> NoServices = [];

    [Fact]
    public void Build_BackendOnUnreachableNode_Excluded_OthersActive()
    {
        var state = BuildOne(Vip(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2")), ["node-1"]);

        Assert.Equal([BackendRole.Active, BackendRole.Excluded], state.Backends.Select(b => b.Role));
        Assert.Equal("node node-2 is not reachable from here", state.Backends[1].Note);
        Assert.Equal([IPEndPoint.Parse("10.1.0.1:80")], Table(Web, ["node-1"]).Backends.Select(b => b.Endpoint));
    }

    [Fact]
    public void Build_BackendOfUnknownNode_IsUnreachable()
    {
        var state = BuildOne(Vip(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "ghost")), ["node-1"]);

        Assert.Equal(BackendRole.Excluded, state.Backends.Single(b => b.Backend.Node == "ghost").Role);
    }

    [Fact]
    public void Build_NoBackendReachable_FailsOpen_KeepsThemAll()
    {
        var definition = Vip(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2"));
        var state = BuildOne(definition, []);

        Assert.All(state.Backends, b => Assert.Equal(BackendRole.FailOpen, b.Role));
        Assert.Contains("failing open", state.Backends[0].Note, StringComparison.Ordinal);
        Assert.Equal(2, Table(Web, [], definition).Backends.Length);
    }

    [Fact]
    public void Build_WeightZero_Drains_StaysInTheTableAtWeightZero()
    {
        var state = BuildOne(Vip(Web, B("10.1.0.1:80", "node-1", 0), B("10.1.0.2:80", "node-1")), ["node-1"]);

        Assert.Equal([BackendRole.Draining, BackendRole.Active], state.Backends.Select(b => b.Role));
        var entry = Table(Web, ["node-1"], Vip(Web, B("10.1.0.1:80", "node-1", 0), B("10.1.0.2:80", "node-1")));
        Assert.Equal([0, 1], entry.Backends.OrderBy(b => b.Endpoint.ToString()).Select(b => b.Weight));
    }

    [Fact]
    public void Build_OnlyReachableBackendDrains_UnreachableOnesFailOpen()
    {
        // Nothing reachable takes new connections: better a backend that may be up than none.
        var state = BuildOne(Vip(Web, B("10.1.0.1:80", "node-1", 0), B("10.1.0.2:80", "node-2")), ["node-1"]);

        Assert.Equal([BackendRole.Draining, BackendRole.FailOpen], state.Backends.Select(b => b.Role));
    }

    [Fact]
    public void Build_DrainingBackendOnUnreachableNode_Excluded()
    {
        var state = BuildOne(Vip(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2", 0)), ["node-1"]);

        Assert.Equal([BackendRole.Active, BackendRole.Excluded], state.Backends.Select(b => b.Role));
    }

    [Fact]
    public void Build_Service_InstancesServingThePortJoinAtWeightOne_OnTheirNodes()
    {
        var definition = new VipDefinition(Web, [B("10.2.0.1:80", "node-1", 5)], new VipServiceRef("web", 80));
        var services = new Dictionary<string, ImmutableArray<ServiceInstance>>
        {
            ["web"] =
            [
                Instance("a", "10.2.0.1", "node-2", "80/tcp"),   // the written backend wins
                Instance("b", "10.2.0.2", "node-2", "80/tcp"),
                Instance("c", "10.2.0.3", "node-3", "8080/tcp"), // another port
                Instance("d", "10.2.0.4", "node-3", "80/udp"),   // another protocol
                Instance("e", "10.2.0.5", "node-4", "http:80/tcp"),
            ],
        };

        var state = TableBuilder.BuildOne(definition, NoNames, NoReasons, services, _ => true);

        Assert.Equal(
            ["10.2.0.1:80 node-1 5 backend", "10.2.0.2:80 node-2 1 service:web", "10.2.0.5:80 node-4 1 service:web"],
            state.Backends.Select(b => $"{b.Backend.Endpoint} {b.Backend.Node} {b.Backend.Weight} {b.Source}"));
    }

    [Fact]
    public void Build_ServiceInstancesOnUnreachableNodes_ExcludedLikeOthers()
    {
        var definition = new VipDefinition(Web, [], new VipServiceRef("web", 80));
        var services = new Dictionary<string, ImmutableArray<ServiceInstance>>
        {
            ["web"] = [Instance("a", "10.2.0.1", "node-1", "80/tcp"), Instance("b", "10.2.0.2", "node-2", "80/tcp")],
        };

        var state = TableBuilder.BuildOne(definition, NoNames, NoReasons, services, n => n == "node-1");

        Assert.Equal([BackendRole.Active, BackendRole.Excluded], state.Backends.Select(b => b.Role));
    }

    [Fact]
    public void Build_BackendThatIsTheVipItself_LeftOut()
    {
        var state = BuildOne(Vip(Web, B("10.0.0.1:80", "node-1"), B("10.0.0.1:81", "node-1")), ["node-1"]);

        Assert.Equal([IPEndPoint.Parse("10.0.0.1:81")], state.Backends.Select(b => b.Backend.Endpoint));
    }

    [Fact]
    public void Build_NamedVip_KeyedByItsAddress_OrNotServedWithWhy()
    {
        var named = VipId.ForName("web", 80, TransportProtocol.Tcp);
        var definition = Vip(named, B("10.1.0.1:80", "node-1"));

        var pending = TableBuilder.Build([definition], NoNames, NoReasons, NoServices, _ => true);
        Assert.Empty(pending.Table.Vips);
        Assert.Equal("name web has no address yet", pending.Vips[named.ToString()].Reason);

        var resolved = TableBuilder.Build([definition], new Dictionary<string, IPAddress> { ["web"] = IPAddress.Parse("10.200.0.7") }, NoReasons, NoServices, _ => true);
        Assert.Equal(new VipKey(IPAddress.Parse("10.200.0.7"), 80, TransportProtocol.Tcp), Assert.Single(resolved.Table.Vips).Key);
    }

    [Fact]
    public void Build_TwoVipsOnOneKey_FirstServed_OtherReported()
    {
        var named = VipId.ForName("web", 80, TransportProtocol.Tcp);
        var address = VipId.ForAddress(IPAddress.Parse("10.200.0.7"), 80, TransportProtocol.Tcp);
        var names = new Dictionary<string, IPAddress> { ["web"] = IPAddress.Parse("10.200.0.7") };

        var desired = TableBuilder.Build([Vip(named, B("10.1.0.1:80", "node-1")), Vip(address, B("10.1.0.2:80", "node-1"))], names, NoReasons, NoServices, _ => true);

        Assert.Single(desired.Table.Vips);
        Assert.Equal("tcp/10.200.0.7:80 is already served for 10.200.0.7:80/tcp", desired.Vips[named.ToString()].Reason);
    }

    [Fact]
    public void Build_SameInputsInAnyOrder_SameTable()
    {
        var one = Vip(Web, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2"));
        var two = Vip(VipId.ForAddress(IPAddress.Parse("10.0.0.2"), 53, TransportProtocol.Udp), B("10.1.0.3:53", "node-3"));

        var forward = TableBuilder.Build([one, two], NoNames, NoReasons, NoServices, n => n != "node-2");
        var backward = TableBuilder.Build([two, one], NoNames, NoReasons, NoServices, n => n != "node-2");

        Assert.True(LoadBalancerDelta.Between(forward.Table, backward.Table).IsEmpty);
    }

    private static VipState BuildOne(VipDefinition definition, string[] reachable) =>
        TableBuilder.BuildOne(definition, NoNames, NoReasons, NoServices, reachable.Contains);

    private static VipEntry Table(VipId vip, string[] reachable, VipDefinition? definition = null) =>
        TableBuilder.Build([definition ?? Vip(vip, B("10.1.0.1:80", "node-1"), B("10.1.0.2:80", "node-2"))], NoNames, NoReasons, NoServices, reachable.Contains)
            .Table.Vips[vip.ToKey()];

    private static VipDefinition Vip(VipId id, params VipBackend[] backends) => new(id, [.. backends], null);

    private static VipBackend B(string endpoint, string node, int weight = 1) => new(IPEndPoint.Parse(endpoint), node, weight);

    private static ServiceInstance Instance(string name, string address, string node, params string[] ports) =>
        new("web", name, IPAddress.Parse(address), node, [.. ports.Select(ServicePort.Parse)]);
}
