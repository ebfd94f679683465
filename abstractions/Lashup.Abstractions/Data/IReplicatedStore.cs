namespace Lashup.Abstractions.Data;

/// <summary>
/// The replicated key-value store (Lashup's <c>lashup_kv</c>), provided by the <c>core</c> capability. Every node holds
/// a full replica. Values are maps of CRDT fields, read through <see cref="IMapValue"/> and changed by
/// <see cref="CrdtOp"/>s; a local update applies at once, atomically, and is sent to the other nodes as a delta, which
/// they merge: every node converges to the same value without coordination. Reads are local and never block on the
/// network.
/// </summary>
/// <remarks>
/// For unit tests, <c>Lashup.Testing.InMemoryReplicatedStore</c> implements this interface in memory, with a way to
/// simulate writes made by other nodes.
/// </remarks>
public interface IReplicatedStore
{
    /// <summary>
    /// The entry of <paramref name="key"/> as this node has it, or null if the key was never written here (or its
    /// state was collected). An entry whose fields were all removed is returned, empty (<see cref="KvEntry.IsEmpty"/>),
    /// with its version.
    /// </summary>
    KvEntry? Get(KvKey key);

    /// <summary>
    /// A snapshot of the entries with at least one present field whose key starts with <paramref name="prefix"/>
    /// (segment by segment, see <see cref="KvKey.StartsWith"/>), ordered by key. <see cref="KvKey.Root"/> lists
    /// every key.
    /// </summary>
    IReadOnlyList<KvEntry> List(KvKey prefix);

    /// <summary>
    /// Applies <paramref name="ops"/> to <paramref name="key"/>'s value as this node, atomically (all of them or none),
    /// bumps this node's entry of the key's version, persists it and replicates the delta. A key that was never
    /// written starts as the empty map. An empty <paramref name="ops"/> writes nothing and returns the current entry
    /// (after the compare-and-set check).
    /// </summary>
    /// <param name="key">The key; not <see cref="KvKey.Root"/>.</param>
    /// <param name="ops">The changes, applied in order.</param>
    /// <param name="expectedVersion">
    /// When given, a compare-and-set: the update applies only if the key's version equals it
    /// (<see cref="VersionVector.Empty"/> for "the key was never written").
    /// </param>
    /// <param name="cancellationToken">Cancels the wait; once the update is applied it is not undone.</param>
    /// <returns>The key's entry after the update (returned once it is durable locally).</returns>
    /// <exception cref="KvConflictException">The version differs from <paramref name="expectedVersion"/>.</exception>
    /// <exception cref="Data.CrdtTypeMismatchException">An op does not fit its field's type.</exception>
    /// <exception cref="KvValidationException">The key is the root, an op breaks a limit of <see cref="KvLimits"/>, a
    /// counter would leave its range, or the new value exceeds the size limit (<c>core.max_value_size</c>). Nothing is
    /// written.</exception>
    /// <exception cref="KvOverloadedException">The store is shedding load; retry later.</exception>
    ValueTask<KvEntry> UpdateAsync(
        KvKey key,
        IReadOnlyList<CrdtOp> ops,
        VersionVector? expectedVersion = null,
        CancellationToken cancellationToken = default);

    /// <summary>
    /// Watches the keys starting with <paramref name="prefix"/> (<see cref="KvKey.Root"/> for all): first every
    /// existing entry with a present field (<see cref="KvChangeKind.Snapshot"/>, in key order), then
    /// <see cref="KvChange.SnapshotComplete"/>, then each change, local or merged from a peer
    /// (<see cref="KvChangeKind.Updated"/>; a deleted key comes as an entry with an empty value), in order for each key.
    /// </summary>
    /// <remarks>
    /// A watcher never holds the store back and never builds an unbounded backlog: while it is behind, changes to a
    /// key it has not received yet replace each other, so it gets the latest value of each key (a snapshot entry
    /// may therefore already be newer, or empty). It sees every key's final state, though not every intermediate
    /// one. The snapshot is taken when enumeration starts; the sequence ends only through
    /// <paramref name="cancellationToken"/> (with an <see cref="OperationCanceledException"/>).
    /// </remarks>
    IAsyncEnumerable<KvChange> WatchAsync(KvKey prefix, CancellationToken cancellationToken);
}
