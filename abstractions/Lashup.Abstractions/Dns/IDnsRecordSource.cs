namespace Lashup.Abstractions.Dns;

/// <summary>
/// A source of DNS records chained into the Lashup DNS server, like a CoreDNS plugin. The server asks sources in
/// <see cref="Order"/> for names under the zones it serves; the first source that knows the name answers. Sources
/// answer from memory: <see cref="Lookup"/> runs on the query hot path and must not block or do I/O.
/// </summary>
public interface IDnsRecordSource
{
    /// <summary>A short name for logs and metrics.</summary>
    string Name { get; }

    /// <summary>Lower values are asked first. Built-in sources use 0 (KV records); vendors usually use 100 and up.</summary>
    int Order { get; }

    /// <summary>Looks up <paramref name="name"/> (absolute, lower case, no trailing dot).</summary>
    /// <param name="name">The queried name.</param>
    /// <param name="type">The queried type; <see cref="DnsRecordType.ANY"/> asks for every type the name has.</param>
    /// <returns>
    /// <see cref="DnsLookup.Unknown"/> if this source does not know the name (the next source is asked);
    /// otherwise the records of that type (empty when the name exists with other types only: NODATA).
    /// </returns>
    DnsLookup Lookup(string name, DnsRecordType type);

    /// <summary>Signals a change in the source's records, so caches drop answers derived from it.</summary>
    event EventHandler? Changed;
}

/// <summary>The answer of an <see cref="IDnsRecordSource"/>.</summary>
/// <param name="Known">Whether the source owns the name.</param>
/// <param name="Records">The records of the asked type; empty with <paramref name="Known"/> set means NODATA.</param>
public readonly record struct DnsLookup(bool Known, IReadOnlyList<DnsRecord> Records)
{
    /// <summary>The source does not know the name.</summary>
    public static DnsLookup Unknown => new(false, []);

    /// <summary>The source owns the name and has these records of the asked type.</summary>
    public static DnsLookup Found(IReadOnlyList<DnsRecord> records) => new(true, records);
}
