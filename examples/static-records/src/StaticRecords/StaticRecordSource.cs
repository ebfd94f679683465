using System.Collections.Frozen;
using System.Collections.Immutable;
using Lashup.Abstractions.Dns;
using Microsoft.Extensions.Options;

namespace StaticRecords;

/// <summary>
/// Serves the configured records from an index built once at construction: one entry per name, its records per type.
/// <see cref="Lookup"/> neither allocates nor locks.
/// </summary>
internal sealed class StaticRecordSource : IDnsRecordSource
{
    private static readonly IReadOnlyList<DnsRecord> NoRecords = ImmutableArray<DnsRecord>.Empty;

    private readonly FrozenDictionary<string, NameRecords>.AlternateLookup<ReadOnlySpan<char>> _names;

    /// <summary>Builds the index from validated options.</summary>
    /// <exception cref="ArgumentException">The options are invalid (only when constructed without the options validator).</exception>
    public StaticRecordSource(IOptions<StaticRecordsOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var records = StaticRecordParser.Parse(options.Value, errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException($"invalid static records: {string.Join("; ", errors)}", nameof(options));
        }

        Order = options.Value.Order;
        Count = records.Length;
        _names = records
            .GroupBy(r => r.Name, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => new NameRecords([.. g]), StringComparer.OrdinalIgnoreCase)
            .GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <inheritdoc/>
    public string Name => "static-records";

    /// <inheritdoc/>
    public int Order { get; }

    /// <summary>How many records the source serves.</summary>
    public int Count { get; }

    /// <summary>Never raised: the records are fixed for the life of the process.</summary>
    public event EventHandler? Changed
    {
        add { }
        remove { }
    }

    /// <summary>
    /// Looks <paramref name="name"/> up, ignoring case and a trailing dot. A name with a CNAME answers every type but
    /// ANY with its CNAME (RFC 1034 §3.6.2), so the server can follow the alias.
    /// </summary>
    public DnsLookup Lookup(string name, DnsRecordType type)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = name.EndsWith('.') ? name.AsSpan(0, name.Length - 1) : name.AsSpan();
        return _names.TryGetValue(key, out var records) ? DnsLookup.Found(records.Of(type)) : DnsLookup.Unknown;
    }

    /// <summary>The records of one name, grouped by type once so that answers are shared, not built per query.</summary>
    private sealed class NameRecords
    {
        private readonly IReadOnlyList<DnsRecord> _all;
        private readonly FrozenDictionary<DnsRecordType, IReadOnlyList<DnsRecord>> _byType;
        private readonly IReadOnlyList<DnsRecord>? _alias;

        public NameRecords(ImmutableArray<DnsRecord> records)
        {
            _all = records;
            _byType = records.GroupBy(r => r.Type).ToFrozenDictionary(g => g.Key, g => (IReadOnlyList<DnsRecord>)g.ToImmutableArray());
            _alias = _byType.GetValueOrDefault(DnsRecordType.CNAME);
        }

        /// <summary>The records of <paramref name="type"/>; all of them for ANY; the CNAME for any type at an alias; else none (NODATA).</summary>
        public IReadOnlyList<DnsRecord> Of(DnsRecordType type) =>
            type == DnsRecordType.ANY ? _all : _byType.GetValueOrDefault(type) ?? _alias ?? NoRecords;
    }
}
