using System.Buffers.Binary;
using System.Net;
using System.Text;
using Lashup.Abstractions.Overlay;

namespace Lashup.Plugins.Overlay;

/// <summary>
/// The overlay's subnets, as every node computes them from the same claims: the range cut into subnets of
/// <c>subnet_prefix</c>; a node's first choice is a hash of its name (FNV-1a) into them, then the next one no winning
/// claim holds (linear probing, wrapping). When two nodes claim one subnet, the earlier claim (then the lower name) wins
/// (<see cref="OverlayClaim.WinsOver"/>): an established claim is never taken by a newcomer, whose claim is later.
/// </summary>
internal sealed class SubnetAllocator
{
    private readonly uint _base;
    private readonly int _prefix;
    private readonly long _count;

    public SubnetAllocator(IPNetwork range, int prefix)
    {
        if (range.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || prefix <= range.PrefixLength || prefix > 30)
        {
            throw new ArgumentException($"subnet_prefix /{prefix} does not fit in {range}");
        }

        Range = range;
        _base = BinaryPrimitives.ReadUInt32BigEndian(range.BaseAddress.GetAddressBytes());
        _prefix = prefix;
        _count = 1L << (prefix - range.PrefixLength);
    }

    public IPNetwork Range { get; }

    /// <summary>How many subnets the range holds.</summary>
    public long Count => _count;

    /// <summary>The <paramref name="index"/>th subnet.</summary>
    public IPNetwork SubnetAt(long index)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, _base + (uint)(index << (32 - _prefix)));
        return new IPNetwork(new IPAddress(bytes), _prefix);
    }

    /// <summary>Whether <paramref name="subnet"/> is one of the range's subnets (inside it, with the configured prefix, aligned).</summary>
    public bool IsSubnet(IPNetwork subnet) =>
        subnet.PrefixLength == _prefix && subnet.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
        && Range.Contains(subnet.BaseAddress);

    /// <summary>
    /// The winning claim of every claimed subnet. Claims of subnets outside the range (or of another size) are left out
    /// and returned apart.
    /// </summary>
    public (Dictionary<IPNetwork, OverlayClaim> Winners, List<OverlayClaim> Invalid) Resolve(IEnumerable<OverlayClaim> claims)
    {
        var winners = new Dictionary<IPNetwork, OverlayClaim>();
        var invalid = new List<OverlayClaim>();
        foreach (var claim in claims)
        {
            if (!IsSubnet(claim.Subnet))
            {
                invalid.Add(claim);
            }
            else if (!winners.TryGetValue(claim.Subnet, out var held) || claim.WinsOver(held))
            {
                winners[claim.Subnet] = claim;
            }
        }

        return (winners, invalid);
    }

    /// <summary>The first subnet for <paramref name="node"/> that is not in <paramref name="taken"/>, or null when all are.</summary>
    public IPNetwork? FirstFree(string node, IReadOnlySet<IPNetwork> taken)
    {
        var start = (long)(Fnv1a(node) % (ulong)_count);
        for (long i = 0; i < _count; i++)
        {
            var subnet = SubnetAt((start + i) % _count);
            if (!taken.Contains(subnet))
            {
                return subnet;
            }
        }

        return null;
    }

    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
