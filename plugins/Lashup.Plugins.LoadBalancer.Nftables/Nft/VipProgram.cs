using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.LoadBalancing;

namespace Lashup.Plugins.LoadBalancer.Nftables.Nft;

/// <summary>
/// One VIP as the kernel holds it: <see cref="Buckets"/>.Length buckets, bucket <c>i</c> sending new connections to
/// <c>Buckets[i]</c>. A connection's bucket is <c>numgen random mod Buckets.Length</c>, so each backend gets new
/// connections in proportion to its buckets. Equal by value.
/// </summary>
/// <param name="Vip">The VIP.</param>
/// <param name="Buckets">The backend of each bucket.</param>
internal sealed record VipProgram(VipKey Vip, ImmutableArray<IPEndPoint> Buckets)
{
    public bool Equals(VipProgram? other) =>
        other is not null && Vip == other.Vip && Buckets.AsSpan().SequenceEqual(other.Buckets.AsSpan());

    public override int GetHashCode() => HashCode.Combine(Vip, Buckets.Length, Buckets.Length > 0 ? Buckets[0] : null);

    /// <summary>
    /// The program of <paramref name="entry"/>: its backends that take new connections (weight above 0) and are of the
    /// VIP's address family (nftables cannot translate IPv4 to IPv6). Equal weights: one bucket per backend; unequal:
    /// <paramref name="resolution"/> buckets (a multiple of it when there are more backends), shared by weight, one at
    /// least each, so every backend is reached. Null, with why, when no backend takes new connections.
    /// </summary>
    /// <param name="entry">The VIP and its backends.</param>
    /// <param name="resolution">The <c>buckets</c> setting.</param>
    /// <param name="reason">Why there is no program, when there is none.</param>
    /// <returns>The program, or null.</returns>
    public static VipProgram? For(VipEntry entry, int resolution, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var all = entry.Backends.IsDefault ? [] : entry.Backends;
        var active = all
            .Where(b => b.Weight > 0 && Unusable(entry.Vip, b.Endpoint) is null)
            .OrderBy(b => b.Endpoint.Address.GetAddressBytes(), ByteOrder.Instance)
            .ThenBy(b => b.Endpoint.Port)
            .ToList();
        if (active.Count == 0)
        {
            var unusable = all.Select(b => Unusable(entry.Vip, b.Endpoint)).FirstOrDefault(r => r is not null);
            reason = all.IsEmpty ? "no backends"
                : all.All(b => b.Weight == 0) ? "every backend is draining (weight 0): no new connections"
                : $"no backend nftables can send new connections to (the first: {unusable})";
            return null;
        }

        reason = null;
        if (active.All(b => b.Weight == active[0].Weight))
        {
            return new VipProgram(entry.Vip, [.. active.Select(b => b.Endpoint)]);
        }

        var size = resolution * ((active.Count + resolution - 1) / resolution);
        var counts = Share(size, [.. active.Select(b => (long)b.Weight)]);
        var buckets = ImmutableArray.CreateBuilder<IPEndPoint>(size);
        for (var i = 0; i < active.Count; i++)
        {
            for (var j = 0; j < counts[i]; j++)
            {
                buckets.Add(active[i].Endpoint);
            }
        }

        return new VipProgram(entry.Vip, buckets.MoveToImmutable());
    }

    /// <summary>
    /// Why nftables cannot DNAT <paramref name="vip"/>'s connections to <paramref name="backend"/>, or null when it can:
    /// another address family (no translation between IPv4 and IPv6), an address no host can have, or a VIP on the
    /// loopback range with a backend elsewhere (the kernel does not route a 127.0.0.0/8 or ::1 source out of the host,
    /// so such connections would hang).
    /// </summary>
    /// <param name="vip">The VIP.</param>
    /// <param name="backend">One of its backends.</param>
    /// <returns>Why not, or null.</returns>
    public static string? Unusable(VipKey vip, IPEndPoint backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.AddressFamily != vip.Address.AddressFamily)
        {
            return "not of the VIP's address family: nftables cannot translate between IPv4 and IPv6";
        }

        if (!VipId.IsUsableAddress(backend.Address, out var error))
        {
            return error;
        }

        return IPAddress.IsLoopback(vip.Address) && !IPAddress.IsLoopback(backend.Address)
            ? "a VIP on the loopback range reaches only backends on the loopback range through nftables (the kernel does not route a loopback source out of the host): use another VIP address, or the userspace backend"
            : null;
    }

    /// <summary>
    /// Shares <paramref name="size"/> buckets by <paramref name="weights"/> (largest remainder), one at least each
    /// (<paramref name="size"/> is at least their count), taken back from the largest shares when the minimum overshoots.
    /// </summary>
    internal static int[] Share(int size, long[] weights)
    {
        var total = weights.Sum();
        var counts = new int[weights.Length];
        var remainders = new (long Remainder, int Index)[weights.Length];
        var given = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            var quota = size * weights[i];
            counts[i] = (int)(quota / total);
            remainders[i] = (quota % total, i);
            given += counts[i];
        }

        foreach (var (_, i) in remainders.OrderByDescending(r => r.Remainder).ThenBy(r => r.Index).Take(size - given))
        {
            counts[i]++;
        }

        for (var i = 0; i < counts.Length; i++)
        {
            while (counts[i] == 0)
            {
                var largest = Array.IndexOf(counts, counts.Max());
                counts[largest]--;
                counts[i]++;
            }
        }

        return counts;
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static ByteOrder Instance { get; } = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
