namespace Lashup.Abstractions.Admin;

/// <summary>The answer of <c>GET /v1/overlay</c> (<c>lashup overlay show</c>): this node's place in the overlay.</summary>
/// <param name="Node">This node.</param>
/// <param name="Backend">The overlay backend (<c>vxlan</c>, <c>host-routes</c>, ...).</param>
/// <param name="Network">The overlay range.</param>
/// <param name="Subnet">This node's subnet, or null while it holds none.</param>
/// <param name="VtepAddress">Its VTEP address, or null.</param>
/// <param name="VtepMac">Its VTEP MAC, or null.</param>
/// <param name="Underlay">Its underlay address.</param>
/// <param name="Mtu">The MTU containers should use, or null while there is no subnet.</param>
/// <param name="Programmed">Whether the backend programmed the local part.</param>
/// <param name="Reason">Why there is no subnet or it is not programmed; or a note from the backend.</param>
/// <param name="LastReconcile">When the backend last re-read the kernel and repaired drift (ISO 8601), or null.</param>
public sealed record OverlayResponse(
    string Node,
    string Backend,
    string Network,
    string? Subnet,
    string? VtepAddress,
    string? VtepMac,
    string Underlay,
    int? Mtu,
    bool Programmed,
    string? Reason,
    string? LastReconcile);

/// <summary>The answer of <c>GET /v1/overlay/peers</c> (<c>lashup overlay peers</c>).</summary>
/// <param name="Peers">Every node with a claim in the store, ordered by node.</param>
public sealed record OverlayPeersResponse(IReadOnlyList<OverlayPeerInfo> Peers)
{
    /// <summary>Malformed claims in the store skipped on this node since it started; null when none.</summary>
    public long? Malformed { get; init; }
}

/// <summary>One node's claim as this node sees it.</summary>
/// <param name="Node">The node.</param>
/// <param name="Subnet">The subnet it claims.</param>
/// <param name="Underlay">Its underlay address.</param>
/// <param name="VtepMac">Its VTEP MAC, when written.</param>
/// <param name="State">
/// <c>local</c> (this node), <c>programmed</c>, <c>unreachable</c> (kept for <c>peer_grace</c>, then left out),
/// <c>lost-claim</c> (another node claimed the subnet earlier), <c>refused</c> (the backend cannot program it).
/// </param>
/// <param name="Reason">Why, for every state but <c>local</c> and <c>programmed</c>.</param>
public sealed record OverlayPeerInfo(string Node, string Subnet, string Underlay, string? VtepMac, string State, string? Reason);

/// <summary>The answer of <c>DELETE /v1/overlay/nodes/{node}</c> (<c>lashup overlay release NODE</c>).</summary>
/// <param name="Node">The node whose claim was released.</param>
/// <param name="Subnet">The subnet it held, or null when it held none.</param>
public sealed record OverlayReleasedResponse(string Node, string? Subnet);
