using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>How two <see cref="VersionVector"/>s relate in causal (happened-before) order.</summary>
public enum CausalOrder
{
    /// <summary>Both have seen exactly the same events.</summary>
    Equal = 0,

    /// <summary>The first has seen a strict subset of the second's events: it happened before.</summary>
    Before = 1,

    /// <summary>The first has seen a strict superset of the second's events: it happened after.</summary>
    After = 2,

    /// <summary>Each has seen events the other has not: they are concurrent.</summary>
    Concurrent = 3,
}

/// <summary>
/// The algebra of <see cref="VersionVector"/> (an immutable value of the contract): the join (<see cref="Merge"/>, the
/// pointwise maximum), increments, causal comparison, and the cleanup of a removed replica. <see cref="CausalContext"/>
/// builds on it; the store versions each key with one.
/// </summary>
public static class VersionVectors
{
    /// <summary>The vector with <paramref name="replica"/>'s counter one higher.</summary>
    /// <exception cref="OverflowException">The counter is at <see cref="ulong.MaxValue"/>.</exception>
    public static VersionVector Increment(this VersionVector vector, string replica)
    {
        ArgumentNullException.ThrowIfNull(vector);
        ArgumentException.ThrowIfNullOrEmpty(replica);
        return new(vector.Entries.SetItem(replica, checked(vector[replica] + 1)));
    }

    /// <summary>
    /// The vector without <paramref name="replica"/>'s entry: the cleanup of a replica removed from the cluster (the
    /// store drops it from every key's version once the removed replica's updates were collapsed into another's; see
    /// the core plugin's README, "Pruning").
    /// </summary>
    public static VersionVector Without(this VersionVector vector, string replica)
    {
        ArgumentNullException.ThrowIfNull(vector);
        ArgumentException.ThrowIfNullOrEmpty(replica);
        return vector.Entries.ContainsKey(replica) ? new(vector.Entries.Remove(replica)) : vector;
    }

    /// <summary>Whether the event <paramref name="dot"/> is covered: its counter is at most the replica's counter.</summary>
    public static bool Contains(this VersionVector vector, Dot dot)
    {
        ArgumentNullException.ThrowIfNull(vector);
        return dot.Counter <= vector[dot.Replica];
    }

    /// <summary>The pointwise maximum of both vectors (the join: commutative, associative, idempotent).</summary>
    public static VersionVector Merge(this VersionVector vector, VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(vector);
        ArgumentNullException.ThrowIfNull(other);
        var merged = Counts.Max(vector.Entries, other.Entries);
        return ReferenceEquals(merged, vector.Entries) ? vector : ReferenceEquals(merged, other.Entries) ? other : new(merged);
    }

    /// <summary>How <paramref name="vector"/> relates to <paramref name="other"/>: <see cref="CausalOrder.Before"/>
    /// means it has seen strictly less.</summary>
    public static CausalOrder Compare(this VersionVector vector, VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(vector);
        ArgumentNullException.ThrowIfNull(other);
        bool less = false, greater = false;
        foreach (var (replica, counter) in vector.Entries)
        {
            var theirs = other[replica];
            if (counter > theirs)
            {
                greater = true;
            }
            else if (counter < theirs)
            {
                less = true;
            }
        }

        foreach (var (replica, _) in other.Entries)
        {
            if (!vector.Entries.ContainsKey(replica))
            {
                less = true;
            }
        }

        return (less, greater) switch
        {
            (false, false) => CausalOrder.Equal,
            (true, false) => CausalOrder.Before,
            (false, true) => CausalOrder.After,
            _ => CausalOrder.Concurrent,
        };
    }

    /// <summary>An approximate encoded size in bytes.</summary>
    public static int EstimateSize(this VersionVector vector)
    {
        ArgumentNullException.ThrowIfNull(vector);
        return SizeEstimate.Counts(vector.Entries);
    }
}
