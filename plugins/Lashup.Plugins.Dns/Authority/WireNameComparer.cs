using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// Compares lower-case wire names, and lets a dictionary keyed by <c>byte[]</c> be searched with the query's
/// <see cref="ReadOnlySpan{T}"/> (an alternate lookup), so that a lookup allocates nothing.
/// </summary>
internal sealed class WireNameComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static WireNameComparer Instance { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => DnsName.GetHashCodeOfLowerCase(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => DnsName.GetHashCodeOfLowerCase(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
