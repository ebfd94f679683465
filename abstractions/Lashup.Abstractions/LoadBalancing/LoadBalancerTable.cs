using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Networking;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>A virtual service: an address and port clients connect to.</summary>
/// <param name="Address">The virtual IP.</param>
/// <param name="Port">The port.</param>
/// <param name="Protocol">The protocol.</param>
public readonly record struct VipKey(IPAddress Address, ushort Port, TransportProtocol Protocol)
{
    /// <summary>Formats as <c>tcp/11.0.0.1:80</c> (IPv6 in brackets).</summary>
    public override string ToString() =>
        $"{TransportProtocols.Name(Protocol)}/{new IPEndPoint(Address, Port)}";
}

/// <summary>One real server behind a VIP.</summary>
/// <param name="Endpoint">The backend's address and port.</param>
/// <param name="Node">The node that registered it (its reachability steers traffic).</param>
/// <param name="Weight">Relative weight; 0 means draining (no new connections, existing ones finish).</param>
public readonly record struct VipBackend(IPEndPoint Endpoint, string Node, int Weight);

/// <summary>The backends of one VIP as the backend should program them.</summary>
/// <param name="Vip">The VIP.</param>
/// <param name="Backends">Its backends, already filtered for reachability (failing open when none is reachable).</param>
public sealed record VipEntry(VipKey Vip, ImmutableArray<VipBackend> Backends);

/// <summary>The whole desired load-balancer state of this node. Immutable.</summary>
/// <param name="Vips">Every VIP with its backends, keyed by VIP.</param>
public sealed record LoadBalancerTable(ImmutableDictionary<VipKey, VipEntry> Vips)
{
    /// <summary>No VIPs.</summary>
    public static LoadBalancerTable Empty { get; } = new(ImmutableDictionary<VipKey, VipEntry>.Empty);
}
