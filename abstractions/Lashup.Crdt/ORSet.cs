using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// An add-wins observed-remove set of strings (ORSWOT: observed-remove set without tombstones). Each element carries
/// the dots of the adds that put it there; <see cref="Context"/> holds every dot the set has seen. A remove drops the
/// element's dots, and the context remembers them, so no per-element tombstone is kept; an add concurrent with a
/// remove has a dot the remove did not see, so the element stays (add wins).
/// </summary>
/// <remarks>Inside a <see cref="CrdtMap"/>, a set shares the map's context; see <see cref="CrdtMapEntry.Value"/>.</remarks>
public sealed class ORSet : CrdtValue, IORSetValue, IReplicatedData<ORSet>, IEquatable<ORSet>
{
    private ORSet(ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> entries, CausalContext context, bool trusted)
    {
        _ = trusted;
        Entries = entries;
        Context = context;
    }

    /// <summary>
    /// Creates a set from raw parts (e.g. when deserializing). Elements with no dots are dropped; dots missing from
    /// <paramref name="context"/> are added to it, so the result is always a valid state.
    /// </summary>
    /// <exception cref="ArgumentException">An element is null or appears twice, or a dot is <c>default</c>.</exception>
    public ORSet(IEnumerable<KeyValuePair<string, ImmutableSortedSet<Dot>>> entries, CausalContext context)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(context);
        var builder = DotStores.NoElements.ToBuilder();
        var all = new List<Dot>();
        foreach (var (element, dots) in entries)
        {
            if (element is null)
            {
                throw new ArgumentException("an element is null", nameof(entries));
            }

            var set = DotStores.CreateDots(dots, nameof(entries));
            if (builder.ContainsKey(element))
            {
                throw new ArgumentException($"element \"{element}\" appears twice", nameof(entries));
            }

            if (!set.IsEmpty)
            {
                builder.Add(element, set);
                all.AddRange(set);
            }
        }

        Entries = builder.ToImmutable();
        Context = context.AddRange(all);
    }

    /// <summary>The empty set that has seen nothing.</summary>
    public static ORSet Empty { get; } = new(DotStores.NoElements, CausalContext.Empty, trusted: true);

    /// <summary>Each element with the dots of the adds that keep it in the set (never empty), ordered (ordinal).</summary>
    public ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> Entries { get; }

    /// <summary>Every dot this set has seen, including those of removed elements.</summary>
    public CausalContext Context { get; }

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.ORSet;

    /// <inheritdoc/>
    public override bool IsBottom => Entries.IsEmpty && Context.IsEmpty;

    /// <summary>The elements, ordered (ordinal).</summary>
    public IEnumerable<string> Elements => Entries.Keys;

    /// <summary>The number of elements.</summary>
    public int Count => Entries.Count;

    /// <summary>Whether <paramref name="element"/> is in the set.</summary>
    public bool Contains(string element) => Entries.ContainsKey(element);

    /// <summary>
    /// Adds <paramref name="element"/> with a new dot of <paramref name="replica"/> (replacing the dots it observed
    /// for that element, which keeps the state small).
    /// </summary>
    /// <returns>The new set and the delta: the element with its new dot, and a context of the new and replaced dots.</returns>
    public (ORSet Value, ORSet Delta) Add(string replica, string element)
    {
        ArgumentNullException.ThrowIfNull(element);
        var dot = Context.Next(replica);
        var old = Entries.GetValueOrDefault(element) ?? DotStores.NoDots;
        var single = DotStores.NoDots.Add(dot);
        var value = new ORSet(Entries.SetItem(element, single), Context.Add(dot), trusted: true);
        var delta = new ORSet(DotStores.NoElements.Add(element, single), CausalContext.FromDots(old.Add(dot)), trusted: true);
        return (value, delta);
    }

    /// <summary>Removes <paramref name="element"/>: drops the dots of it that this replica has seen.</summary>
    /// <returns>The new set and the delta (no elements, a context of the removed dots); both unchanged/empty if absent.</returns>
    public (ORSet Value, ORSet Delta) Remove(string element)
    {
        ArgumentNullException.ThrowIfNull(element);
        if (!Entries.TryGetValue(element, out var old))
        {
            return (this, Empty);
        }

        return (new ORSet(Entries.Remove(element), Context, trusted: true),
            new ORSet(DotStores.NoElements, CausalContext.FromDots(old), trusted: true));
    }

    /// <summary>Removes every element this replica has seen.</summary>
    /// <returns>The new set and the delta (no elements, a context of every removed dot).</returns>
    public (ORSet Value, ORSet Delta) Clear()
    {
        if (Entries.IsEmpty)
        {
            return (this, Empty);
        }

        return (new ORSet(DotStores.NoElements, Context, trusted: true),
            new ORSet(DotStores.NoElements, CausalContext.FromDots(Entries.Values.SelectMany(d => d)), trusted: true));
    }

    /// <summary>Whether any dot of <paramref name="replica"/> is held or has been seen.</summary>
    public bool Mentions(string replica) => Context.Mentions(replica) || Entries.Values.Any(d => Pruning.Mentions(d, replica));

    /// <summary>
    /// Pruning's collapse: <paramref name="removed"/>'s dots go, and an element that would disappear with them gets a fresh
    /// dot of <paramref name="into"/> instead, so the value a reader sees stays. Only the one replica chosen to
    /// collapse a removed one may do this, from its own state (see <see cref="CrdtMap.Collapse"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, or both are the same.</exception>
    public ORSet Collapse(string removed, string into)
    {
        Pruning.CheckArguments(removed, into);
        var fresh = new DotAllocator(into, Context.Next(into).Counter);
        var pruned = Pruning.Prune(Entries, removed, fresh);
        return Trusted(pruned, Context.Without(removed).AddRange(fresh.Allocated));
    }

    /// <summary>Pruning's cleanup: this value without any dot of <paramref name="removed"/> (see <see cref="CrdtMap.Cleanup"/>).</summary>
    public ORSet Cleanup(string removed)
    {
        Pruning.CheckArguments(removed);
        return Mentions(removed) ? Trusted(Pruning.Prune(Entries, removed, null), Context.Without(removed)) : this;
    }

    /// <inheritdoc/>
    public ORSet Merge(ORSet other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var entries = DotStores.Join(Entries, Context, other.Entries, other.Context);
        var context = Context.Merge(other.Context);
        return ReferenceEquals(entries, Entries) && ReferenceEquals(context, Context) ? this : new ORSet(entries, context, trusted: true);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => Context.EstimateSize() + EstimateStoreSize();

    /// <inheritdoc/>
    public bool Equals(ORSet? other) =>
        other is not null && (ReferenceEquals(this, other) || (StoreEquals(other) && Context.Equals(other.Context)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ORSet);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Context);
        foreach (var (element, dots) in Entries)
        {
            hash.Add(element, StringComparer.Ordinal);
            DotStores.AddHash(ref hash, dots);
        }

        return hash.ToHashCode();
    }


    /// <summary>A set with these entries, trusted to be valid against <paramref name="context"/>.</summary>
    internal static ORSet Trusted(ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> entries, CausalContext context) =>
        new(entries, context, trusted: true);

    internal ORSet WithContext(CausalContext context) => ReferenceEquals(context, Context) ? this : new(Entries, context, trusted: true);

    internal int EstimateStoreSize()
    {
        var size = SizeEstimate.Header;
        foreach (var (element, dots) in Entries)
        {
            size += SizeEstimate.String(element) + SizeEstimate.Dots(dots);
        }

        return size;
    }

    internal bool StoreEquals(ORSet other)
    {
        if (ReferenceEquals(Entries, other.Entries))
        {
            return true;
        }

        if (Entries.Count != other.Entries.Count)
        {
            return false;
        }

        foreach (var ((e1, d1), (e2, d2)) in Entries.Zip(other.Entries))
        {
            if (!string.Equals(e1, e2, StringComparison.Ordinal) || !DotStores.SetEqual(d1, d2))
            {
                return false;
            }
        }

        return true;
    }
}
