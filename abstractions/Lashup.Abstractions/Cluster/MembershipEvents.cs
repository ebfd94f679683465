namespace Lashup.Abstractions.Cluster;

/// <summary>Keeping a member list up to date from <see cref="IClusterMembership.WatchAsync"/>.</summary>
public static class MembershipEvents
{
    /// <summary>
    /// Applies <paramref name="membershipEvent"/> to <paramref name="members"/> (keyed by name): a snapshot replaces
    /// the whole list, a change adds, updates or removes one member.
    /// </summary>
    /// <param name="membershipEvent">The event.</param>
    /// <param name="members">The list to update.</param>
    /// <returns>Whether the event was a snapshot (the list is then whole).</returns>
    public static bool ApplyTo(this MembershipEvent membershipEvent, IDictionary<string, Member> members)
    {
        ArgumentNullException.ThrowIfNull(membershipEvent);
        ArgumentNullException.ThrowIfNull(members);
        if (membershipEvent.Change is { } change)
        {
            if (change.Kind == MembershipChangeKind.Removed)
            {
                members.Remove(change.Member.Name);
            }
            else
            {
                members[change.Member.Name] = change.Member;
            }

            return false;
        }

        members.Clear();
        foreach (var member in membershipEvent.Snapshot)
        {
            members[member.Name] = member;
        }

        return true;
    }
}
