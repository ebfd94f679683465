using System.Collections.Immutable;

namespace Lashup.Crdt;

/// <summary>
/// Hands out fresh dots of one replica, in order, for <c>Collapse</c>: the dots that replace a removed replica's.
/// </summary>
internal sealed class DotAllocator(string replica, ulong next)
{
    private ulong _next = next;

    public string Replica { get; } = replica;

    public List<Dot> Allocated { get; } = [];

    public Dot Next()
    {
        var dot = new Dot(Replica, _next);
        _next = checked(_next + 1);
        Allocated.Add(dot);
        return dot;
    }
}

/// <summary>
/// The pure pieces of removed-replica pruning shared by the dot-based types (see <see cref="CrdtMap.Collapse"/> and
/// <see cref="CrdtMap.Cleanup"/>). <c>fresh == null</c> is cleanup (a removed replica's dots just go);
/// otherwise collapse (a store that would become empty, so a value that would disappear, gets one fresh dot instead).
/// </summary>
internal static class Pruning
{
    public static void CheckArguments(string removed, string? into = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(removed);
        if (into is not null)
        {
            ArgumentException.ThrowIfNullOrEmpty(into);
            if (string.Equals(removed, into, StringComparison.Ordinal))
            {
                throw new ArgumentException($"cannot collapse replica \"{removed}\" into itself", nameof(into));
            }
        }
    }

    public static bool Mentions(ImmutableSortedSet<Dot> dots, string replica)
    {
        foreach (var dot in dots)
        {
            if (string.Equals(dot.Replica, replica, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    public static ImmutableSortedSet<Dot> Prune(ImmutableSortedSet<Dot> dots, string removed, DotAllocator? fresh)
    {
        if (!Mentions(dots, removed))
        {
            return dots;
        }

        var kept = dots.Where(d => !string.Equals(d.Replica, removed, StringComparison.Ordinal)).ToImmutableSortedSet();
        return kept.IsEmpty && fresh is not null ? DotStores.NoDots.Add(fresh.Next()) : kept;
    }

    public static ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> Prune(
        ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> elements, string removed, DotAllocator? fresh)
    {
        ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>>.Builder? builder = null;
        foreach (var (element, dots) in elements)
        {
            var pruned = Prune(dots, removed, fresh);
            if (!ReferenceEquals(pruned, dots))
            {
                builder ??= elements.ToBuilder();
                if (pruned.IsEmpty)
                {
                    builder.Remove(element);
                }
                else
                {
                    builder[element] = pruned;
                }
            }
        }

        return builder?.ToImmutable() ?? elements;
    }

    public static ImmutableSortedDictionary<Dot, string> Prune(ImmutableSortedDictionary<Dot, string> values, string removed, DotAllocator? fresh)
    {
        ImmutableSortedDictionary<Dot, string>.Builder? builder = null;
        foreach (var (dot, value) in values)
        {
            if (string.Equals(dot.Replica, removed, StringComparison.Ordinal))
            {
                builder ??= values.ToBuilder();
                builder.Remove(dot);
                if (fresh is not null)
                {
                    // Each of the removed replica's values keeps its place under a fresh dot (the values a reader sees
                    // do not change).
                    builder[fresh.Next()] = value;
                }
            }
        }

        return builder?.ToImmutable() ?? values;
    }

    public static bool Mentions(ImmutableSortedDictionary<string, ulong> counts, string replica) => counts.ContainsKey(replica);
}
