namespace Lashup.Crdt;

/// <summary>
/// A state-based CRDT: an immutable value of a join-semilattice. <see cref="Merge"/> is the join: commutative
/// (<c>a.Merge(b) == b.Merge(a)</c>), associative and idempotent (<c>a.Merge(a) == a</c>), so replicas that have merged
/// the same values are equal whatever the order, grouping or repetition of the merges. Mutations of these types
/// return the new value and a <em>delta</em> of the same type such that <c>old.Merge(delta) == new</c>; deltas are
/// merged with the same <see cref="Merge"/> (Almeida et al., "Delta State Replicated Data Types").
/// </summary>
/// <typeparam name="T">The implementing type.</typeparam>
public interface IReplicatedData<T>
    where T : IReplicatedData<T>
{
    /// <summary>The join of this value and <paramref name="other"/>. Pure: neither value changes.</summary>
    T Merge(T other);
}
