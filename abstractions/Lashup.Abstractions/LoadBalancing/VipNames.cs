using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Services;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>A name's claim of an address (<see cref="VipNames.ReadClaim"/>).</summary>
/// <param name="Name">The VIP name.</param>
/// <param name="Address">The address claimed.</param>
/// <param name="Timestamp">When the claim was written (the register's timestamp, Unix milliseconds of its writer).</param>
public sealed record VipNameClaim(string Name, IPAddress Address, long Timestamp);

/// <summary>
/// The layout of named VIPs in the replicated store: <c>lb/names/&lt;name&gt;</c> holds the address allocated to the
/// name in field <c>address</c> (an LWW register). The load balancer allocates and writes it; the DNS plugin answers
/// <c>&lt;name&gt;.l4lb.&lt;zone&gt;</c> with it. Names are DNS labels. Every node computes the same allocation (a hash
/// of the name into the configured range, then the next address no other name claims); when two names claim one
/// address, the earlier claim (lower timestamp, then lower name) keeps it and the other moves. A name is released
/// (<see cref="Release"/>) when its last VIP goes.
/// </summary>
public static class VipNames
{
    private const string AddressField = "address";

    /// <summary>The key prefix of all named VIPs: <c>lb/names</c>.</summary>
    public static KvKey Prefix { get; } = KvKey.Parse("lb/names");

    /// <summary>The key of a named VIP.</summary>
    /// <param name="name">The VIP name, a DNS label.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException">The name is not a DNS label.</exception>
    public static KvKey KeyOf(string name)
    {
        if (!ServiceCatalog.IsValidLabel(name, out var error))
        {
            throw new ArgumentException($"VIP name {error}", nameof(name));
        }

        return Prefix.Child(name);
    }

    /// <summary>The operations that set the address of a named VIP.</summary>
    /// <param name="address">The allocated address.</param>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/>.</returns>
    public static IReadOnlyList<CrdtOp> SetAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return [new LwwSet([AddressField], address.ToString())];
    }

    /// <summary>The operation that releases a name's address (the key stays, empty).</summary>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/>.</returns>
    public static IReadOnlyList<CrdtOp> Release() => [new RemoveField([AddressField])];

    /// <summary>The name of a key under <see cref="Prefix"/>, or null for any other key.</summary>
    /// <param name="key">A key.</param>
    /// <returns>The name, or null.</returns>
    public static string? NameOf(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Segments.Length == 3 && key.StartsWith(Prefix) && ServiceCatalog.IsValidLabel(key.Segments[2], out _) ? key.Segments[2] : null;
    }

    /// <summary>Reads a name's claim with its timestamp; null for other keys, released names and malformed values.</summary>
    /// <param name="entry">An entry under <see cref="Prefix"/>.</param>
    /// <returns>The claim, or null.</returns>
    public static VipNameClaim? ReadClaim(KvEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return NameOf(entry.Key) is { } name
            && entry.Value.GetLwwRegister(AddressField) is { Value: { } text } register
            && IPAddress.TryParse(text, out var address)
            ? new VipNameClaim(name, address, register.Timestamp)
            : null;
    }

    /// <summary>Reads a named VIP entry; null for other keys and for malformed values (replicated data is not trusted).</summary>
    /// <param name="entry">An entry under <see cref="Prefix"/>.</param>
    /// <returns>The name and its address, or null.</returns>
    public static (string Name, IPAddress Address)? Read(KvEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var key = entry.Key;
        if (key.Segments.Length != 3 || !key.StartsWith(Prefix) || !ServiceCatalog.IsValidLabel(key.Segments[2], out _))
        {
            return null;
        }

        return entry.Value.GetLwwRegister(AddressField)?.Value is { } text && IPAddress.TryParse(text, out var address)
            ? (key.Segments[2], address)
            : null;
    }
}
