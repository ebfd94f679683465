namespace Lashup.Plugins.Core.Protocol;

/// <summary>A map that keeps at most <c>capacity</c> entries, evicting the least recently used. Not thread-safe.</summary>
internal sealed class BoundedLru<TKey, TValue>(int capacity, IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    private readonly Dictionary<TKey, LinkedListNode<(TKey Key, TValue Value)>> _map = new(comparer);
    private readonly LinkedList<(TKey Key, TValue Value)> _order = [];

    public int Count => _map.Count;

    public int Capacity => capacity;

    /// <summary>Entries evicted to make room, since creation.</summary>
    public long Evictions { get; private set; }

    public bool ContainsKey(TKey key) => _map.ContainsKey(key);

    /// <summary>Looks <paramref name="key"/> up and marks it as just used.</summary>
    public bool TryGetValue(TKey key, out TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            _order.AddFirst(node);
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }

    /// <summary>Adds or replaces <paramref name="key"/>, evicting the least recently used entry if full.</summary>
    public void Set(TKey key, TValue value)
    {
        if (_map.TryGetValue(key, out var node))
        {
            _order.Remove(node);
            node.Value = (key, value);
            _order.AddFirst(node);
            return;
        }

        if (_map.Count >= capacity && _order.Last is { } last)
        {
            _order.RemoveLast();
            _map.Remove(last.Value.Key);
            Evictions++;
        }

        _map[key] = _order.AddFirst((key, value));
    }

    public bool Remove(TKey key, out TValue value)
    {
        if (_map.Remove(key, out var node))
        {
            _order.Remove(node);
            value = node.Value.Value;
            return true;
        }

        value = default!;
        return false;
    }
}
