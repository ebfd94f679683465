using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// A counter that goes up and down: two <see cref="GCounter"/>s, one of increments and one of decrements; the value
/// is their difference. An add that would take the value seen here outside the range of <see cref="long"/> is refused;
/// concurrent adds on several replicas can still add up past it, and then <see cref="Value"/> stays at
/// <see cref="long.MaxValue"/> or <see cref="long.MinValue"/> (it saturates, never wraps).
/// </summary>
public sealed class PnCounter : CrdtValue, IPnCounterValue, IReplicatedData<PnCounter>, IEquatable<PnCounter>
{
    /// <summary>Creates a counter from its two halves (e.g. when deserializing).</summary>
    public PnCounter(GCounter increments, GCounter decrements)
    {
        ArgumentNullException.ThrowIfNull(increments);
        ArgumentNullException.ThrowIfNull(decrements);
        Increments = increments;
        Decrements = decrements;
    }

    /// <summary>The zero counter.</summary>
    public static PnCounter Empty { get; } = new(GCounter.Empty, GCounter.Empty);

    /// <summary>What each replica added.</summary>
    public GCounter Increments { get; }

    /// <summary>What each replica subtracted (as positive counts).</summary>
    public GCounter Decrements { get; }

    /// <summary>Increments minus decrements, held to the range of <see cref="long"/> (it saturates).</summary>
    public long Value
    {
        get
        {
            var exact = Exact;
            return exact > long.MaxValue ? long.MaxValue : exact < long.MinValue ? long.MinValue : (long)exact;
        }
    }

    /// <summary>Increments minus decrements, exactly (each half is a sum of <see cref="ulong"/>s over at most
    /// 2^31 replicas, so the difference fits).</summary>
    private Int128 Exact => (Int128)Increments.Sum - (Int128)Decrements.Sum;

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.PnCounter;

    /// <inheritdoc/>
    public override bool IsBottom => Increments.IsBottom && Decrements.IsBottom;

    /// <summary>Adds <paramref name="amount"/> (negative to subtract) as <paramref name="replica"/>.</summary>
    /// <returns>The new counter and the delta (the replica's new count in the half that changed).</returns>
    /// <exception cref="OverflowException">The value would leave the range of <see cref="long"/>, or the replica's count
    /// in that half would pass <see cref="ulong.MaxValue"/>.</exception>
    public (PnCounter Value, PnCounter Delta) Increment(string replica, long amount)
    {
        var next = Exact + amount;
        if (next > long.MaxValue || next < long.MinValue)
        {
            throw new OverflowException($"the counter would leave the range {long.MinValue}..{long.MaxValue} (it is {Value}, adding {amount})");
        }

        if (amount >= 0)
        {
            var (value, delta) = Increments.Increment(replica, (ulong)amount);
            return (ReferenceEquals(value, Increments) ? this : new PnCounter(value, Decrements), new PnCounter(delta, GCounter.Empty));
        }
        else
        {
            var (value, delta) = Decrements.Increment(replica, (ulong)(-(amount + 1)) + 1);
            return (new PnCounter(Increments, value), new PnCounter(GCounter.Empty, delta));
        }
    }

    /// <summary>Whether <paramref name="replica"/> has a count in either half.</summary>
    public bool Mentions(string replica) => Increments.Mentions(replica) || Decrements.Mentions(replica);

    /// <summary>Pruning's collapse of both halves (see <see cref="GCounter.Collapse"/>): the value stays.</summary>
    public PnCounter Collapse(string removed, string into)
    {
        var increments = Increments.Collapse(removed, into);
        var decrements = Decrements.Collapse(removed, into);
        return ReferenceEquals(increments, Increments) && ReferenceEquals(decrements, Decrements) ? this : new PnCounter(increments, decrements);
    }

    /// <summary>Pruning's cleanup of both halves (see <see cref="GCounter.Cleanup"/>).</summary>
    public PnCounter Cleanup(string removed)
    {
        var increments = Increments.Cleanup(removed);
        var decrements = Decrements.Cleanup(removed);
        return ReferenceEquals(increments, Increments) && ReferenceEquals(decrements, Decrements) ? this : new PnCounter(increments, decrements);
    }

    /// <summary>Both halves merged pointwise.</summary>
    public PnCounter Merge(PnCounter other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var increments = Increments.Merge(other.Increments);
        var decrements = Decrements.Merge(other.Decrements);
        return ReferenceEquals(increments, Increments) && ReferenceEquals(decrements, Decrements) ? this : new PnCounter(increments, decrements);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => Increments.EstimateSize() + Decrements.EstimateSize();

    /// <inheritdoc/>
    public bool Equals(PnCounter? other) => other is not null && Increments.Equals(other.Increments) && Decrements.Equals(other.Decrements);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as PnCounter);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Increments, Decrements);

}
