using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Text;
using Lashup.Abstractions.LoadBalancing;

namespace Lashup.Plugins.LoadBalancer.Names;

/// <summary>What <see cref="NamedVipAllocator.Resolve"/> decided.</summary>
/// <param name="Resolved">Each name that holds an address it keeps: name → address.</param>
/// <param name="Writes">Claims to write: names without one, and names that lost their address (name → new address).</param>
/// <param name="Unresolved">Names without a usable address yet, with why (the claim to write, or the range is exhausted).</param>
internal sealed record NameAllocation(
    ImmutableDictionary<string, IPAddress> Resolved,
    ImmutableDictionary<string, IPAddress> Writes,
    ImmutableDictionary<string, string> Unresolved);

/// <summary>
/// Allocates addresses to named VIPs, the same way on every node: a name hashes into the range (FNV-1a of its UTF-8
/// bytes), then probes upwards past addresses other names claim. Two names that claim one address (concurrent claims
/// on two nodes) are ordered by their claim's timestamp, then by name: the earlier keeps the address, the other moves
/// to the first address from its hash that no name claims. The result depends only on the claims and the range, so
/// every node that sees the same claims writes the same moves (any node may write them; the writes agree).
/// </summary>
internal static class NamedVipAllocator
{
    /// <summary>Decides who keeps which address, and which claims to write.</summary>
    /// <param name="claims">The claims in the store (name → claim), every name's, needed or not.</param>
    /// <param name="needed">The names some VIP uses.</param>
    /// <param name="range">The named VIP range.</param>
    /// <returns>The allocation.</returns>
    public static NameAllocation Resolve(IReadOnlyDictionary<string, VipNameClaim> claims, IEnumerable<string> needed, IPNetwork range)
    {
        var resolved = ImmutableDictionary.CreateBuilder<string, IPAddress>(StringComparer.Ordinal);
        var writes = ImmutableDictionary.CreateBuilder<string, IPAddress>(StringComparer.Ordinal);
        var unresolved = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        var holder = new Dictionary<IPAddress, string>();
        var losers = new List<string>();
        foreach (var claim in claims.Values.OrderBy(c => c.Timestamp).ThenBy(c => c.Name, StringComparer.Ordinal))
        {
            if (range.Contains(claim.Address) && !holder.ContainsKey(claim.Address))
            {
                holder[claim.Address] = claim.Name;
                resolved[claim.Name] = claim.Address;
            }
            else
            {
                losers.Add(claim.Name);
            }
        }

        // Every claimed address is taken, also those of names being moved, so a move never lands on another claim.
        var taken = new HashSet<IPAddress>(claims.Values.Select(c => c.Address));
        var neededSet = needed.ToHashSet(StringComparer.Ordinal);
        var toPlace = losers.Where(neededSet.Contains)
            .Concat(neededSet.Where(n => !claims.ContainsKey(n)).Order(StringComparer.Ordinal))
            .ToList();
        foreach (var name in toPlace)
        {
            var address = FirstFree(name, range, taken);
            if (address is null)
            {
                unresolved[name] = $"named_vip_range {range} is exhausted: every address is claimed";
                continue;
            }

            taken.Add(address);
            writes[name] = address;
            unresolved[name] = claims.TryGetValue(name, out var lost) && range.Contains(lost.Address)
                ? $"{lost.Address} is also claimed by {holder[lost.Address]} (an earlier claim); moving to {address}"
                : $"claiming {address}";
        }

        return new NameAllocation(resolved.ToImmutable(), writes.ToImmutable(), unresolved.ToImmutable());
    }

    /// <summary>The first address from <paramref name="name"/>'s hash, probing upwards and wrapping, that is not in <paramref name="taken"/>; null when none is free.</summary>
    /// <param name="name">The name.</param>
    /// <param name="range">The range.</param>
    /// <param name="taken">Addresses claimed.</param>
    /// <returns>The address, or null.</returns>
    public static IPAddress? FirstFree(string name, IPNetwork range, IReadOnlySet<IPAddress> taken)
    {
        var (first, count) = Usable(range);
        var start = Hash(name) % count;
        for (ulong i = 0; i < count; i++)
        {
            var address = At(range, first + ((start + i) % count));
            if (!taken.Contains(address))
            {
                return address;
            }
        }

        return null;
    }

    /// <summary>
    /// The usable offsets of a range: an IPv4 range leaves out its network and broadcast addresses, an IPv6 one its
    /// subnet-router anycast address (offset 0); an IPv6 range larger than 2^32 addresses uses its first 2^32.
    /// </summary>
    public static (ulong First, ulong Count) Usable(IPNetwork range)
    {
        var v4 = range.BaseAddress.AddressFamily == AddressFamily.InterNetwork;
        var hostBits = (v4 ? 32 : 128) - range.PrefixLength;
        var size = hostBits >= 33 ? 1UL << 32 : 1UL << hostBits;
        return v4 ? (1UL, size - 2) : (1UL, size - 1);
    }

    private static IPAddress At(IPNetwork range, ulong offset)
    {
        var bytes = range.BaseAddress.GetAddressBytes();
        var value = new BigInteger(bytes, isUnsigned: true, isBigEndian: true) + offset;
        var result = new byte[bytes.Length];
        value.TryWriteBytes(result, out var written, isUnsigned: true, isBigEndian: true);
        if (written < result.Length)
        {
            Array.Copy(result, 0, result, result.Length - written, written);
            Array.Clear(result, 0, result.Length - written);
        }

        return new IPAddress(result);
    }

    private static ulong Hash(string name)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(name))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
