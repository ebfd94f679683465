using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>
/// One change to a field of a store value (an <see cref="IMapValue"/>), as a plugin passes it to
/// <see cref="IReplicatedStore.UpdateAsync"/>.
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

    /// <summary>
    /// Whether the op writes: it creates its field if missing (and any missing nested map on its path) and marks them
    /// present. True for adds, sets, <see cref="FlagEnable"/> and counter adds; false for the ops that only remove
    /// (<see cref="ORSetRemove"/>, <see cref="ORSetClear"/>, <see cref="FlagDisable"/>, <see cref="RemoveField"/>),
    /// which do nothing to a missing field.
    /// </summary>
    public abstract bool Writes { get; }

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

/// <summary>Adds <see cref="Element"/> to the OR-set (<see cref="IORSetValue"/>) at <see cref="CrdtOp.Path"/>.</summary>
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

    /// <inheritdoc/>
    public override bool Writes => true;

    private protected override string Argument => Quote(Element);
}

/// <summary>Removes <see cref="Element"/> (the adds of it seen here) from the OR-set (<see cref="IORSetValue"/>) at <see cref="CrdtOp.Path"/>.</summary>
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

    /// <inheritdoc/>
    public override bool Writes => false;

    private protected override string Argument => Quote(Element);
}

/// <summary>Removes every element seen here from the OR-set (<see cref="IORSetValue"/>) at <see cref="CrdtOp.Path"/>; the field stays.</summary>
public sealed record ORSetClear : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public ORSetClear(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.ORSet;

    /// <inheritdoc/>
    public override bool Writes => false;
}

/// <summary>
/// Writes <see cref="Value"/> into the LWW register (<see cref="ILwwRegisterValue"/>) at <see cref="CrdtOp.Path"/>. The write's timestamp is
/// the writer's clock (Unix milliseconds), moved past the register's current timestamp
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

    /// <inheritdoc/>
    public override bool Writes => true;

    private protected override string Argument => Quote(Value);
}

/// <summary>Writes <see cref="Value"/> into the multi-value register (<see cref="IMvRegisterValue"/>) at <see cref="CrdtOp.Path"/>, replacing every value seen here.</summary>
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

    /// <inheritdoc/>
    public override bool Writes => true;

    private protected override string Argument => Quote(Value);
}

/// <summary>Turns on the flag (<see cref="IFlagValue"/>) at <see cref="CrdtOp.Path"/>.</summary>
public sealed record FlagEnable : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public FlagEnable(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.Flag;

    /// <inheritdoc/>
    public override bool Writes => true;
}

/// <summary>Turns off the flag (<see cref="IFlagValue"/>) at <see cref="CrdtOp.Path"/> (a concurrent enable wins); the field stays.</summary>
public sealed record FlagDisable : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public FlagDisable(ImmutableArray<string> path)
        : base(path)
    {
    }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.Flag;

    /// <inheritdoc/>
    public override bool Writes => false;
}

/// <summary>
/// Adds <see cref="Amount"/> (negative to subtract) to the PN-counter (<see cref="IPnCounterValue"/>) at <see cref="CrdtOp.Path"/>. This
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

    /// <inheritdoc/>
    public override bool Writes => true;

    private protected override string Argument => Amount.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Adds <see cref="Amount"/> to the grow-only counter (<see cref="IGCounterValue"/>) at <see cref="CrdtOp.Path"/>.</summary>
public sealed record GCounterAdd : CrdtOp
{
    /// <summary>Creates the op.</summary>
    public GCounterAdd(ImmutableArray<string> path, ulong amount)
        : base(path) => Amount = amount;

    /// <summary>The amount to add.</summary>
    public ulong Amount { get; }

    /// <inheritdoc/>
    public override CrdtType? FieldType => CrdtType.GCounter;

    /// <inheritdoc/>
    public override bool Writes => true;

    private protected override string Argument => Amount.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Removes the field at <see cref="CrdtOp.Path"/>, whatever its type, resetting what its type allows: an OR-set,
/// flag or multi-value register loses the elements, enables or values seen here; an LWW register gets null written
/// with a newer timestamp; a counter keeps its counts (only its presence goes, and a later add brings it back with
/// its old total); a nested map has each of its fields removed the same way. A write concurrent with the removal survives it, and keeps the field present (add wins).
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

    /// <inheritdoc/>
    public override bool Writes => false;
}
