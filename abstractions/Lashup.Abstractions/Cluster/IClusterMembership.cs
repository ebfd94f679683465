using System.Collections.Immutable;

namespace Lashup.Abstractions.Cluster;

/// <summary>
/// The cluster's member list with reachability, as this node sees it. Provided by the <c>core</c> capability;
/// load balancers use it to steer away from unreachable nodes, the overlay to find peers, DNS to name nodes.
/// </summary>
public interface IClusterMembership
{
    /// <summary>This node's own name.</summary>
    string LocalName { get; }

    /// <summary>An immutable snapshot of every known member, this node included.</summary>
    ImmutableArray<Member> Members { get; }

    /// <summary>
    /// The member list now, then every change, in order. A consumer that falls behind is not allowed to hold gossip
    /// back: past a bounded backlog it receives a fresh snapshot (a <see cref="MembershipEvent"/> with
    /// <see cref="MembershipEvent.Snapshot"/> set) instead of the changes it missed.
    /// </summary>
    IAsyncEnumerable<MembershipEvent> WatchAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Sets a metadata entry this node publishes about itself (e.g. the overlay VTEP); replicated to every member.
    /// A null value removes the entry.
    /// </summary>
    ValueTask SetLocalMetadataAsync(string key, string? value, CancellationToken cancellationToken = default);
}

/// <summary>An event of <see cref="IClusterMembership.WatchAsync"/>: either a full snapshot or one change.</summary>
/// <param name="Snapshot">The whole member list, on the first event and after a consumer fell behind; otherwise default.</param>
/// <param name="Change">The change, when this is not a snapshot.</param>
public sealed record MembershipEvent(ImmutableArray<Member> Snapshot, MembershipChange? Change)
{
    /// <summary>Whether this event is a snapshot.</summary>
    public bool IsSnapshot => Change is null;
}
