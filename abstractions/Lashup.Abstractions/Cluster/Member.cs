using System.Collections.Immutable;
using System.Net;

namespace Lashup.Abstractions.Cluster;

/// <summary>What this node believes about a member's liveness.</summary>
public enum MemberState
{
    /// <summary>Reachable through the member graph.</summary>
    Alive = 0,

    /// <summary>No path to it in the member graph; kept listed until it expires.</summary>
    Unreachable = 1,

    /// <summary>It announced a graceful leave.</summary>
    Left = 2,
}

/// <summary>One member of the cluster as seen from this node. Immutable.</summary>
/// <param name="Name">The node's unique name.</param>
/// <param name="Address">The node's gossip endpoint (its underlay address and port).</param>
/// <param name="State">Liveness as seen from here.</param>
/// <param name="Metadata">What the node publishes about itself, e.g. <c>overlay.vtep</c> or <c>dns.name</c>.</param>
/// <param name="Since">When this node last saw <see cref="State"/> change.</param>
public sealed record Member(
    string Name,
    IPEndPoint Address,
    MemberState State,
    ImmutableDictionary<string, string> Metadata,
    DateTimeOffset Since)
{
    /// <summary>Whether a path to the member exists in the member graph.</summary>
    public bool IsReachable => State == MemberState.Alive;
}

/// <summary>A change in the member list.</summary>
/// <param name="Kind">What changed.</param>
/// <param name="Member">The member after the change (for <see cref="MembershipChangeKind.Removed"/>, its last state).</param>
public sealed record MembershipChange(MembershipChangeKind Kind, Member Member);

/// <summary>The kind of a <see cref="MembershipChange"/>.</summary>
public enum MembershipChangeKind
{
    /// <summary>A member appeared.</summary>
    Joined = 0,

    /// <summary>A member's state or metadata changed.</summary>
    Updated = 1,

    /// <summary>A member was expired from the list (it left, or stayed unreachable past the expiry).</summary>
    Removed = 2,
}
