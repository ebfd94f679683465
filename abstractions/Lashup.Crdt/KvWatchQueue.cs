using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// One watcher's backlog of <see cref="KvChange"/>s, for implementations of
/// <see cref="IReplicatedStore.WatchAsync"/>: first in, first out, with at most one waiting change per key. A change to
/// a key that already waits replaces the waiting one's entry in place (keeping its position and its
/// <see cref="KvChange.Kind"/>), so a slow reader gets the latest value of each key in the order the keys first
/// changed, and the backlog is bounded by the number of keys under <see cref="Prefix"/>, never by the number of
/// writes. <see cref="KvChange.SnapshotComplete"/> (no entry) is never coalesced.
/// </summary>
/// <remarks>
/// Writers call <see cref="Enqueue"/> (it never blocks on the reader); one reader drains the queue with
/// <see cref="ReadAllAsync"/>, or with <see cref="TryDequeue"/> and <see cref="WaitAsync"/>. Thread-safe.
/// </remarks>
public sealed class KvWatchQueue
{
    private readonly Lock _lock = new();
    private readonly LinkedList<KvChange> _order = new();
    private readonly Dictionary<KvKey, LinkedListNode<KvChange>> _pending = [];
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    /// <summary>Creates an empty queue for a watch of the keys starting with <paramref name="prefix"/>.</summary>
    /// <param name="prefix">The watched prefix (<see cref="KvKey.Root"/> for all keys).</param>
    public KvWatchQueue(KvKey prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        Prefix = prefix;
    }

    /// <summary>The watched prefix; the store enqueues only changes of keys that start with it.</summary>
    public KvKey Prefix { get; }

    /// <summary>How many changes wait to be read (at most one per key, plus a waiting snapshot-complete marker).</summary>
    public int Backlog
    {
        get
        {
            lock (_lock)
            {
                return _order.Count;
            }
        }
    }

    /// <summary>
    /// Queues the start of the watch: each of <paramref name="entries"/> whose key starts with <see cref="Prefix"/>
    /// and that has a present field, as <see cref="KvChangeKind.Snapshot"/> in the order given, then
    /// <see cref="KvChange.SnapshotComplete"/>. Call it with the store's entries in key order, under the same lock
    /// that orders the store's updates, before the queue can receive them.
    /// </summary>
    /// <param name="entries">The store's entries (all of them, or any superset of those under the prefix).</param>
    public void EnqueueSnapshot(IEnumerable<KvEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        foreach (var entry in entries)
        {
            if (entry.Key.StartsWith(Prefix) && !entry.IsEmpty)
            {
                Enqueue(new KvChange(KvChangeKind.Snapshot, entry));
            }
        }

        Enqueue(KvChange.SnapshotComplete);
    }

    /// <summary>
    /// Queues <paramref name="change"/> and wakes the reader. If a change to the same key still waits, its entry is
    /// replaced by <paramref name="change"/>'s instead (same position, same kind). Never blocks on the reader.
    /// </summary>
    /// <param name="change">The change; its key is not checked against <see cref="Prefix"/>.</param>
    public void Enqueue(KvChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_lock)
        {
            if (change.Entry is { } entry && _pending.TryGetValue(entry.Key, out var node))
            {
                // Coalesce: the reader gets the latest value, in the slot (and with the kind) of the older one.
                node.Value = node.Value with { Entry = entry };
            }
            else
            {
                var added = _order.AddLast(change);
                if (change.Entry is { } e)
                {
                    _pending[e.Key] = added;
                }
            }
        }

        _signal.Writer.TryWrite(true);
    }

    /// <summary>Takes the oldest waiting change, if any.</summary>
    /// <param name="change">The change, or null when none waits.</param>
    /// <returns>Whether a change was taken.</returns>
    public bool TryDequeue([NotNullWhen(true)] out KvChange? change)
    {
        lock (_lock)
        {
            var first = _order.First;
            if (first is null)
            {
                change = null;
                return false;
            }

            _order.RemoveFirst();
            if (first.Value.Entry is { } entry)
            {
                _pending.Remove(entry.Key);
            }

            change = first.Value;
            return true;
        }
    }

    /// <summary>
    /// Waits until something was enqueued since the last wait returned (at once if it already was), or until the queue
    /// is completed. A true result does not promise a change: drain with <see cref="TryDequeue"/> after each wait.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (with an <see cref="OperationCanceledException"/>).</param>
    /// <returns>True when woken by <see cref="Enqueue"/>; false once <see cref="Complete"/> was called.</returns>
    public async ValueTask<bool> WaitAsync(CancellationToken cancellationToken) =>
        await _signal.Reader.WaitToReadAsync(cancellationToken) && _signal.Reader.TryRead(out _);

    /// <summary>
    /// Ends the watch (the store is closing): the reader gets what already waits, then <see cref="ReadAllAsync"/>
    /// ends and <see cref="WaitAsync"/> returns false. Later changes may not reach the reader.
    /// </summary>
    public void Complete() => _signal.Writer.TryComplete();

    /// <summary>
    /// The changes as they come: drains the queue, waits for more, and so on, until <see cref="Complete"/> or
    /// <paramref name="cancellationToken"/>. For the single reader of this queue.
    /// </summary>
    /// <param name="cancellationToken">Ends the sequence with an <see cref="OperationCanceledException"/>.</param>
    /// <returns>Every change taken from the queue, oldest first.</returns>
    public async IAsyncEnumerable<KvChange> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            while (TryDequeue(out var change))
            {
                yield return change;
            }

            if (!await WaitAsync(cancellationToken))
            {
                yield break;
            }
        }
    }
}
