using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// What makes two questions the same for the cache and for coalescing: the lower-cased name, QTYPE, QCLASS, and the
/// DO and CD bits (they change what a validating upstream answers). Stored in the dictionaries; looked up without
/// allocating through <see cref="CacheKeyView"/>.
/// </summary>
internal sealed class CacheKey
{
    public const byte DnssecOkFlag = 1;
    public const byte CheckingDisabledFlag = 2;

    private readonly byte[] _name;

    public CacheKey(ReadOnlySpan<byte> lowerCaseName, DnsRecordType type, ushort questionClass, byte flags, int hash)
    {
        _name = lowerCaseName.ToArray();
        Type = type;
        Class = questionClass;
        Flags = flags;
        Hash = hash;
    }

    /// <summary>The name, wire form, lower case.</summary>
    public ReadOnlySpan<byte> Name => _name;

    public DnsRecordType Type { get; }

    public ushort Class { get; }

    public byte Flags { get; }

    public int Hash { get; }

    public bool DnssecOk => (Flags & DnssecOkFlag) != 0;

    public bool CheckingDisabled => (Flags & CheckingDisabledFlag) != 0;

    public static CacheKey From(in CacheKeyView view) => new(view.Name, view.Type, view.Class, view.Flags, view.Hash);

    public override string ToString() => $"{DnsName.ToText(_name)} {Type} class {Class} flags {Flags}";
}

/// <summary>A <see cref="CacheKey"/> over a parsed query, for lookups that allocate nothing.</summary>
internal readonly ref struct CacheKeyView
{
    public CacheKeyView(ReadOnlySpan<byte> lowerCaseName, int nameHash, DnsRecordType type, ushort questionClass, byte flags)
    {
        Name = lowerCaseName;
        Type = type;
        Class = questionClass;
        Flags = flags;
        Hash = HashCode.Combine(nameHash, (ushort)type, questionClass, flags);
    }

    public ReadOnlySpan<byte> Name { get; }

    public DnsRecordType Type { get; }

    public ushort Class { get; }

    public byte Flags { get; }

    public int Hash { get; }

    /// <summary>The key of a parsed query (its name is already lower case, its hash computed by the parser).</summary>
    public static CacheKeyView Of(in DnsQuery query)
    {
        var flags = (byte)((query.Edns.IsPresent && query.Edns.DnssecOk ? CacheKey.DnssecOkFlag : 0)
            | (query.Header.CheckingDisabled ? CacheKey.CheckingDisabledFlag : 0));
        return new CacheKeyView(query.Name, query.NameHash, query.QuestionType, query.QuestionClass, flags);
    }
}

/// <summary>Equality of keys, and of a view against a key.</summary>
internal sealed class CacheKeyComparer : IEqualityComparer<CacheKey>, IAlternateEqualityComparer<CacheKeyView, CacheKey>
{
    public static CacheKeyComparer Instance { get; } = new();

    public bool Equals(CacheKey? x, CacheKey? y) =>
        ReferenceEquals(x, y)
        || (x is not null && y is not null && x.Hash == y.Hash && x.Type == y.Type && x.Class == y.Class && x.Flags == y.Flags && x.Name.SequenceEqual(y.Name));

    public int GetHashCode(CacheKey obj) => obj.Hash;

    public bool Equals(CacheKeyView alternate, CacheKey other) =>
        alternate.Hash == other.Hash && alternate.Type == other.Type && alternate.Class == other.Class && alternate.Flags == other.Flags && alternate.Name.SequenceEqual(other.Name);

    public int GetHashCode(CacheKeyView alternate) => alternate.Hash;

    public CacheKey Create(CacheKeyView alternate) => CacheKey.From(alternate);
}
