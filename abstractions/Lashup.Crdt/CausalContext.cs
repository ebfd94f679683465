using System.Collections.Immutable;
using System.Text;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// The set of events (dots) a CRDT value has seen, kept compact: a <see cref="VersionVector"/> for every replica's
/// contiguous prefix of events (1..n) plus a <see cref="Cloud"/> of the dots beyond a gap. States built by local
/// operations have an empty cloud; deltas, and states that merged deltas out of order, carry non-contiguous dots.
/// </summary>
/// <remarks>
/// Every instance is kept in canonical (compacted) form: cloud dots already covered by the vector are dropped and cloud
/// dots contiguous with the vector are folded into it, by the constructor and by every operation, so two contexts
/// holding the same dots are <see cref="Equals(CausalContext?)"/> and compaction never needs to be requested.
/// <para>
/// <see cref="Without"/> drops a replica's dots. Done alone on one replica it is unsafe: a peer still holding those
/// dots would bring removed elements back, or an element whose dot is no longer covered would be treated as unseen.
/// It is one step of the store's coordinated pruning protocol (the removed replica's live contributions are first
/// collapsed into another replica's fresh dots, and every replica then cleans up what it merges; see
/// <see cref="CrdtMap.Collapse"/> and <see cref="CrdtMap.Cleanup"/>).
/// </para>
/// </remarks>
public sealed class CausalContext : IReplicatedData<CausalContext>, IEquatable<CausalContext>
{
    private CausalContext(VersionVector vector, ImmutableSortedSet<Dot> cloud, bool canonical)
    {
        if (canonical)
        {
            Vector = vector;
            Cloud = cloud;
        }
        else
        {
            (Vector, Cloud) = Compact(vector, cloud);
        }
    }

    /// <summary>Creates a context from raw parts (e.g. when deserializing); the result is compacted.</summary>
    /// <param name="vector">The contiguous part.</param>
    /// <param name="cloud">Further dots; any that the vector covers or that extend it contiguously are folded in.</param>
    public CausalContext(VersionVector vector, IEnumerable<Dot> cloud)
        : this(vector ?? throw new ArgumentNullException(nameof(vector)),
            cloud as ImmutableSortedSet<Dot> ?? ImmutableSortedSet.CreateRange(cloud ?? throw new ArgumentNullException(nameof(cloud))),
            canonical: false)
    {
    }

    /// <summary>The context that has seen nothing.</summary>
    public static CausalContext Empty { get; } = new(VersionVector.Empty, ImmutableSortedSet<Dot>.Empty, canonical: true);

    /// <summary>For every replica, the counter n such that its dots 1..n have all been seen.</summary>
    public VersionVector Vector { get; }

    /// <summary>Seen dots that are not contiguous with <see cref="Vector"/> (never covered by it).</summary>
    public ImmutableSortedSet<Dot> Cloud { get; }

    /// <summary>Whether no dot has been seen.</summary>
    public bool IsEmpty => Vector.IsEmpty && Cloud.IsEmpty;

    /// <summary>A context holding exactly <paramref name="dots"/> (compacted).</summary>
    public static CausalContext FromDots(IEnumerable<Dot> dots) => new(VersionVector.Empty, dots);

    /// <summary>Whether <paramref name="dot"/> has been seen.</summary>
    public bool Contains(Dot dot) => Vector.Contains(dot) || (!Cloud.IsEmpty && Cloud.Contains(dot));

    /// <summary>This context with <paramref name="dot"/> seen too.</summary>
    public CausalContext Add(Dot dot)
    {
        if (Contains(dot))
        {
            return this;
        }

        if (dot.Counter == Vector[dot.Replica] + 1)
        {
            // Extends the contiguous part; pull in cloud dots that now follow on.
            var counter = dot.Counter;
            var cloud = Cloud;
            while (counter < ulong.MaxValue && cloud.Contains(new Dot(dot.Replica, counter + 1)))
            {
                counter++;
                cloud = cloud.Remove(new Dot(dot.Replica, counter));
            }

            return new(new VersionVector(Vector.Entries.SetItem(dot.Replica, counter)), cloud, canonical: true);
        }

        return new(Vector, Cloud.Add(dot), canonical: true);
    }

    /// <summary>Whether any dot of <paramref name="replica"/> has been seen.</summary>
    public bool Mentions(string replica) => Vector[replica] != 0 || Pruning.Mentions(Cloud, replica);

    /// <summary>This context without any dot of <paramref name="replica"/> (see the remarks: one step of pruning).</summary>
    public CausalContext Without(string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        if (!Mentions(replica))
        {
            return this;
        }

        // Removing one replica's dots leaves every other replica's compaction as it was: still canonical.
        var cloud = Pruning.Mentions(Cloud, replica)
            ? Cloud.Where(d => !string.Equals(d.Replica, replica, StringComparison.Ordinal)).ToImmutableSortedSet()
            : Cloud;
        return new(Vector.Without(replica), cloud, canonical: true);
    }

    /// <summary>The union of both contexts (compacted).</summary>
    public CausalContext Merge(CausalContext other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.IsEmpty || ReferenceEquals(this, other))
        {
            return this;
        }

        if (IsEmpty)
        {
            return other;
        }

        var vector = Vector.Merge(other.Vector);
        if (Cloud.IsEmpty && other.Cloud.IsEmpty)
        {
            return ReferenceEquals(vector, Vector) ? this : ReferenceEquals(vector, other.Vector) ? other : new(vector, Cloud, canonical: true);
        }

        var merged = new CausalContext(vector, Cloud.Union(other.Cloud), canonical: false);
        return merged.Equals(this) ? this : merged;
    }

    /// <summary>
    /// The next dot <paramref name="replica"/> should generate: one past the highest of its dots seen here. A replica
    /// must only generate dots from a context that holds all of its own earlier dots (its own state), or it would
    /// reuse a dot.
    /// </summary>
    /// <exception cref="OverflowException">The replica's counter is exhausted.</exception>
    public Dot Next(string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        var max = Vector[replica];
        foreach (var dot in Cloud)
        {
            if (string.Equals(dot.Replica, replica, StringComparison.Ordinal) && dot.Counter > max)
            {
                max = dot.Counter;
            }
        }

        return new Dot(replica, checked(max + 1));
    }

    /// <summary>An approximate encoded size in bytes.</summary>
    public int EstimateSize() => Vector.EstimateSize() + SizeEstimate.Dots(Cloud);

    /// <inheritdoc/>
    public bool Equals(CausalContext? other) =>
        other is not null && (ReferenceEquals(this, other) || (Vector.Equals(other.Vector) && Cloud.SetEquals(other.Cloud)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as CausalContext);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Vector);
        foreach (var dot in Cloud)
        {
            hash.Add(dot);
        }

        return hash.ToHashCode();
    }

    /// <summary>Formats as <c>[a:3, b:1]</c>, followed by <c>+{c:5, c:7}</c> when the cloud is not empty.</summary>
    public override string ToString()
    {
        if (Cloud.IsEmpty)
        {
            return Vector.ToString();
        }

        var sb = new StringBuilder(Vector.ToString()).Append("+{");
        sb.AppendJoin(", ", Cloud);
        return sb.Append('}').ToString();
    }

    /// <summary>Whether <paramref name="dots"/> are all contained (cheap check before merging).</summary>
    internal bool ContainsAll(IEnumerable<Dot> dots)
    {
        foreach (var dot in dots)
        {
            if (!Contains(dot))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>This context plus <paramref name="dots"/>.</summary>
    internal CausalContext AddRange(IReadOnlyCollection<Dot> dots)
    {
        if (dots.Count == 0 || ContainsAll(dots))
        {
            return this;
        }

        if (dots.Count == 1)
        {
            return Add(dots.First());
        }

        return new(Vector, Cloud.Union(dots), canonical: false);
    }

    private static (VersionVector Vector, ImmutableSortedSet<Dot> Cloud) Compact(VersionVector vector, ImmutableSortedSet<Dot> cloud)
    {
        if (cloud.IsEmpty)
        {
            return (vector, cloud);
        }

        ImmutableSortedDictionary<string, ulong>.Builder? entries = null;
        var kept = ImmutableSortedSet.CreateBuilder<Dot>();
        string? replica = null;
        ulong max = 0, start = 0;
        foreach (var dot in cloud)
        {
            // The cloud is sorted by replica then counter, so one pass folds each replica's contiguous run.
            if (!string.Equals(dot.Replica, replica, StringComparison.Ordinal))
            {
                Flush();
                replica = dot.Replica;
                max = start = vector[replica];
            }

            if (dot.Counter <= max)
            {
                continue;
            }

            if (dot.Counter == max + 1)
            {
                max++;
            }
            else
            {
                kept.Add(dot);
            }
        }

        Flush();
        var compacted = entries is null ? vector : new VersionVector(entries.ToImmutable());
        return (compacted, kept.Count == cloud.Count ? cloud : kept.ToImmutable());

        void Flush()
        {
            if (replica is not null && max != start)
            {
                entries ??= vector.Entries.ToBuilder();
                entries[replica] = max;
            }
        }
    }
}
