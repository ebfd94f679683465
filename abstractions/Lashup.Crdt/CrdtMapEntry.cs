using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// The key of one stored slot of a <see cref="CrdtMap"/>: a field name and a type. A name normally has one slot;
/// it has more only when values of different types were written under it (see <see cref="CrdtType"/>).
/// Ordered by name (ordinal), then type.
/// </summary>
/// <param name="Name">The field's name.</param>
/// <param name="Type">The type of the value in this slot.</param>
public readonly record struct CrdtFieldKey(string Name, CrdtType Type) : IComparable<CrdtFieldKey>
{
    /// <inheritdoc/>
    public int CompareTo(CrdtFieldKey other)
    {
        var c = string.CompareOrdinal(Name, other.Name);
        return c != 0 ? c : Type.CompareTo(other.Type);
    }

    /// <summary>Formats as <c>name:Type</c>.</summary>
    public override string ToString() => $"{Name}:{Type}";

    /// <summary>Compares keys by name (ordinal), then type.</summary>
    public static bool operator <(CrdtFieldKey left, CrdtFieldKey right) => left.CompareTo(right) < 0;

    /// <summary>Compares keys by name (ordinal), then type.</summary>
    public static bool operator >(CrdtFieldKey left, CrdtFieldKey right) => left.CompareTo(right) > 0;

    /// <summary>Compares keys by name (ordinal), then type.</summary>
    public static bool operator <=(CrdtFieldKey left, CrdtFieldKey right) => left.CompareTo(right) <= 0;

    /// <summary>Compares keys by name (ordinal), then type.</summary>
    public static bool operator >=(CrdtFieldKey left, CrdtFieldKey right) => left.CompareTo(right) >= 0;
}

/// <summary>
/// One stored slot of a <see cref="CrdtMap"/> (raw state, for serializers and diagnostics; plugins read fields through
/// <see cref="CrdtMap.Fields"/> and the typed getters). The slot's field is present while <see cref="Presence"/> is
/// not empty: every write to the field replaces the presence dots it saw with a new one, and removing the field
/// drops the presence dots seen, so a write concurrent with a removal keeps the field (add wins). A slot whose field
/// was removed stays stored only while its value holds state that cannot be reset (counter totals, a cleared
/// register's timestamp).
/// </summary>
public sealed class CrdtMapEntry : IEquatable<CrdtMapEntry>
{
    private CrdtMapEntry(ImmutableSortedSet<Dot> presence, CrdtValue value, bool trusted)
    {
        _ = trusted;
        Presence = presence;
        Value = value;
    }

    /// <summary>Creates a slot from raw parts (e.g. when deserializing).</summary>
    /// <param name="presence">The presence dots.</param>
    /// <param name="value">The value; for causal types (see <see cref="Value"/>) its context is folded into the map's.</param>
    /// <exception cref="ArgumentException">A dot is <c>default</c>.</exception>
    public CrdtMapEntry(IEnumerable<Dot> presence, CrdtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Presence = DotStores.CreateDots(presence, nameof(presence));
        Value = value;
    }

    /// <summary>The dots of the writes that keep the field present; empty when it was removed.</summary>
    public ImmutableSortedSet<Dot> Presence { get; }

    /// <summary>
    /// The slot's value. An <see cref="ORSet"/>, <see cref="MvRegister"/>, <see cref="Flag"/> or nested
    /// <see cref="CrdtMap"/> stored in a map has no context of its own (its <c>Context</c> is empty): the map's
    /// <see cref="CrdtMap.Context"/> covers its dots. The map's getters return such values with the map's context,
    /// as standalone values.
    /// </summary>
    public CrdtValue Value { get; }

    /// <summary>Whether the field is present (<see cref="Presence"/> is not empty).</summary>
    public bool IsPresent => !Presence.IsEmpty;

    /// <inheritdoc/>
    public bool Equals(CrdtMapEntry? other) =>
        other is not null && (ReferenceEquals(this, other) || (DotStores.SetEqual(Presence, other.Presence) && Value.Equals(other.Value)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as CrdtMapEntry);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        DotStores.AddHash(ref hash, Presence);
        hash.Add(Value);
        return hash.ToHashCode();
    }

    /// <summary>Formats as the value, prefixed with the presence dots.</summary>
    public override string ToString() => $"{{{string.Join(", ", Presence)}}} {Value}";

    internal static CrdtMapEntry Trusted(ImmutableSortedSet<Dot> presence, CrdtValue value) => new(presence, value, trusted: true);
}
