using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// A multi-value register of strings. A write replaces every value it observed; writes that did not see each other
/// are all kept, and a reader sees every one of them (<see cref="Values"/>) until a later write replaces them. Each
/// value is tagged with the dot of its write; <see cref="Context"/> holds every dot the register has seen.
/// </summary>
/// <remarks>Inside a <see cref="CrdtMap"/>, a register shares the map's context; see <see cref="CrdtMapEntry.Value"/>.</remarks>
public sealed class MvRegister : CrdtValue, IMvRegisterValue, IReplicatedData<MvRegister>, IEquatable<MvRegister>
{
    private MvRegister(ImmutableSortedDictionary<Dot, string> entries, CausalContext context, bool trusted)
    {
        _ = trusted;
        Entries = entries;
        Context = context;
    }

    /// <summary>
    /// Creates a register from raw parts (e.g. when deserializing); dots missing from <paramref name="context"/> are
    /// added to it.
    /// </summary>
    /// <exception cref="ArgumentException">A value is null, a dot appears twice, or a dot is <c>default</c>.</exception>
    public MvRegister(IEnumerable<KeyValuePair<Dot, string>> entries, CausalContext context)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(context);
        var builder = DotStores.NoValues.ToBuilder();
        foreach (var (dot, value) in entries)
        {
            if (dot.Replica is null || value is null)
            {
                throw new ArgumentException("a dot is default or a value is null", nameof(entries));
            }

            if (!builder.TryAdd(dot, value))
            {
                throw new ArgumentException($"dot {dot} appears twice", nameof(entries));
            }
        }

        Entries = builder.ToImmutable();
        Context = context.AddRange(Entries.Keys.ToList());
    }

    /// <summary>The register that was never written.</summary>
    public static MvRegister Empty { get; } = new(DotStores.NoValues, CausalContext.Empty, trusted: true);

    /// <summary>The current values, each with the dot of the write that put it there.</summary>
    public ImmutableSortedDictionary<Dot, string> Entries { get; }

    /// <summary>Every dot this register has seen.</summary>
    public CausalContext Context { get; }

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.MvRegister;

    /// <inheritdoc/>
    public override bool IsBottom => Entries.IsEmpty && Context.IsEmpty;

    /// <summary>The distinct current values, ordered (ordinal): one after a write, several after concurrent writes.</summary>
    public ImmutableArray<string> Values => [.. Entries.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>Writes <paramref name="value"/> with a new dot of <paramref name="replica"/>, replacing every value seen.</summary>
    /// <returns>The new register and the delta: the new value, and a context of its dot and of the replaced dots.</returns>
    public (MvRegister Value, MvRegister Delta) Set(string replica, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var dot = Context.Next(replica);
        var single = DotStores.NoValues.Add(dot, value);
        return (new MvRegister(single, Context.Add(dot), trusted: true),
            new MvRegister(single, CausalContext.FromDots(Entries.Keys.Append(dot)), trusted: true));
    }

    /// <summary>Removes every value seen (a concurrent write survives).</summary>
    /// <returns>The new register and the delta (no values, a context of the removed dots).</returns>
    public (MvRegister Value, MvRegister Delta) Clear()
    {
        if (Entries.IsEmpty)
        {
            return (this, Empty);
        }

        return (new MvRegister(DotStores.NoValues, Context, trusted: true),
            new MvRegister(DotStores.NoValues, CausalContext.FromDots(Entries.Keys), trusted: true));
    }

    /// <summary>Whether any dot of <paramref name="replica"/> is held or has been seen.</summary>
    public bool Mentions(string replica) => Context.Mentions(replica) || Entries.Keys.Any(d => string.Equals(d.Replica, replica, StringComparison.Ordinal));

    /// <summary>
    /// Pruning's collapse: <paramref name="removed"/>'s dots go, and a value that would disappear with them gets a fresh
    /// dot of <paramref name="into"/> instead, so the value a reader sees stays. Only the one replica chosen to
    /// collapse a removed one may do this, from its own state (see <see cref="CrdtMap.Collapse"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, or both are the same.</exception>
    public MvRegister Collapse(string removed, string into)
    {
        Pruning.CheckArguments(removed, into);
        var fresh = new DotAllocator(into, Context.Next(into).Counter);
        var pruned = Pruning.Prune(Entries, removed, fresh);
        return Trusted(pruned, Context.Without(removed).AddRange(fresh.Allocated));
    }

    /// <summary>Pruning's cleanup: this value without any dot of <paramref name="removed"/> (see <see cref="CrdtMap.Cleanup"/>).</summary>
    public MvRegister Cleanup(string removed)
    {
        Pruning.CheckArguments(removed);
        return Mentions(removed) ? Trusted(Pruning.Prune(Entries, removed, null), Context.Without(removed)) : this;
    }

    /// <inheritdoc/>
    public MvRegister Merge(MvRegister other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var entries = DotStores.Join(Entries, Context, other.Entries, other.Context);
        var context = Context.Merge(other.Context);
        return ReferenceEquals(entries, Entries) && ReferenceEquals(context, Context) ? this : new MvRegister(entries, context, trusted: true);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => Context.EstimateSize() + EstimateStoreSize();

    /// <inheritdoc/>
    public bool Equals(MvRegister? other) =>
        other is not null && (ReferenceEquals(this, other) || (StoreEquals(other) && Context.Equals(other.Context)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as MvRegister);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Context);
        foreach (var (dot, value) in Entries)
        {
            hash.Add(dot);
            hash.Add(value, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }


    internal static MvRegister Trusted(ImmutableSortedDictionary<Dot, string> entries, CausalContext context) => new(entries, context, trusted: true);

    internal MvRegister WithContext(CausalContext context) => ReferenceEquals(context, Context) ? this : new(Entries, context, trusted: true);

    internal int EstimateStoreSize()
    {
        var size = SizeEstimate.Header;
        foreach (var (dot, value) in Entries)
        {
            size += SizeEstimate.Dot(dot) + SizeEstimate.String(value);
        }

        return size;
    }

    internal bool StoreEquals(MvRegister other) =>
        ReferenceEquals(Entries, other.Entries)
        || (Entries.Count == other.Entries.Count
            && Entries.Zip(other.Entries).All(p => p.First.Key == p.Second.Key && string.Equals(p.First.Value, p.Second.Value, StringComparison.Ordinal)));
}
