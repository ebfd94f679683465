using System.Collections.Immutable;

namespace Lashup.Crdt;

/// <summary>
/// The joins of the dot stores behind the causal CRDTs (Almeida et al., section 6): a store keeps a dot that both sides
/// have, or that one side has and the other has not seen (the other side's context does not contain it). A dot that
/// one side has and the other has seen but no longer has was removed there, and goes.
/// </summary>
internal static class DotStores
{
    public static readonly ImmutableSortedSet<Dot> NoDots = ImmutableSortedSet<Dot>.Empty;

    public static readonly ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> NoElements =
        ImmutableSortedDictionary.Create<string, ImmutableSortedSet<Dot>>(StringComparer.Ordinal);

    public static readonly ImmutableSortedDictionary<Dot, string> NoValues = ImmutableSortedDictionary.Create<Dot, string>();

    /// <summary>(s1 ∩ s2) ∪ (s1 \ c2) ∪ (s2 \ c1); returns <paramref name="s1"/> itself when nothing changes.</summary>
    public static ImmutableSortedSet<Dot> Join(ImmutableSortedSet<Dot> s1, CausalContext c1, ImmutableSortedSet<Dot> s2, CausalContext c2)
    {
        if (ReferenceEquals(s1, s2))
        {
            return s1;
        }

        ImmutableSortedSet<Dot>.Builder? builder = null;
        if (!c2.IsEmpty)
        {
            foreach (var dot in s1)
            {
                if (c2.Contains(dot) && !s2.Contains(dot))
                {
                    builder ??= s1.ToBuilder();
                    builder.Remove(dot);
                }
            }
        }

        foreach (var dot in s2)
        {
            if (!c1.Contains(dot) && !s1.Contains(dot))
            {
                builder ??= s1.ToBuilder();
                builder.Add(dot);
            }
        }

        return builder?.ToImmutable() ?? s1;
    }

    /// <summary>The join of two element → dots maps (an OR-set's store).</summary>
    public static ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> Join(
        ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> e1,
        CausalContext c1,
        ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> e2,
        CausalContext c2)
    {
        if (ReferenceEquals(e1, e2))
        {
            return e1;
        }

        ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>>.Builder? builder = null;
        if (!c2.IsEmpty)
        {
            foreach (var (element, dots) in e1)
            {
                var joined = Join(dots, c1, e2.GetValueOrDefault(element) ?? NoDots, c2);
                if (!ReferenceEquals(joined, dots))
                {
                    builder ??= e1.ToBuilder();
                    if (joined.IsEmpty)
                    {
                        builder.Remove(element);
                    }
                    else
                    {
                        builder[element] = joined;
                    }
                }
            }
        }

        foreach (var (element, dots) in e2)
        {
            var mine = e1.GetValueOrDefault(element);
            if (mine is not null && c2.IsEmpty)
            {
                // Not visited above: join now.
                var joined = Join(mine, c1, dots, c2);
                if (!ReferenceEquals(joined, mine))
                {
                    builder ??= e1.ToBuilder();
                    builder[element] = joined;
                }
            }
            else if (mine is null)
            {
                var joined = Join(NoDots, c1, dots, c2);
                if (!joined.IsEmpty)
                {
                    builder ??= e1.ToBuilder();
                    builder[element] = joined;
                }
            }
        }

        return builder?.ToImmutable() ?? e1;
    }

    /// <summary>
    /// The join of two dot → value maps (a multi-value register's store). Should both sides hold one dot with
    /// different values (only a bug or a malicious peer can cause that), the ordinally larger value is kept, so the
    /// join stays commutative.
    /// </summary>
    public static ImmutableSortedDictionary<Dot, string> Join(
        ImmutableSortedDictionary<Dot, string> v1,
        CausalContext c1,
        ImmutableSortedDictionary<Dot, string> v2,
        CausalContext c2)
    {
        if (ReferenceEquals(v1, v2))
        {
            return v1;
        }

        ImmutableSortedDictionary<Dot, string>.Builder? builder = null;
        foreach (var (dot, value) in v1)
        {
            if (v2.TryGetValue(dot, out var theirs))
            {
                if (string.CompareOrdinal(theirs, value) > 0)
                {
                    builder ??= v1.ToBuilder();
                    builder[dot] = theirs;
                }
            }
            else if (c2.Contains(dot))
            {
                builder ??= v1.ToBuilder();
                builder.Remove(dot);
            }
        }

        foreach (var (dot, value) in v2)
        {
            if (!v1.ContainsKey(dot) && !c1.Contains(dot))
            {
                builder ??= v1.ToBuilder();
                builder[dot] = value;
            }
        }

        return builder?.ToImmutable() ?? v1;
    }

    /// <summary>Validates raw dots for a constructor.</summary>
    public static ImmutableSortedSet<Dot> CreateDots(IEnumerable<Dot> dots, string paramName)
    {
        ArgumentNullException.ThrowIfNull(dots, paramName);
        var set = dots is ImmutableSortedSet<Dot> s && s.KeyComparer == Comparer<Dot>.Default ? s : ImmutableSortedSet.CreateRange(dots);
        foreach (var dot in set)
        {
            if (dot.Replica is null)
            {
                throw new ArgumentException("default(Dot) is not a dot", paramName);
            }
        }

        return set;
    }

    public static bool SetEqual(ImmutableSortedSet<Dot> a, ImmutableSortedSet<Dot> b) =>
        ReferenceEquals(a, b) || (a.Count == b.Count && a.SequenceEqual(b));

    public static void AddHash(ref HashCode hash, ImmutableSortedSet<Dot> dots)
    {
        hash.Add(dots.Count);
        foreach (var dot in dots)
        {
            hash.Add(dot);
        }
    }
}
