using System.Collections.Immutable;

namespace Lashup.Abstractions.Data;

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
/// An immutable version vector: for each replica (node name), how many of its events have been seen (a replica that
/// is absent counts 0). The join (<see cref="Merge"/>) is the pointwise maximum. The store versions each key with one
/// (see <see cref="KvEntry.Version"/>); <see cref="CausalContext"/> builds on it.
/// </summary>
public sealed class VersionVector : IReplicatedData<VersionVector>, IEquatable<VersionVector>
{
    private VersionVector(ImmutableSortedDictionary<string, ulong> entries) => Entries = entries;

    /// <summary>Creates a vector from raw entries (e.g. when deserializing). Zero counters are dropped.</summary>
    /// <exception cref="ArgumentException">A replica name is null or empty, or appears twice.</exception>
    public VersionVector(IEnumerable<KeyValuePair<string, ulong>> entries)
        : this(Counts.Create(entries, nameof(entries)))
    {
    }

    /// <summary>The vector that has seen nothing.</summary>
    public static VersionVector Empty { get; } = new(Counts.Empty);

    /// <summary>Every replica with a non-zero counter, ordered by name (ordinal).</summary>
    public ImmutableSortedDictionary<string, ulong> Entries { get; }

    /// <summary>Whether no replica has a non-zero counter.</summary>
    public bool IsEmpty => Entries.IsEmpty;

    /// <summary>The counter of <paramref name="replica"/>; 0 when absent.</summary>
    public ulong this[string replica] => Entries.GetValueOrDefault(replica);

    /// <summary>This vector with <paramref name="replica"/>'s counter one higher.</summary>
    /// <exception cref="OverflowException">The counter is at <see cref="ulong.MaxValue"/>.</exception>
    public VersionVector Increment(string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        return new(Entries.SetItem(replica, checked(this[replica] + 1)));
    }

    /// <summary>
    /// This vector without <paramref name="replica"/>'s entry: the cleanup of a replica removed from the cluster (the
    /// store drops it from every key's version once the removed replica's updates were collapsed into another's; see
    /// the core plugin's README, "Pruning").
    /// </summary>
    public VersionVector Without(string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        return Entries.ContainsKey(replica) ? new(Entries.Remove(replica)) : this;
    }

    /// <summary>Whether the event <paramref name="dot"/> is covered: its counter is at most the replica's counter.</summary>
    public bool Contains(Dot dot) => dot.Counter <= this[dot.Replica];

    /// <summary>The pointwise maximum of both vectors.</summary>
    public VersionVector Merge(VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var merged = Counts.Max(Entries, other.Entries);
        return ReferenceEquals(merged, Entries) ? this : ReferenceEquals(merged, other.Entries) ? other : new(merged);
    }

    /// <summary>How this vector relates to <paramref name="other"/>: <see cref="CausalOrder.Before"/> means this one
    /// has seen strictly less.</summary>
    public CausalOrder Compare(VersionVector other)
    {
        ArgumentNullException.ThrowIfNull(other);
        bool less = false, greater = false;
        foreach (var (replica, counter) in Entries)
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
            if (!Entries.ContainsKey(replica))
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
    public int EstimateSize() => SizeEstimate.Counts(Entries);

    /// <inheritdoc/>
    public bool Equals(VersionVector? other) => other is not null && Counts.Equal(Entries, other.Entries);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as VersionVector);

    /// <inheritdoc/>
    public override int GetHashCode() => Counts.Hash(Entries);

    /// <summary>Formats as <c>[a:3, b:1]</c>.</summary>
    public override string ToString() => Counts.Format(Entries);
}
