using System.Collections.Concurrent;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// The answer cache: bounded by entries and by octets, evicting with CLOCK (second chance, an approximation of LRU
/// in O(1) amortized). Lookups take no lock and allocate nothing: a lock-free dictionary read through
/// <see cref="CacheKeyView"/>, a timestamp, and a reference bit set. Inserts and evictions take one lock; they follow
/// an upstream round trip, so they are rare next to hits.
/// </summary>
internal sealed class ForwarderCache
{
    private readonly ConcurrentDictionary<CacheKey, Entry> _entries;
    private readonly ConcurrentDictionary<CacheKey, Entry>.AlternateLookup<CacheKeyView> _lookup;
    private readonly TimeProvider _time;
    private readonly long _frequency;
    private readonly long _maxBytes;
    private readonly Lock _gate = new();
    private readonly Entry?[] _slots;
    private readonly int[] _free;
    private int _freeCount;
    private int _hand;
    private int _count;
    private long _bytes;
    private long _evictions;

    public ForwarderCache(int capacity, long maxBytes, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        _time = time;
        _frequency = time.TimestampFrequency;
        _maxBytes = maxBytes;
        _slots = new Entry?[capacity];
        _free = new int[capacity];
        for (var i = 0; i < capacity; i++)
        {
            _free[i] = capacity - 1 - i;
        }

        _freeCount = capacity;
        _entries = new ConcurrentDictionary<CacheKey, Entry>(concurrencyLevel: 1, capacity: Math.Min(capacity, 1024), CacheKeyComparer.Instance);
        _lookup = _entries.GetAlternateLookup<CacheKeyView>();
    }

    /// <summary>Entries held (expired ones included until they are evicted or replaced).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Octets of answers held.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Entries pushed out to make room.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>An unexpired answer for <paramref name="key"/> and the whole seconds it has spent in the cache.</summary>
    public bool TryGet(scoped in CacheKeyView key, out ForwardedAnswer answer, out uint elapsedSeconds)
    {
        if (_lookup.TryGetValue(key, out var entry))
        {
            var now = _time.GetTimestamp();
            if (now < entry.ExpiresAt)
            {
                if (!entry.Referenced)
                {
                    entry.Referenced = true;
                }

                answer = entry.Answer;
                elapsedSeconds = (uint)Math.Max(0, (now - entry.StoredAt) / _frequency);
                return true;
            }
        }

        answer = null!;
        elapsedSeconds = 0;
        return false;
    }

    /// <summary>Stores an answer whose <see cref="ForwardedAnswer.CacheTtl"/> is positive, replacing one for the same key.</summary>
    public void Set(CacheKey key, ForwardedAnswer answer)
    {
        if (answer.CacheTtl == 0 || answer.Length > _maxBytes)
        {
            return;
        }

        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                RemoveLocked(existing);
            }

            while (_count > 0 && (_freeCount == 0 || _bytes + answer.Length > _maxBytes))
            {
                EvictOneLocked(now);
            }

            var slot = _free[--_freeCount];
            var entry = new Entry(key, answer, slot, now, now + (answer.CacheTtl * _frequency));
            _slots[slot] = entry;
            _entries[key] = entry;
            _count++;
            _bytes += answer.Length;
        }
    }

    /// <summary>Drops every entry (the server's zones changed).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
            Array.Clear(_slots);
            for (var i = 0; i < _slots.Length; i++)
            {
                _free[i] = _slots.Length - 1 - i;
            }

            _freeCount = _slots.Length;
            _hand = 0;
            _count = 0;
            _bytes = 0;
        }
    }

    /// <summary>
    /// Advances the hand to the first entry that is expired or was not read since the hand last passed, clearing the
    /// reference bits on the way, and removes it. Two passes at most, since the first clears every bit.
    /// </summary>
    private void EvictOneLocked(long now)
    {
        while (true)
        {
            var entry = _slots[_hand];
            _hand = _hand + 1 == _slots.Length ? 0 : _hand + 1;
            if (entry is null)
            {
                continue;
            }

            if (entry.Referenced && now < entry.ExpiresAt)
            {
                entry.Referenced = false;
                continue;
            }

            RemoveLocked(entry);
            if (now < entry.ExpiresAt)
            {
                _evictions++;
            }

            return;
        }
    }

    private void RemoveLocked(Entry entry)
    {
        _entries.TryRemove(new KeyValuePair<CacheKey, Entry>(entry.Key, entry));
        _slots[entry.Slot] = null;
        _free[_freeCount++] = entry.Slot;
        _count--;
        _bytes -= entry.Answer.Length;
    }

    private sealed class Entry(CacheKey key, ForwardedAnswer answer, int slot, long storedAt, long expiresAt)
    {
        public CacheKey Key { get; } = key;

        public ForwardedAnswer Answer { get; } = answer;

        public int Slot { get; } = slot;

        public long StoredAt { get; } = storedAt;

        public long ExpiresAt { get; } = expiresAt;

        /// <summary>Read since the clock hand last passed (a benign race: a lost write only costs a second chance).</summary>
        public bool Referenced { get; set; }
    }
}
