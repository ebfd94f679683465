using System.Collections.Immutable;

namespace Lashup.Crdt;

/// <summary>Replica → counter maps, shared by <see cref="VersionVectors"/> and <see cref="GCounter"/>.</summary>
internal static class Counts
{
    public static readonly ImmutableSortedDictionary<string, ulong> Empty =
        ImmutableSortedDictionary.Create<string, ulong>(StringComparer.Ordinal);

    /// <summary>Validates and canonicalizes: non-empty replica names, no duplicates, zero entries dropped.</summary>
    public static ImmutableSortedDictionary<string, ulong> Create(IEnumerable<KeyValuePair<string, ulong>> entries, string paramName)
    {
        ArgumentNullException.ThrowIfNull(entries, paramName);
        if (entries is ImmutableSortedDictionary<string, ulong> d && d.KeyComparer == StringComparer.Ordinal && !d.ContainsValue(0)
            && !d.ContainsKey(string.Empty))
        {
            return d;
        }

        var builder = Empty.ToBuilder();
        foreach (var (replica, counter) in entries)
        {
            if (string.IsNullOrEmpty(replica))
            {
                throw new ArgumentException("replica names must not be null or empty", paramName);
            }

            if (builder.ContainsKey(replica))
            {
                throw new ArgumentException($"replica \"{replica}\" appears twice", paramName);
            }

            if (counter != 0)
            {
                builder.Add(replica, counter);
            }
        }

        return builder.ToImmutable();
    }

    public static ImmutableSortedDictionary<string, ulong> Max(ImmutableSortedDictionary<string, ulong> a, ImmutableSortedDictionary<string, ulong> b)
    {
        if (a.Count < b.Count)
        {
            (a, b) = (b, a);
        }

        ImmutableSortedDictionary<string, ulong>.Builder? builder = null;
        foreach (var (replica, counter) in b)
        {
            if (!a.TryGetValue(replica, out var mine) || mine < counter)
            {
                builder ??= a.ToBuilder();
                builder[replica] = counter;
            }
        }

        return builder?.ToImmutable() ?? a;
    }

    public static bool Equal(ImmutableSortedDictionary<string, ulong> a, ImmutableSortedDictionary<string, ulong> b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        using var ea = a.GetEnumerator();
        using var eb = b.GetEnumerator();
        while (ea.MoveNext() && eb.MoveNext())
        {
            if (!string.Equals(ea.Current.Key, eb.Current.Key, StringComparison.Ordinal) || ea.Current.Value != eb.Current.Value)
            {
                return false;
            }
        }

        return true;
    }

    public static int Hash(ImmutableSortedDictionary<string, ulong> a)
    {
        var hash = new HashCode();
        foreach (var (replica, counter) in a)
        {
            hash.Add(replica, StringComparer.Ordinal);
            hash.Add(counter);
        }

        return hash.ToHashCode();
    }
}
