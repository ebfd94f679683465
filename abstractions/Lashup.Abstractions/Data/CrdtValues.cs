using System.Collections.Immutable;

namespace Lashup.Abstractions.Data;

/// <summary>
/// A read-only view of a CRDT value of the replicated store: a store value (<see cref="KvEntry.Value"/>, an
/// <see cref="IMapValue"/>) or one of its fields. Plugins read values through these views and change them with
/// <see cref="CrdtOp"/>s; how values merge is the store's business, not part of this contract. Every view is a
/// snapshot: it never changes once returned. A field's view is one of <see cref="IMapValue"/>,
/// <see cref="IORSetValue"/>, <see cref="ILwwRegisterValue"/>, <see cref="IMvRegisterValue"/>,
/// <see cref="IFlagValue"/>, <see cref="IGCounterValue"/> and <see cref="IPnCounterValue"/>, as
/// <see cref="Type"/> says.
/// </summary>
/// <remarks>
/// These are interfaces so that a plugin's tests can fake values (with NSubstitute, say) or build them for real with
/// <c>Lashup.Testing.InMemoryReplicatedStore</c>. <see cref="CrdtJson"/> renders any view as JSON.
/// </remarks>
public interface ICrdtValue
{
    /// <summary>Which CRDT type this value is; tells which derived view it implements.</summary>
    CrdtType Type { get; }
}

/// <summary>
/// A map of named, typed fields (<see cref="CrdtType.Map"/>): every store value, and nested maps inside one. Only
/// present fields are seen: a removed field is absent. The typed getters (<see cref="MapValueExtensions.GetORSet"/>,
/// <see cref="MapValueExtensions.GetMap"/>, ...) are built on <see cref="Get"/>.
/// </summary>
public interface IMapValue : ICrdtValue
{
    /// <summary>Whether no field is present (a deleted, or never written, store value).</summary>
    bool IsEmpty { get; }

    /// <summary>The present fields, ordered by name (ordinal).</summary>
    IEnumerable<CrdtField> Fields { get; }

    /// <summary>The present field <paramref name="name"/>, or null when it is absent.</summary>
    /// <param name="name">The field's name (one segment of a <see cref="CrdtOp.Path"/>).</param>
    /// <returns>The field's value.</returns>
    ICrdtValue? Get(string name);
}

/// <summary>An add-wins observed-remove set of strings (<see cref="CrdtType.ORSet"/>).</summary>
public interface IORSetValue : ICrdtValue
{
    /// <summary>The elements, ordered (ordinal).</summary>
    IEnumerable<string> Elements { get; }

    /// <summary>The number of elements.</summary>
    int Count { get; }

    /// <summary>Whether <paramref name="element"/> is in the set.</summary>
    /// <param name="element">The element.</param>
    /// <returns>Whether it is in the set.</returns>
    bool Contains(string element);
}

/// <summary>A last-writer-wins register of a string (<see cref="CrdtType.LwwRegister"/>).</summary>
public interface ILwwRegisterValue : ICrdtValue
{
    /// <summary>The winning write's value; null when the register was cleared (or never written).</summary>
    string? Value { get; }

    /// <summary>The winning write's timestamp, in its writer's clock (the store uses Unix milliseconds).</summary>
    long Timestamp { get; }
}

/// <summary>A multi-value register of strings (<see cref="CrdtType.MvRegister"/>).</summary>
public interface IMvRegisterValue : ICrdtValue
{
    /// <summary>The distinct current values, ordered (ordinal): one after a write, several after concurrent writes.</summary>
    ImmutableArray<string> Values { get; }
}

/// <summary>An enable-wins flag (<see cref="CrdtType.Flag"/>).</summary>
public interface IFlagValue : ICrdtValue
{
    /// <summary>Whether the flag is on.</summary>
    bool IsEnabled { get; }
}

/// <summary>A grow-only counter (<see cref="CrdtType.GCounter"/>).</summary>
public interface IGCounterValue : ICrdtValue
{
    /// <summary>The count; it saturates at <see cref="ulong.MaxValue"/>, never wraps.</summary>
    ulong Value { get; }
}

/// <summary>A counter that goes up and down (<see cref="CrdtType.PnCounter"/>).</summary>
public interface IPnCounterValue : ICrdtValue
{
    /// <summary>The count; it saturates at <see cref="long.MinValue"/> and <see cref="long.MaxValue"/>, never wraps.</summary>
    long Value { get; }
}

/// <summary>A present field of an <see cref="IMapValue"/>.</summary>
/// <param name="Name">The field's name.</param>
/// <param name="Value">Its value.</param>
public sealed record CrdtField(string Name, ICrdtValue Value)
{
    /// <summary>The field's type.</summary>
    public CrdtType Type => Value.Type;
}

/// <summary>
/// Typed reads of an <see cref="IMapValue"/>'s fields. Each is <see cref="IMapValue.Get"/> and a type test, so a
/// fake map needs only <see cref="IMapValue.Get"/>; a field of another type reads as null, like an absent one.
/// </summary>
public static class MapValueExtensions
{
    /// <summary>The field <paramref name="name"/> if it is present and a nested map; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The nested map, or null.</returns>
    public static IMapValue? GetMap(this IMapValue map, string name) => Field(map, name) as IMapValue;

    /// <summary>The field <paramref name="name"/> if it is present and an OR-set; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The set, or null.</returns>
    public static IORSetValue? GetORSet(this IMapValue map, string name) => Field(map, name) as IORSetValue;

    /// <summary>The field <paramref name="name"/> if it is present and an LWW register; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The register, or null.</returns>
    public static ILwwRegisterValue? GetLwwRegister(this IMapValue map, string name) => Field(map, name) as ILwwRegisterValue;

    /// <summary>The field <paramref name="name"/> if it is present and a multi-value register; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The register, or null.</returns>
    public static IMvRegisterValue? GetMvRegister(this IMapValue map, string name) => Field(map, name) as IMvRegisterValue;

    /// <summary>The field <paramref name="name"/> if it is present and a flag; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The flag, or null.</returns>
    public static IFlagValue? GetFlag(this IMapValue map, string name) => Field(map, name) as IFlagValue;

    /// <summary>The field <paramref name="name"/> if it is present and a grow-only counter; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The counter, or null.</returns>
    public static IGCounterValue? GetGCounter(this IMapValue map, string name) => Field(map, name) as IGCounterValue;

    /// <summary>The field <paramref name="name"/> if it is present and a PN-counter; otherwise null.</summary>
    /// <param name="map">The map.</param>
    /// <param name="name">The field's name.</param>
    /// <returns>The counter, or null.</returns>
    public static IPnCounterValue? GetPnCounter(this IMapValue map, string name) => Field(map, name) as IPnCounterValue;

    private static ICrdtValue? Field(IMapValue map, string name)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(name);
        return map.Get(name);
    }
}
