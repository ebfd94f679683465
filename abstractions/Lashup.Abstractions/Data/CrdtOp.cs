using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>
/// One change to a field of a <see cref="CrdtMap"/> (a store value), as a plugin passes it to
/// <see cref="IReplicatedStore.UpdateAsync"/> or <see cref="CrdtMap.Apply(CrdtOp, string, long)"/>.
/// <see cref="Path"/> names the field: one segment for a top-level field, more to reach into nested maps
/// (<c>["backends", "10.0.0.7:80"]</c> is the field <c>10.0.0.7:80</c> of the nested map <c>backends</c>).
/// </summary>
/// <remarks>
/// An op that writes (an add, set, enable or counter add) creates a missing field with its type, and any missing
/// nested map on the way, and marks each of them present; an op that only removes (<see cref="ORSetRemove"/>,
/// <see cref="ORSetClear"/>, <see cref="FlagDisable"/>, <see cref="RemoveField"/>) does nothing to a missing field.
/// An op whose type does not match the field's throws <see cref="CrdtTypeMismatchException"/>.
/// </remarks>
public abstract record CrdtOp
{
    private protected CrdtOp(ImmutableArray<string> path)
    {
        if (path.IsDefaultOrEmpty)
        {
            throw new ArgumentException("a field path has at least one segment", nameof(path));
        }

        foreach (var segment in path)
        {
            if (string.IsNullOrEmpty(segment))
            {
                throw new ArgumentException("field path segments must not be null or empty", nameof(path));
            }
        }

        Path = path;
    }

    /// <summary>The field's path: names of nested maps, then the field's own name.</summary>
    public ImmutableArray<string> Path { get; }

    /// <summary>The type of field the op works on; null for <see cref="RemoveField"/>, which fits any.</summary>
    public abstract CrdtType? FieldType { get; }

    /// <summary>Whether the op writes (creates the field if missing) rather than only removes.</summary>
    internal abstract bool Writes { get; }

    /// <inheritdoc/>
    public virtual bool Equals(CrdtOp? other) =>
        other is not null && EqualityContract == other.EqualityContract && Path.AsSpan().SequenceEqual(other.Path.AsSpan());

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(EqualityContract);
        foreach (var segment in Path)
        {
            hash.Add(segment, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }

    /// <summary>Formats as <c>ORSetAdd backends/web "10.0.0.7:80"</c>.</summary>
    public sealed override string ToString()
    {
        var sb = new StringBuilder(GetType().Name).Append(' ').AppendJoin('/', Path);
        var argument = Argument;
        if (argument is not null)
        {
            sb.Append(' ').Append(argument);
        }

        return sb.ToString();
    }

    /// <summary>The op's argument formatted for <see cref="ToString"/>, if any.</summary>
    private protected virtual string? Argument => null;

    private protected static string Quote(string? s) => Json.AppendString(new StringBuilder(), s).ToString();
}

/// <summary>Adds <see cref="Element"/> to the <see cref="ORSet"/> at <see cref="CrdtOp.Path"/>.</summary>
public sealed record ORSetAdd : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public ORSetAdd(ImmutableArray<string> path, string element)
        : base(path)
    {
        ArgumentNullException.ThrowIfNull(element);
        Element = element;
    }

    /// <summary>The element to add.</summary>
    public string Element { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.ORSet;

    internal override bool Writes => true;

    private protected override string Argument => Quote(Element);
}

/// <summary>Removes <see cref="Element"/> (the adds of it seen here) from the <see cref="ORSet"/> at <see cref="CrdtOp.Path"/>.</summary>
public sealed record ORSetRemove : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public ORSetRemove(ImmutableArray<string> path, string element)
        : base(path)
    {
        ArgumentNullException.ThrowIfNull(element);
        Element = element;
    }

    /// <summary>The element to remove.</summary>
    public string Element { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.ORSet;

    internal override bool Writes => false;

    private protected override string Argument => Quote(Element);
}

/// <summary>Removes every element seen here from the <see cref="ORSet"/> at <see cref="CrdtOp.Path"/>; the field stays.</summary>
public sealed record ORSetClear : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public ORSetClear(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.ORSet;

    internal override bool Writes => false;
}

/// <summary>
/// Writes <see cref="Value"/> into the <see cref="LwwRegister"/> at <see cref="CrdtOp.Path"/>. The write's timestamp is
/// the one passed to <see cref="CrdtMap.Apply(CrdtOp, string, long)"/>, moved past the register's current timestamp
/// if needed, so a write always supersedes what its writer has seen even with a clock that runs behind.
/// </summary>
public sealed record LwwSet : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public LwwSet(ImmutableArray<string> path, string? value)
        : base(path) => Value = value;

    /// <summary>The value to write; null clears the register (the field stays present).</summary>
    public string? Value { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.LwwRegister;

    internal override bool Writes => true;

    private protected override string Argument => Quote(Value);
}

/// <summary>Writes <see cref="Value"/> into the <see cref="MvRegister"/> at <see cref="CrdtOp.Path"/>, replacing every value seen here.</summary>
public sealed record MvSet : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public MvSet(ImmutableArray<string> path, string value)
        : base(path)
    {
        ArgumentNullException.ThrowIfNull(value);
        Value = value;
    }

    /// <summary>The value to write.</summary>
    public string Value { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.MvRegister;

    internal override bool Writes => true;

    private protected override string Argument => Quote(Value);
}

/// <summary>Turns on the <see cref="Flag"/> at <see cref="CrdtOp.Path"/>.</summary>
public sealed record FlagEnable : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public FlagEnable(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.Flag;

    internal override bool Writes => true;
}

/// <summary>Turns off the <see cref="Flag"/> at <see cref="CrdtOp.Path"/> (a concurrent enable wins); the field stays.</summary>
public sealed record FlagDisable : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public FlagDisable(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.Flag;

    internal override bool Writes => false;
}

/// <summary>
/// Adds <see cref="Amount"/> (negative to subtract) to the <see cref="PnCounter"/> at <see cref="CrdtOp.Path"/>. This
/// op always means a PN-counter, whatever the sign; use <see cref="GCounterAdd"/> for a grow-only counter.
/// </summary>
public sealed record CounterAdd : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public CounterAdd(ImmutableArray<string> path, long amount)
        : base(path) => Amount = amount;

    /// <summary>The amount to add; negative subtracts.</summary>
    public long Amount { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.PnCounter;

    internal override bool Writes => true;

    private protected override string Argument => Amount.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Adds <see cref="Amount"/> to the grow-only <see cref="GCounter"/> at <see cref="CrdtOp.Path"/>.</summary>
public sealed record GCounterAdd : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public GCounterAdd(ImmutableArray<string> path, ulong amount)
        : base(path) => Amount = amount;

    /// <summary>The amount to add.</summary>
    public ulong Amount { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.GCounter;

    internal override bool Writes => true;

    private protected override string Argument => Amount.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Removes the field at <see cref="CrdtOp.Path"/>, whatever its type, resetting what its type allows: an
/// <see cref="ORSet"/>, <see cref="Flag"/> or <see cref="MvRegister"/> loses the dots seen here; an
/// <see cref="LwwRegister"/> gets null written with a newer timestamp; a counter keeps its counts (only its presence
/// goes, and a later add brings it back with its old total); a nested map has each of its fields removed the same
/// way. A write concurrent with the removal survives it, and keeps the field present (add wins).
/// </summary>
public sealed record RemoveField : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public RemoveField(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => null;

    internal override bool Writes => false;
}
