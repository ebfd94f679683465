using System.Collections.Concurrent;
using System.Collections.Immutable;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// The in-memory index the server answers from: lower-case wire name → <see cref="NameNode"/>, searchable with the
/// query's name span. Readers (the query threads) never lock: a node is immutable and replaced whole. Writers
/// (the KV and membership watchers) go through <see cref="SetOwner"/> under one lock.
/// <para>
/// Records are grouped by owner: a service key, a VIP name, a node, a zone apex. Setting an owner's records touches
/// only the names it had or has, so a KV change costs in proportion to that one service, not the zone. Names inside a
/// zone also make their ancestors exist (empty non-terminals: <c>node.&lt;zone&gt;</c>, <c>_tcp.web.&lt;zone&gt;</c>), so
/// that a query for those gets NODATA, not NXDOMAIN (RFC 8020).
/// </para>
/// </summary>
internal sealed class RecordIndex
{
    private readonly ConcurrentDictionary<byte[], NameNode> _nodes = new(WireNameComparer.Instance);
    private readonly ConcurrentDictionary<byte[], NameNode>.AlternateLookup<ReadOnlySpan<byte>> _lookup;
    private readonly Lock _writeLock = new();
    private readonly Dictionary<string, ImmutableArray<IndexedRecord>> _owners = new(StringComparer.Ordinal);
    // Name → the records each owner has there. Almost every name has one owner, so a small array of pairs, replaced
    // on change, rather than a dictionary per name (which cost about 200 bytes a name).
    private readonly Dictionary<string, OwnerRecords[]> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _descendants = new(StringComparer.Ordinal);
    private readonly ImmutableArray<string> _zones;
    private readonly ZoneSettings _settings;
    private long _version;
    private int _recordCount;
    private bool _loaded;

    public RecordIndex(IEnumerable<string> zones, ZoneSettings settings)
    {
        _lookup = _nodes.GetAlternateLookup<ReadOnlySpan<byte>>();
        _zones = [.. zones.Select(DnsName.Normalize)];
        _settings = settings;
    }

    public ZoneSettings Settings => _settings;

    /// <summary>Increases on every change (the SOA serial and caches can follow it).</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Names in the index, empty non-terminals included.</summary>
    public int NameCount => _nodes.Count;

    /// <summary>
    /// Whether the index holds the store's state (the watches delivered their snapshots). Until then a name missing
    /// here may only not be loaded yet, so the server answers SERVFAIL rather than a cacheable NXDOMAIN.
    /// </summary>
    public bool IsLoaded
    {
        get => Volatile.Read(ref _loaded);
        set => Volatile.Write(ref _loaded, value);
    }

    /// <summary>Records in the index.</summary>
    public int RecordCount => Volatile.Read(ref _recordCount);

    /// <summary>Raised after each change, outside the write lock.</summary>
    public event Action? Changed;

    /// <summary>The node of a lower-case wire name, or null. Allocation-free.</summary>
    public NameNode? Find(ReadOnlySpan<byte> lowerCaseWireName) =>
        _lookup.TryGetValue(lowerCaseWireName, out var node) ? node : null;

    /// <summary>The records of an owner, as last set.</summary>
    public ImmutableArray<IndexedRecord> GetOwner(string owner)
    {
        lock (_writeLock)
        {
            return _owners.GetValueOrDefault(owner, []);
        }
    }

    /// <summary>Replaces the records of <paramref name="owner"/>; an empty list removes the owner.</summary>
    public void SetOwner(string owner, IEnumerable<IndexedRecord> records)
    {
        var next = Normalize(records);
        lock (_writeLock)
        {
            var previous = _owners.GetValueOrDefault(owner, []);
            if (previous.SequenceEqual(next))
            {
                return;
            }

            if (next.IsEmpty)
            {
                _owners.Remove(owner);
            }
            else
            {
                _owners[owner] = next;
            }

            var affected = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in previous.GroupBy(r => r.Name, StringComparer.Ordinal))
            {
                affected.Add(group.Key);
                var owners = _byName[group.Key].Where(o => o.Owner != owner).ToArray();
                if (owners.Length == 0)
                {
                    _byName.Remove(group.Key);
                    AdjustAncestors(group.Key, -1, affected);
                }
                else
                {
                    _byName[group.Key] = owners;
                }
            }

            foreach (var group in next.GroupBy(r => r.Name, StringComparer.Ordinal))
            {
                affected.Add(group.Key);
                if (!_byName.TryGetValue(group.Key, out var owners))
                {
                    owners = [];
                    AdjustAncestors(group.Key, +1, affected);
                }

                _byName[group.Key] = [.. owners, new OwnerRecords(owner, [.. group])];
            }

            // Only now, with every name and ancestor count updated, are nodes rebuilt: a name that is removed and
            // re-added by this change (a service's own name, when its instances change) is never published empty.
            _recordCount += next.Length - previous.Length;
            foreach (var name in affected)
            {
                Rebuild(name);
            }

            Interlocked.Increment(ref _version);
        }

        Changed?.Invoke();
    }

    /// <summary>
    /// Sorted, without duplicates, and without records whose names cannot be encoded (a label over 63 octets, a name
    /// over 255): replicated data is not trusted, and one bad registration must not break the index.
    /// </summary>
    private static ImmutableArray<IndexedRecord> Normalize(IEnumerable<IndexedRecord> records) =>
        [.. records.Where(IsEncodable).Distinct().OrderBy(r => r.Name, StringComparer.Ordinal).ThenBy(r => r.Type)];

    private static bool IsEncodable(IndexedRecord record)
    {
        Span<byte> wire = stackalloc byte[DnsName.MaxLength];
        return DnsName.TryFromText(record.Name, wire, out _)
            && (record.Target is null || DnsName.TryFromText(record.Target, wire, out _))
            && (record.Type != DnsRecordType.SOA || DnsName.TryFromText(record.Text, wire, out _));
    }

    /// <summary>Counts <paramref name="name"/> in each of its ancestors up to its zone apex, creating or dropping empty non-terminals.</summary>
    private void AdjustAncestors(string name, int delta, HashSet<string> affected)
    {
        var zone = ZoneOf(name);
        if (zone is null)
        {
            return;
        }

        var ancestor = name;
        while (ancestor.Length > zone.Length)
        {
            ancestor = ancestor[(ancestor.IndexOf('.') + 1)..];
            var count = _descendants.GetValueOrDefault(ancestor) + delta;
            if (count <= 0)
            {
                _descendants.Remove(ancestor);
            }
            else
            {
                _descendants[ancestor] = count;
            }

            affected.Add(ancestor);
        }
    }

    private string? ZoneOf(string name)
    {
        foreach (var zone in _zones)
        {
            if (name.Length > zone.Length && name.EndsWith(zone, StringComparison.Ordinal) && name[name.Length - zone.Length - 1] == '.')
            {
                return zone;
            }
        }

        return null;
    }

    private void Rebuild(string name)
    {
        var wire = DnsName.FromText(name);
        if (!_byName.TryGetValue(name, out var owners))
        {
            if (_descendants.ContainsKey(name))
            {
                _nodes[wire] = new NameNode(wire, []);
            }
            else
            {
                _nodes.TryRemove(wire, out _);
            }

            return;
        }

        // An SRV set carries the addresses of its targets (additional section). Producers keep targets in the same
        // owner as the SRV records (an instance name and its service), so both are rebuilt by the same SetOwner.
        var all = owners.SelectMany(o => o.Records).Distinct().ToImmutableArray();
        var sets = ImmutableArray.CreateBuilder<RecordSet>();
        foreach (var byType in all.GroupBy(r => r.Type))
        {
            var records = byType.ToImmutableArray();
            var additional = byType.Key == DnsRecordType.SRV ? AddressesOf(records.Select(r => r.Target!)) : [];
            sets.Add(RecordSet.Create(wire, byType.Key, records, additional, _settings));
        }

        _nodes[wire] = new NameNode(wire, sets.ToImmutable());
    }

    private ImmutableArray<IndexedRecord> AddressesOf(IEnumerable<string> targets)
    {
        var result = ImmutableArray.CreateBuilder<IndexedRecord>();
        foreach (var target in targets.Distinct(StringComparer.Ordinal))
        {
            if (_byName.TryGetValue(target, out var owners))
            {
                result.AddRange(owners.SelectMany(o => o.Records).Where(r => r.Type is DnsRecordType.A or DnsRecordType.AAAA).Distinct());
            }
        }

        return result.ToImmutable();
    }
}

/// <summary>The records one owner has at one name.</summary>
internal readonly record struct OwnerRecords(string Owner, ImmutableArray<IndexedRecord> Records);

/// <summary>One name of the index: its record sets by type (none for an empty non-terminal). Immutable.</summary>
internal sealed class NameNode(byte[] wireName, ImmutableArray<RecordSet> sets)
{
    public byte[] WireName { get; } = wireName;

    public ImmutableArray<RecordSet> Sets { get; } = sets;

    /// <summary>Whether the name has no records (an empty non-terminal).</summary>
    public bool IsEmpty => Sets.IsEmpty;

    /// <summary>Every record of the name (for ANY; built per call, ANY is rare).</summary>
    public ImmutableArray<IndexedRecord> All => [.. Sets.SelectMany(s => s.Records)];

    public RecordSet? Find(DnsRecordType type)
    {
        foreach (var set in Sets)
        {
            if (set.Type == type)
            {
                return set;
            }
        }

        return null;
    }
}
