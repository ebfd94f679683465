using System.Collections.Immutable;
using System.Net;
using Lashup.Netlink.Route;

namespace Lashup.Plugins.Overlay.HostRoutes.Tests;

/// <summary>The changes and the rtnetlink batch the backend sends for a table or a delta, without a kernel.</summary>
public sealed class RoutePlanTests
{
    private static RtnlRoute Route(string subnet, string via, int dev = 3, uint? metric = null) =>
        RoutePlan.For(IPNetwork.Parse(subnet), IPAddress.Parse(via), dev) with { Metric = metric };

    private static Dictionary<string, RtnlRoute> Want(params (string Node, RtnlRoute Route)[] routes) =>
        routes.ToDictionary(r => r.Node, r => r.Route, StringComparer.Ordinal);

    private static string[] Operations(IEnumerable<RouteChange> changes) => [.. RoutePlan.Batch(changes).Operations];

    [Fact]
    public void Diff_NothingThere_AddsEveryPeerInNodeOrder()
    {
        var changes = RoutePlan.Diff([], Want(("node-3", Route("10.240.3.0/24", "192.168.77.3")), ("node-2", Route("10.240.2.0/24", "192.168.77.2"))));

        Assert.Equal(
            [
                "RTM_NEWROUTE 10.240.2.0/24 via 192.168.77.2 dev #3 proto 76 table 254",
                "RTM_NEWROUTE 10.240.3.0/24 via 192.168.77.3 dev #3 proto 76 table 254",
            ],
            Operations(changes));
        Assert.Equal(["node-2", "node-3"], changes.Select(c => c.Node));
        Assert.All(changes, c => Assert.Equal(RouteChangeKind.Add, c.Kind));
    }

    [Fact]
    public void Diff_AllThereAsWanted_NoChange()
    {
        var two = Route("10.240.2.0/24", "192.168.77.2");
        var three = Route("10.240.3.0/24", "192.168.77.3");

        Assert.Empty(RoutePlan.Diff([three, two], Want(("node-2", two), ("node-3", three))));
    }

    [Fact]
    public void Diff_NextHopOrLinkChanged_ReplacedInPlace()
    {
        var changes = RoutePlan.Diff(
            [Route("10.240.2.0/24", "192.168.77.2"), Route("10.240.3.0/24", "192.168.77.3", dev: 3)],
            Want(("node-2", Route("10.240.2.0/24", "192.168.77.9")), ("node-3", Route("10.240.3.0/24", "192.168.77.3", dev: 4))));

        Assert.Equal(
            [
                "RTM_NEWROUTE (replace) 10.240.2.0/24 via 192.168.77.9 dev #3 proto 76 table 254",
                "RTM_NEWROUTE (replace) 10.240.3.0/24 via 192.168.77.3 dev #4 proto 76 table 254",
            ],
            Operations(changes));
    }

    [Fact]
    public void Diff_StaleAndMissing_StaleDeletedFirstThenMissingAdded()
    {
        var changes = RoutePlan.Diff(
            [Route("10.240.9.0/24", "192.168.77.9"), Route("10.240.2.0/24", "192.168.77.2")],
            Want(("node-2", Route("10.240.2.0/24", "192.168.77.2")), ("node-3", Route("10.240.3.0/24", "192.168.77.3"))));

        Assert.Equal(
            [
                "RTM_DELROUTE 10.240.9.0/24 via 192.168.77.9 dev #3 proto 76 table 254",
                "RTM_NEWROUTE 10.240.3.0/24 via 192.168.77.3 dev #3 proto 76 table 254",
            ],
            Operations(changes));
        Assert.Null(changes[0].Node);
        Assert.Equal(2, RoutePlan.Batch(changes).Count);
    }

    [Fact]
    public void Diff_SubnetMovedToAnotherPeer_OldOwnersRouteReplacedNewSubnetAdded()
    {
        // node-2 lost 10.240.2.0/24 to node-4 and claimed 10.240.5.0/24: the delta upserts both.
        var changes = RoutePlan.Diff(
            [Route("10.240.2.0/24", "192.168.77.2")],
            Want(("node-2", Route("10.240.5.0/24", "192.168.77.2")), ("node-4", Route("10.240.2.0/24", "192.168.77.4"))));

        Assert.Equal(
            [
                "RTM_NEWROUTE 10.240.5.0/24 via 192.168.77.2 dev #3 proto 76 table 254",
                "RTM_NEWROUTE (replace) 10.240.2.0/24 via 192.168.77.4 dev #3 proto 76 table 254",
            ],
            Operations(changes));
    }

    [Fact]
    public void Diff_OursWithAnotherMetric_DeletedAndOursAdded()
    {
        var changes = RoutePlan.Diff([Route("10.240.2.0/24", "192.168.77.2", metric: 100)], Want(("node-2", Route("10.240.2.0/24", "192.168.77.2"))));

        Assert.Equal([RouteChangeKind.Delete, RouteChangeKind.Add], changes.Select(c => c.Kind));
    }

    [Fact]
    public void Diff_NothingWanted_EveryRouteOfOursDeleted()
    {
        var changes = RoutePlan.Diff([Route("10.240.3.0/24", "192.168.77.3"), Route("10.240.2.0/24", "192.168.77.2")], ImmutableDictionary<string, RtnlRoute>.Empty);

        Assert.Equal(
            [
                "RTM_DELROUTE 10.240.2.0/24 via 192.168.77.2 dev #3 proto 76 table 254",
                "RTM_DELROUTE 10.240.3.0/24 via 192.168.77.3 dev #3 proto 76 table 254",
            ],
            Operations(changes));
    }

    [Fact]
    public void For_PeerRoute_MainTableOurProtocolGatewayNotOnlink()
    {
        var route = RoutePlan.For(IPNetwork.Parse("10.240.7.0/24"), IPAddress.Parse("192.168.77.7"), 12);

        Assert.Equal(new RtnlRoute(IPAddress.Parse("10.240.7.0"), 24, IPAddress.Parse("192.168.77.7"), 12, false, 0x4c, 254, null), route);
    }
}
