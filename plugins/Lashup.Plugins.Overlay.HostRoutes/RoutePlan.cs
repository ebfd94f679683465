using System.Net;
using Lashup.Netlink.Route;

namespace Lashup.Plugins.Overlay.HostRoutes;

/// <summary>What a change does to one route of ours.</summary>
internal enum RouteChangeKind
{
    /// <summary>A route that is not there: RTM_NEWROUTE with NLM_F_EXCL, so that a foreign route to the same subnet is never overwritten.</summary>
    Add,

    /// <summary>Our route to the subnet, with another next hop or output link: RTM_NEWROUTE with NLM_F_REPLACE.</summary>
    Replace,

    /// <summary>Our route that no peer wants: RTM_DELROUTE of our protocol.</summary>
    Delete,
}

/// <summary>One change to the kernel.</summary>
/// <param name="Kind">What it does.</param>
/// <param name="Node">The peer it is for; null for a stale route no peer owns.</param>
/// <param name="Route">The route to add, the replacement, or the route to delete.</param>
internal sealed record RouteChange(RouteChangeKind Kind, string? Node, RtnlRoute Route);

/// <summary>
/// The pure part of the backend: the changes that turn the routes of ours that are there into the routes wanted.
/// Deletions first (a subnet that moved from one peer to another is freed before it is taken), then replacements and
/// additions in node order. A route that is already exactly as wanted costs nothing.
/// </summary>
internal static class RoutePlan
{
    /// <summary>The route for a peer: its subnet via its underlay address, out of the link the kernel reaches it on.</summary>
    public static RtnlRoute For(IPNetwork subnet, IPAddress underlay, int outputInterface) =>
        new(subnet.BaseAddress, subnet.PrefixLength, underlay, outputInterface, OnLink: false, HostRoutesBackend.Protocol);

    /// <summary>The changes from <paramref name="current"/> (our routes there) to <paramref name="desired"/> (node → route).</summary>
    /// <param name="current">Routes of our protocol in the main table, as a dump or our own record says.</param>
    /// <param name="desired">The route each programmable peer should have.</param>
    public static List<RouteChange> Diff(IEnumerable<RtnlRoute> current, IReadOnlyDictionary<string, RtnlRoute> desired)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(desired);
        var byKey = current.GroupBy(Key).ToDictionary(g => g.Key, g => g.ToList());
        var wantedKeys = desired.Values.Select(Key).ToHashSet();
        var deletes = new List<RouteChange>();
        var upserts = new List<RouteChange>();
        foreach (var (key, routes) in byKey.OrderBy(p => p.Key.Address, AddressComparer.Instance).ThenBy(p => p.Key.Prefix))
        {
            if (!wantedKeys.Contains(key))
            {
                deletes.AddRange(routes.Select(r => new RouteChange(RouteChangeKind.Delete, null, r)));
            }
        }

        foreach (var (node, route) in desired.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var there = byKey.GetValueOrDefault(Key(route)) ?? [];
            if (there.Contains(route))
            {
                // Exactly ours already; anything else of ours to the subnet (another metric) goes.
                deletes.AddRange(there.Where(r => !r.Equals(route)).Select(r => new RouteChange(RouteChangeKind.Delete, node, r)));
                continue;
            }

            // The kernel replaces by (destination, metric): ours with the same metric is replaced, ours with others go.
            var sameMetric = there.FirstOrDefault(r => r.Metric == route.Metric);
            deletes.AddRange(there.Where(r => !ReferenceEquals(r, sameMetric)).Select(r => new RouteChange(RouteChangeKind.Delete, node, r)));
            upserts.Add(new RouteChange(sameMetric is null ? RouteChangeKind.Add : RouteChangeKind.Replace, node, route));
        }

        return [.. deletes, .. upserts];
    }

    /// <summary>The batch that carries <paramref name="changes"/>, one message each, in order.</summary>
    public static RtnlBatch Batch(IEnumerable<RouteChange> changes)
    {
        var batch = new RtnlBatch();
        foreach (var change in changes)
        {
            _ = change.Kind switch
            {
                RouteChangeKind.Add => batch.AddRoute(change.Route),
                RouteChangeKind.Replace => batch.ReplaceRoute(change.Route),
                _ => batch.DeleteRoute(change.Route),
            };
        }

        return batch;
    }

    private static (IPAddress Address, int Prefix) Key(RtnlRoute route) => (route.Destination, route.PrefixLength);

    private sealed class AddressComparer : IComparer<IPAddress>
    {
        public static readonly AddressComparer Instance = new();

        public int Compare(IPAddress? x, IPAddress? y) =>
            x is null || y is null ? Comparer<object?>.Default.Compare(x, y) : x.GetAddressBytes().AsSpan().SequenceCompareTo(y.GetAddressBytes());
    }
}
