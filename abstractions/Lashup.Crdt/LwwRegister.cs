using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// A last-writer-wins register holding a string (or null). Of two writes, the one with the larger
/// <see cref="Timestamp"/> wins; on equal timestamps the larger <see cref="Replica"/> (ordinal) wins, so node names
/// break ties. Two writes with the same timestamp and replica (a replica must not do that) are ordered by value,
/// null first, so the merge stays commutative.
/// </summary>
public sealed class LwwRegister : CrdtValue, ILwwRegisterValue, IReplicatedData<LwwRegister>, IEquatable<LwwRegister>
{
    /// <summary>Creates a register holding one write (also the way to deserialize one).</summary>
    /// <param name="value">The value; null is a value too (a cleared register).</param>
    /// <param name="timestamp">When it was written, in the writer's clock (the store uses Unix milliseconds).</param>
    /// <param name="replica">Who wrote it; empty only in <see cref="Empty"/>.</param>
    public LwwRegister(string? value, long timestamp, string replica)
    {
        ArgumentNullException.ThrowIfNull(replica);
        Value = value;
        Timestamp = timestamp;
        Replica = replica;
    }

    /// <summary>The register that was never written: null at <see cref="long.MinValue"/> by replica "".</summary>
    public static LwwRegister Empty { get; } = new(null, long.MinValue, string.Empty);

    /// <summary>The winning write's value.</summary>
    public string? Value { get; }

    /// <summary>The winning write's timestamp.</summary>
    public long Timestamp { get; }

    /// <summary>The winning write's replica.</summary>
    public string Replica { get; }

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.LwwRegister;

    /// <inheritdoc/>
    public override bool IsBottom => Equals(Empty);

    /// <summary>
    /// Writes <paramref name="value"/> at <paramref name="timestamp"/> as <paramref name="replica"/>. The timestamp is
    /// used as given: if it does not beat the current write, the register keeps its value (and merging the delta
    /// changes nothing). <see cref="CrdtMap.Apply(CrdtOp, string, long)"/> instead moves the timestamp past the current
    /// one, so that a write always supersedes what its writer has seen.
    /// </summary>
    /// <returns>The new register and the delta (the write itself).</returns>
    public (LwwRegister Value, LwwRegister Delta) Set(string? value, long timestamp, string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        var write = new LwwRegister(value, timestamp, replica);
        return (Merge(write), write);
    }

    /// <summary>The later of both writes.</summary>
    public LwwRegister Merge(LwwRegister other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Compare(this, other) >= 0 ? this : other;
    }

    /// <inheritdoc/>
    public override int EstimateSize() => SizeEstimate.String(Value) + SizeEstimate.Number + SizeEstimate.String(Replica);

    /// <inheritdoc/>
    public bool Equals(LwwRegister? other) => other is not null && Compare(this, other) == 0;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as LwwRegister);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Value, Timestamp, Replica);


    /// <summary>A timestamp that beats this register's: <paramref name="timestamp"/>, or one past the current write's.</summary>
    internal long NextTimestamp(long timestamp) =>
        IsBottom || timestamp > Timestamp ? timestamp : Timestamp == long.MaxValue ? long.MaxValue : Timestamp + 1;

    private static int Compare(LwwRegister a, LwwRegister b)
    {
        var c = a.Timestamp.CompareTo(b.Timestamp);
        if (c == 0)
        {
            c = string.CompareOrdinal(a.Replica, b.Replica);
        }

        if (c == 0)
        {
            c = a.Value is null ? (b.Value is null ? 0 : -1) : b.Value is null ? 1 : string.CompareOrdinal(a.Value, b.Value);
        }

        return c;
    }
}
