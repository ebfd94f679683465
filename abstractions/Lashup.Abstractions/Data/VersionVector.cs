using System.Collections.Immutable;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>
/// An immutable version vector: for each replica, how many of its updates have been seen (a replica that is absent
/// counts 0). A replica is one node's store: the core names it by the node and an incarnation drawn when the store
/// file was created (<c>node-3~5f0c2a9e41b7</c>), so a node whose data folder was replaced counts as a new replica;
/// treat replica names as opaque. The store versions each key with one (<see cref="KvEntry.Version"/>); pass it back as
/// the expected version of <see cref="IReplicatedStore.UpdateAsync"/> for a compare-and-set. Two vectors are equal
/// when every replica has the same counter in both.
/// </summary>
public sealed class VersionVector : IEquatable<VersionVector>
{
    private static readonly ImmutableSortedDictionary<string, ulong> NoEntries =
        ImmutableSortedDictionary.Create<string, ulong>(StringComparer.Ordinal);

    private VersionVector(ImmutableSortedDictionary<string, ulong> entries, bool canonical)
    {
        _ = canonical;
        Entries = entries;
    }

    /// <summary>Creates a vector from its entries (e.g. when deserializing). Zero counters are dropped.</summary>
    /// <param name="entries">Each replica's counter.</param>
    /// <exception cref="ArgumentException">A replica name is null or empty, or appears twice.</exception>
    public VersionVector(IEnumerable<KeyValuePair<string, ulong>> entries)
        : this(Canonical(entries), canonical: true)
    {
    }

    /// <summary>The vector that has seen nothing.</summary>
    public static VersionVector Empty { get; } = new(NoEntries, canonical: true);

    /// <summary>Every replica with a non-zero counter, ordered by name (ordinal).</summary>
    public ImmutableSortedDictionary<string, ulong> Entries { get; }

    /// <summary>Whether no replica has a non-zero counter.</summary>
    public bool IsEmpty => Entries.IsEmpty;

    /// <summary>The counter of <paramref name="replica"/>; 0 when absent.</summary>
    /// <param name="replica">A replica name.</param>
    public ulong this[string replica] => Entries.GetValueOrDefault(replica);

    /// <inheritdoc/>
    public bool Equals(VersionVector? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other) || ReferenceEquals(Entries, other.Entries))
        {
            return true;
        }

        if (Entries.Count != other.Entries.Count)
        {
            return false;
        }

        using var mine = Entries.GetEnumerator();
        using var theirs = other.Entries.GetEnumerator();
        while (mine.MoveNext() && theirs.MoveNext())
        {
            if (!string.Equals(mine.Current.Key, theirs.Current.Key, StringComparison.Ordinal) || mine.Current.Value != theirs.Current.Value)
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as VersionVector);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var (replica, counter) in Entries)
        {
            hash.Add(replica, StringComparer.Ordinal);
            hash.Add(counter);
        }

        return hash.ToHashCode();
    }

    /// <summary>Formats as <c>[a:3, b:1]</c>.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder("[");
        foreach (var (replica, counter) in Entries)
        {
            if (sb.Length > 1)
            {
                sb.Append(", ");
            }

            sb.Append(replica).Append(':').Append(counter);
        }

        return sb.Append(']').ToString();
    }

    /// <summary>Validates and canonicalizes: non-empty replica names, no duplicates, zero entries dropped.</summary>
    private static ImmutableSortedDictionary<string, ulong> Canonical(IEnumerable<KeyValuePair<string, ulong>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries is ImmutableSortedDictionary<string, ulong> sorted && sorted.KeyComparer == StringComparer.Ordinal)
        {
            // The common case (the store's own vectors): one pass to check, no copy.
            var canonical = true;
            foreach (var (replica, counter) in sorted)
            {
                if (counter == 0 || replica.Length == 0)
                {
                    canonical = false;
                    break;
                }
            }

            if (canonical)
            {
                return sorted;
            }
        }

        var builder = NoEntries.ToBuilder();
        foreach (var (replica, counter) in entries)
        {
            if (string.IsNullOrEmpty(replica))
            {
                throw new ArgumentException("replica names must not be null or empty", nameof(entries));
            }

            if (builder.ContainsKey(replica))
            {
                throw new ArgumentException($"replica \"{replica}\" appears twice", nameof(entries));
            }

            if (counter != 0)
            {
                builder.Add(replica, counter);
            }
        }

        return builder.ToImmutable();
    }
}
