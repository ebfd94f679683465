using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// An enable-wins flag. Enabling adds a dot; disabling removes the dots it observed; the flag is enabled while any
/// dot remains, so an enable concurrent with a disable wins.
/// </summary>
/// <remarks>Inside a <see cref="CrdtMap"/>, a flag shares the map's context; see <see cref="CrdtMapEntry.Value"/>.</remarks>
public sealed class Flag : CrdtValue, IFlagValue, IReplicatedData<Flag>, IEquatable<Flag>
{
    private Flag(ImmutableSortedSet<Dot> dots, CausalContext context, bool trusted)
    {
        _ = trusted;
        Dots = dots;
        Context = context;
    }

    /// <summary>Creates a flag from raw parts (e.g. when deserializing); dots missing from <paramref name="context"/> are added to it.</summary>
    /// <exception cref="ArgumentException">A dot is <c>default</c>.</exception>
    public Flag(IEnumerable<Dot> dots, CausalContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Dots = DotStores.CreateDots(dots, nameof(dots));
        Context = context.AddRange(Dots);
    }

    /// <summary>The disabled flag that has seen nothing.</summary>
    public static Flag Empty { get; } = new(DotStores.NoDots, CausalContext.Empty, trusted: true);

    /// <summary>The dots of the enables that keep the flag on.</summary>
    public ImmutableSortedSet<Dot> Dots { get; }

    /// <summary>Every dot this flag has seen.</summary>
    public CausalContext Context { get; }

    /// <summary>Whether the flag is on.</summary>
    public bool IsEnabled => !Dots.IsEmpty;

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.Flag;

    /// <inheritdoc/>
    public override bool IsBottom => Dots.IsEmpty && Context.IsEmpty;

    /// <summary>Turns the flag on with a new dot of <paramref name="replica"/> (replacing the dots it observed).</summary>
    /// <returns>The new flag and the delta (the new dot, and a context of it and of the replaced dots).</returns>
    public (Flag Value, Flag Delta) Enable(string replica)
    {
        var dot = Context.Next(replica);
        var single = DotStores.NoDots.Add(dot);
        return (new Flag(single, Context.Add(dot), trusted: true), new Flag(single, CausalContext.FromDots(Dots.Add(dot)), trusted: true));
    }

    /// <summary>Turns the flag off by removing the dots seen (a concurrent enable wins).</summary>
    /// <returns>The new flag and the delta (no dots, a context of the removed dots).</returns>
    public (Flag Value, Flag Delta) Disable()
    {
        if (Dots.IsEmpty)
        {
            return (this, Empty);
        }

        return (new Flag(DotStores.NoDots, Context, trusted: true), new Flag(DotStores.NoDots, CausalContext.FromDots(Dots), trusted: true));
    }

    /// <summary>Whether any dot of <paramref name="replica"/> is held or has been seen.</summary>
    public bool Mentions(string replica) => Context.Mentions(replica) || Pruning.Mentions(Dots, replica);

    /// <summary>
    /// Pruning's collapse: <paramref name="removed"/>'s dots go, and an enabled flag that would disappear with them gets a fresh
    /// dot of <paramref name="into"/> instead, so the value a reader sees stays. Only the one replica chosen to
    /// collapse a removed one may do this, from its own state (see <see cref="CrdtMap.Collapse"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A name is empty, or both are the same.</exception>
    public Flag Collapse(string removed, string into)
    {
        Pruning.CheckArguments(removed, into);
        var fresh = new DotAllocator(into, Context.Next(into).Counter);
        var pruned = Pruning.Prune(Dots, removed, fresh);
        return Trusted(pruned, Context.Without(removed).AddRange(fresh.Allocated));
    }

    /// <summary>Pruning's cleanup: this value without any dot of <paramref name="removed"/> (see <see cref="CrdtMap.Cleanup"/>).</summary>
    public Flag Cleanup(string removed)
    {
        Pruning.CheckArguments(removed);
        return Mentions(removed) ? Trusted(Pruning.Prune(Dots, removed, null), Context.Without(removed)) : this;
    }

    /// <inheritdoc/>
    public Flag Merge(Flag other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var dots = DotStores.Join(Dots, Context, other.Dots, other.Context);
        var context = Context.Merge(other.Context);
        return ReferenceEquals(dots, Dots) && ReferenceEquals(context, Context) ? this : new Flag(dots, context, trusted: true);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => Context.EstimateSize() + SizeEstimate.Dots(Dots);

    /// <inheritdoc/>
    public bool Equals(Flag? other) =>
        other is not null && (ReferenceEquals(this, other) || (DotStores.SetEqual(Dots, other.Dots) && Context.Equals(other.Context)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Flag);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Context);
        DotStores.AddHash(ref hash, Dots);
        return hash.ToHashCode();
    }


    internal static Flag Trusted(ImmutableSortedSet<Dot> dots, CausalContext context) => new(dots, context, trusted: true);

    internal Flag WithContext(CausalContext context) => ReferenceEquals(context, Context) ? this : new(Dots, context, trusted: true);
}
