namespace Lashup.Abstractions.Data;

/// <summary>A key of the replicated store with its value and version. Immutable.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">
/// The value, a map of CRDT fields, read-only. A key that was deleted (all its fields removed) has a value with no
/// present field (<see cref="IMapValue.IsEmpty"/>); it keeps its version, so a compare-and-set can still be made
/// against it.
/// </param>
/// <param name="Version">
/// The key's version vector: each replica's count of updates to this key that this node has merged. Pass it back as
/// the expected version of <see cref="IReplicatedStore.UpdateAsync"/> for a compare-and-set.
/// </param>
public sealed record KvEntry(KvKey Key, IMapValue Value, VersionVector Version)
{
    /// <summary>Whether the value has no present field (the key is deleted or was never written).</summary>
    public bool IsEmpty => Value.IsEmpty;
}

/// <summary>What a <see cref="KvChange"/> reports.</summary>
public enum KvChangeKind
{
    /// <summary>An entry that existed when the watch started (part of the initial snapshot).</summary>
    Snapshot = 0,

    /// <summary>The end of the initial snapshot: every existing entry has been delivered (sent even when there was none).</summary>
    SnapshotComplete = 1,

    /// <summary>An entry changed after the watch started (its value may be empty: the key was deleted).</summary>
    Updated = 2,
}

/// <summary>One event of <see cref="IReplicatedStore.WatchAsync"/>.</summary>
/// <param name="Kind">What the event reports.</param>
/// <param name="Entry">The entry, latest value first (null only for <see cref="KvChangeKind.SnapshotComplete"/>).</param>
public sealed record KvChange(KvChangeKind Kind, KvEntry? Entry)
{
    /// <summary>The event that ends the initial snapshot.</summary>
    public static KvChange SnapshotComplete { get; } = new(KvChangeKind.SnapshotComplete, null);

    /// <summary>Whether this event is part of the initial snapshot (an entry that existed when the watch started).</summary>
    public bool IsSnapshot => Kind == KvChangeKind.Snapshot;
}
