using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Lashup.Abstractions.Data;
using Lashup.Crdt;

namespace Lashup.Testing;

/// <summary>
/// An in-memory <see cref="IReplicatedStore"/> holding one replica, for unit-testing plugins without a cluster. Values
/// are applied and merged by the core's own CRDT implementation (Lashup.Crdt), so they behave exactly as in a cluster;
/// updates bump this replica's entry of the key's version vector; watchers see the snapshot, then every change,
/// coalesced per key while they are behind, like the real store (both pass the same conformance suite).
/// <see cref="ApplyRemote"/> and <see cref="MergeRemote"/> simulate writes made on other nodes. Thread-safe.
/// </summary>
public sealed class InMemoryReplicatedStore : IReplicatedStore
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly List<KvWatchQueue> _watchers = [];
    private ImmutableSortedDictionary<KvKey, KvEntry> _entries = ImmutableSortedDictionary<KvKey, KvEntry>.Empty;
    private volatile bool _overloaded;

    /// <summary>Creates an empty store for the replica (node) <paramref name="replica"/>.</summary>
    /// <param name="replica">This node's name: local updates are made as this replica.</param>
    /// <param name="time">The clock for register timestamps (Unix milliseconds); the system clock by default.</param>
    public InMemoryReplicatedStore(string replica = "node-1", TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        Replica = replica;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>This store's replica (node) name.</summary>
    public string Replica { get; }

    /// <summary>
    /// The largest value (by the core's size estimate of its encoding) a local update may produce; larger ones fail with
    /// <see cref="KvValidationException"/>. 1 MiB by default.
    /// </summary>
    public int MaxValueBytes { get; init; } = 1 << 20;

    /// <summary>While true, local updates fail with <see cref="KvOverloadedException"/> (to test a plugin's back-off).</summary>
    public bool Overloaded
    {
        get => _overloaded;
        set => _overloaded = value;
    }

    /// <summary>How many watchers are enumerating (a cancelled watch is removed when its enumeration ends).</summary>
    public int WatcherCount
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Count;
            }
        }
    }

    /// <inheritdoc/>
    public KvEntry? Get(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_lock)
        {
            return _entries.GetValueOrDefault(key);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<KvEntry> List(KvKey prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ImmutableSortedDictionary<KvKey, KvEntry> entries;
        lock (_lock)
        {
            entries = _entries;
        }

        return [.. entries.Values.Where(e => e.Key.StartsWith(prefix) && !e.IsEmpty)];
    }

    /// <inheritdoc/>
    public ValueTask<KvEntry> UpdateAsync(
        KvKey key,
        IReadOnlyList<CrdtOp> ops,
        VersionVector? expectedVersion = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(ops);
        cancellationToken.ThrowIfCancellationRequested();
        if (key.IsRoot)
        {
            throw new KvValidationException(key, "the root key names no value; updates need a key such as \"lb/vips/web:80\"");
        }

        if (_overloaded)
        {
            throw new KvOverloadedException("the in-memory store is set to Overloaded", TimeSpan.FromMilliseconds(100));
        }

        // The real store's limits (KvLimits): a plugin whose updates pass here passes there.
        KvLimits.Validate(key, ops);
        lock (_lock)
        {
            var current = EntryOrEmpty(key);
            if (expectedVersion is not null && !expectedVersion.Equals(current.Version))
            {
                throw new KvConflictException(key, expectedVersion, current);
            }

            CrdtMap value, delta;
            try
            {
                (value, delta) = current.Map.Apply(ops, Replica, _time.GetUtcNow().ToUnixTimeMilliseconds());
            }
            catch (OverflowException e)
            {
                throw new KvValidationException(key, e.Message);
            }

            if (delta.IsBottom)
            {
                return ValueTask.FromResult(current);
            }

            var size = value.EstimateSize();
            if (size > MaxValueBytes)
            {
                throw new KvValidationException(key, $"the value of \"{key}\" would be about {size} bytes; the limit is {MaxValueBytes}");
            }

            return ValueTask.FromResult(Store(new KvEntry(key, value, current.Version.Increment(Replica))));
        }
    }

    /// <summary>
    /// Simulates an update made on another node that had seen everything this store has: applies
    /// <paramref name="ops"/> as <paramref name="replica"/> and bumps that replica's entry of the version. Watchers
    /// see it like any merged remote change.
    /// </summary>
    /// <returns>The key's entry after the update (to feed another store's <see cref="MergeRemote"/>).</returns>
    /// <exception cref="CrdtTypeMismatchException">An op does not fit its field's type (nothing changes).</exception>
    public KvEntry ApplyRemote(string replica, KvKey key, IReadOnlyList<CrdtOp> ops)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(ops);
        ThrowIfRoot(key);

        lock (_lock)
        {
            var current = EntryOrEmpty(key);
            var (value, delta) = current.Map.Apply(ops, replica, _time.GetUtcNow().ToUnixTimeMilliseconds());
            return delta.IsBottom ? current : Store(new KvEntry(key, value, current.Version.Increment(replica)));
        }
    }

    /// <summary>
    /// Merges the entry another node holds (its whole value and version, as the real store's anti-entropy does):
    /// concurrent updates on both sides are all kept, as the CRDTs decide (an add concurrent with a remove wins, ...).
    /// Watchers are told only when something changed. Take <paramref name="remote"/> from another
    /// <see cref="InMemoryReplicatedStore"/> (<see cref="Get"/>, <see cref="UpdateAsync"/>, <see cref="ApplyRemote"/>).
    /// </summary>
    /// <returns>The key's entry after the merge.</returns>
    /// <exception cref="ArgumentException">The entry's value was not made by a store (e.g. a hand-made fake).</exception>
    public KvEntry MergeRemote(KvEntry remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ThrowIfRoot(remote.Key);
        if (remote.Value is not CrdtMap value)
        {
            throw new ArgumentException("the entry's value was not made by a store; take it from another InMemoryReplicatedStore", nameof(remote));
        }

        lock (_lock)
        {
            var current = EntryOrEmpty(remote.Key);
            var merged = new KvEntry(remote.Key, current.Map.Merge(value), current.Version.Merge(remote.Version));
            return merged.Value.Equals(current.Value) && merged.Version.Equals(current.Version)
                ? current
                : Store(merged);
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<KvChange> WatchAsync(KvKey prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var queue = new KvWatchQueue(prefix);
        lock (_lock)
        {
            queue.EnqueueSnapshot(_entries.Values);
            _watchers.Add(queue);
        }

        try
        {
            await foreach (var change in queue.ReadAllAsync(cancellationToken))
            {
                yield return change;
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(queue);
            }
        }
    }

    /// <summary>The validation of <see cref="ApplyRemote"/> and <see cref="MergeRemote"/>: the root key names no value.</summary>
    private static void ThrowIfRoot(KvKey key)
    {
        if (key.IsRoot)
        {
            throw new KvValidationException(key, "the root key names no value");
        }
    }

    /// <summary>The key's entry, or an empty one with an empty version if it was never written; called under the lock.</summary>
    private KvEntry EntryOrEmpty(KvKey key) => _entries.GetValueOrDefault(key) ?? new KvEntry(key, CrdtMap.Empty, VersionVector.Empty);

    /// <summary>Stores an entry and queues it for watchers; called under the lock.</summary>
    private KvEntry Store(KvEntry entry)
    {
        _entries = _entries.SetItem(entry.Key, entry);
        foreach (var watcher in _watchers)
        {
            if (entry.Key.StartsWith(watcher.Prefix))
            {
                watcher.Enqueue(new KvChange(KvChangeKind.Updated, entry));
            }
        }

        return entry;
    }
}
