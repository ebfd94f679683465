using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// A grow-only counter: each replica counts its own increments; the value is the sum; the join is the pointwise
/// maximum. An increment that would take the replica's count or the sum seen here past <see cref="ulong.MaxValue"/> is
/// refused; concurrent increments on several replicas can still add up past it, and then <see cref="Value"/> stays at
/// <see cref="ulong.MaxValue"/> (it saturates, never wraps).
/// </summary>
public sealed class GCounter : CrdtValue, IGCounterValue, IReplicatedData<GCounter>, IEquatable<GCounter>
{
    private GCounter(ImmutableSortedDictionary<string, ulong> counts) => Counts = counts;

    /// <summary>Creates a counter from raw per-replica counts (e.g. when deserializing); zero counts are dropped.</summary>
    /// <exception cref="ArgumentException">A replica name is null or empty, or appears twice.</exception>
    public GCounter(IEnumerable<KeyValuePair<string, ulong>> counts)
        : this(Crdt.Counts.Create(counts, nameof(counts)))
    {
    }

    /// <summary>The zero counter.</summary>
    public static GCounter Empty { get; } = new(Crdt.Counts.Empty);

    /// <summary>Each replica's total of increments (non-zero only), ordered by name (ordinal).</summary>
    public ImmutableSortedDictionary<string, ulong> Counts { get; }

    /// <summary>The sum of all replicas' counts, or <see cref="ulong.MaxValue"/> if it is larger (it saturates).</summary>
    public ulong Value => Saturate(Sum);

    /// <summary>The exact sum of all replicas' counts.</summary>
    internal UInt128 Sum
    {
        get
        {
            UInt128 sum = 0;
            foreach (var (_, count) in Counts)
            {
                sum += count;
            }

            return sum;
        }
    }

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.GCounter;

    /// <inheritdoc/>
    public override bool IsBottom => Counts.IsEmpty;

    /// <summary>Adds <paramref name="amount"/> to <paramref name="replica"/>'s count.</summary>
    /// <returns>The new counter and the delta (the replica's new count alone).</returns>
    /// <exception cref="OverflowException">The replica's count, or the sum, would pass <see cref="ulong.MaxValue"/>.</exception>
    public (GCounter Value, GCounter Delta) Increment(string replica, ulong amount)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        if (amount == 0)
        {
            return (this, Empty);
        }

        var mine = Counts.GetValueOrDefault(replica);
        if (amount > ulong.MaxValue - mine || Sum + amount > ulong.MaxValue)
        {
            throw new OverflowException($"the counts would leave their range 0..{ulong.MaxValue} (they sum to {Value}, adding {amount})");
        }

        var count = mine + amount;

        return (new GCounter(Counts.SetItem(replica, count)), new GCounter(Crdt.Counts.Empty.Add(replica, count)));
    }

    /// <summary>Whether <paramref name="replica"/> has a count here.</summary>
    public bool Mentions(string replica) => Counts.ContainsKey(replica);

    /// <summary>
    /// Pruning's collapse: <paramref name="removed"/>'s count moves into <paramref name="into"/>'s, so the value stays
    /// (held at <see cref="ulong.MaxValue"/> if their sum passes it, as <see cref="Value"/> is).
    /// Only the one replica chosen to collapse a removed one may do this (see <see cref="CrdtMap.Collapse"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, or both are the same.</exception>
    public GCounter Collapse(string removed, string into)
    {
        Pruning.CheckArguments(removed, into);
        if (!Counts.TryGetValue(removed, out var count))
        {
            return this;
        }

        // Saturating, like Value: concurrent increments can take the sum past ulong.MaxValue, and a wrapped count (0 at
        // worst, which no encoding holds) would turn the largest value into the smallest.
        var mine = Counts.GetValueOrDefault(into);
        return new GCounter(Counts.Remove(removed).SetItem(into, count > ulong.MaxValue - mine ? ulong.MaxValue : mine + count));
    }

    /// <summary>Pruning's cleanup: this counter without <paramref name="removed"/>'s count (see <see cref="CrdtMap.Cleanup"/>).</summary>
    public GCounter Cleanup(string removed)
    {
        Pruning.CheckArguments(removed);
        return Counts.ContainsKey(removed) ? new GCounter(Counts.Remove(removed)) : this;
    }

    /// <summary>The pointwise maximum of both counters.</summary>
    public GCounter Merge(GCounter other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var merged = Crdt.Counts.Max(Counts, other.Counts);
        return ReferenceEquals(merged, Counts) ? this : ReferenceEquals(merged, other.Counts) ? other : new GCounter(merged);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => SizeEstimate.Counts(Counts);

    /// <inheritdoc/>
    public bool Equals(GCounter? other) => other is not null && Crdt.Counts.Equal(Counts, other.Counts);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as GCounter);

    /// <inheritdoc/>
    public override int GetHashCode() => Crdt.Counts.Hash(Counts);

    /// <summary>The largest <see cref="ulong"/> not above <paramref name="sum"/>.</summary>
    internal static ulong Saturate(UInt128 sum) => sum > ulong.MaxValue ? ulong.MaxValue : (ulong)sum;

}
