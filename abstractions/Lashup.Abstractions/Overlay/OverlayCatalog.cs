using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Lashup.Abstractions.Data;

namespace Lashup.Abstractions.Overlay;

/// <summary>A node's claim of an overlay subnet (<see cref="OverlayCatalog.Read"/>).</summary>
/// <param name="Node">The node.</param>
/// <param name="Subnet">The subnet claimed.</param>
/// <param name="ClaimedAt">When the node claimed it (Unix milliseconds of its clock): the earlier claim of a subnet wins.</param>
/// <param name="Underlay">The node's underlay address.</param>
/// <param name="VtepAddress">Its VTEP address, when written.</param>
/// <param name="VtepMac">Its VTEP MAC, when written.</param>
public sealed record OverlayClaim(string Node, IPNetwork Subnet, long ClaimedAt, IPAddress Underlay, IPAddress? VtepAddress, PhysicalAddress? VtepMac)
{
    /// <summary>Whether <paramref name="other"/> holds the same values (MACs by value).</summary>
    /// <param name="other">The other claim.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(OverlayClaim? other) =>
        other is not null && Node == other.Node && Subnet == other.Subnet && ClaimedAt == other.ClaimedAt
        && Underlay.Equals(other.Underlay) && Equals(VtepAddress, other.VtepAddress) && Equals(VtepMac, other.VtepMac);

    /// <summary>A hash consistent with <see cref="Equals(OverlayClaim?)"/>.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode() => HashCode.Combine(Node, Subnet, ClaimedAt);

    /// <summary>
    /// Whether this claim keeps its subnet against <paramref name="other"/>'s claim of the same subnet: the earlier
    /// <see cref="ClaimedAt"/>, then the lower node name (ordinal). Every node decides the same.
    /// </summary>
    /// <param name="other">A claim of the same subnet by another node.</param>
    /// <returns>Whether this one wins.</returns>
    public bool WinsOver(OverlayClaim other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return ClaimedAt != other.ClaimedAt ? ClaimedAt < other.ClaimedAt : string.CompareOrdinal(Node, other.Node) < 0;
    }
}

/// <summary>
/// The layout of the overlay's subnets in the replicated store: <c>overlay/nodes/&lt;node&gt;</c>, written by that node
/// only (a release removes its fields): LWW registers <c>subnet</c> (CIDR), <c>claimed_at</c> (Unix milliseconds),
/// <c>underlay</c>, <c>vtep_address</c>, <c>vtep_mac</c>. Read by every node's overlay to build its peers; public so that
/// vendors (a CNI plugin, an IPAM) read it the same way. <see cref="Read"/> never throws on what other nodes wrote.
/// </summary>
public static class OverlayCatalog
{
    private const string SubnetField = "subnet";
    private const string ClaimedAtField = "claimed_at";
    private const string UnderlayField = "underlay";
    private const string VtepAddressField = "vtep_address";
    private const string VtepMacField = "vtep_mac";

    /// <summary>The key prefix of all nodes' claims: <c>overlay/nodes</c>.</summary>
    public static KvKey Prefix { get; } = KvKey.Parse("overlay/nodes");

    /// <summary>Whether <paramref name="node"/> is a valid node name (1-253 letters, digits, '-', '.', '_'), as the host requires.</summary>
    /// <param name="node">The name.</param>
    /// <returns>Whether it is.</returns>
    public static bool IsValidNode(string? node) =>
        node is { Length: > 0 and <= 253 } && node.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_') && node is not "." and not "..";

    /// <summary>The key of a node's claim.</summary>
    /// <param name="node">The node's name.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException">Not a node name.</exception>
    public static KvKey KeyOf(string node) =>
        IsValidNode(node) ? Prefix.Child(node) : throw new ArgumentException($"\"{node}\" is not a node name", nameof(node));

    /// <summary>The node of a key under <see cref="Prefix"/>, or null for any other key.</summary>
    /// <param name="key">A key.</param>
    /// <returns>The node, or null.</returns>
    public static string? NodeOf(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Segments.Length == 3 && key.StartsWith(Prefix) && IsValidNode(key.Segments[2]) ? key.Segments[2] : null;
    }

    /// <summary>The operations that write a claim (the node writes its own key only).</summary>
    /// <param name="claim">The claim.</param>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/>.</returns>
    public static IReadOnlyList<CrdtOp> Write(OverlayClaim claim)
    {
        ArgumentNullException.ThrowIfNull(claim);
        var ops = new List<CrdtOp>
        {
            new LwwSet([SubnetField], claim.Subnet.ToString()),
            new LwwSet([ClaimedAtField], claim.ClaimedAt.ToString(CultureInfo.InvariantCulture)),
            new LwwSet([UnderlayField], claim.Underlay.ToString()),
        };
        ops.Add(claim.VtepAddress is { } vtep ? new LwwSet([VtepAddressField], vtep.ToString()) : new RemoveField([VtepAddressField]));
        ops.Add(claim.VtepMac is { } mac ? new LwwSet([VtepMacField], FormatMac(mac)) : new RemoveField([VtepMacField]));
        return ops;
    }

    /// <summary>The operations that release a node's claim (its fields go; the key stays, empty).</summary>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/>.</returns>
    public static IReadOnlyList<CrdtOp> Release() =>
        [new RemoveField([SubnetField]), new RemoveField([ClaimedAtField]), new RemoveField([UnderlayField]), new RemoveField([VtepAddressField]), new RemoveField([VtepMacField])];

    /// <summary>
    /// Reads a claim; null for other keys, released claims and malformed values (<paramref name="malformed"/> is then
    /// true when the entry had fields but not a valid claim: replicated data is not trusted).
    /// </summary>
    /// <param name="entry">An entry under <see cref="Prefix"/>.</param>
    /// <param name="malformed">Whether the entry held something that is not a claim.</param>
    /// <returns>The claim, or null.</returns>
    public static OverlayClaim? Read(KvEntry entry, out bool malformed)
    {
        ArgumentNullException.ThrowIfNull(entry);
        malformed = false;
        if (NodeOf(entry.Key) is not { } node)
        {
            return null;
        }

        var subnetText = entry.Value.GetLwwRegister(SubnetField)?.Value;
        var claimedText = entry.Value.GetLwwRegister(ClaimedAtField)?.Value;
        var underlayText = entry.Value.GetLwwRegister(UnderlayField)?.Value;
        if (subnetText is null && claimedText is null && underlayText is null)
        {
            return null;
        }

        if (!IPNetwork.TryParse(subnetText, out var subnet) || subnet.BaseAddress.AddressFamily != AddressFamily.InterNetwork
            || !long.TryParse(claimedText, NumberStyles.None, CultureInfo.InvariantCulture, out var claimedAt)
            || !IPAddress.TryParse(underlayText, out var underlay))
        {
            malformed = true;
            return null;
        }

        IPAddress? vtep = null;
        if (entry.Value.GetLwwRegister(VtepAddressField)?.Value is { } vtepText && !IPAddress.TryParse(vtepText, out vtep))
        {
            malformed = true;
            return null;
        }

        PhysicalAddress? mac = null;
        if (entry.Value.GetLwwRegister(VtepMacField)?.Value is { } macText && !TryParseMac(macText, out mac))
        {
            malformed = true;
            return null;
        }

        return new OverlayClaim(node, subnet, claimedAt, underlay, vtep, mac);
    }

    /// <summary>A subnet's VTEP address: its first address (the network address, as flannel puts on its device).</summary>
    /// <param name="subnet">The subnet.</param>
    /// <returns>The address.</returns>
    public static IPAddress VtepAddressOf(IPNetwork subnet) => subnet.BaseAddress;

    /// <summary>
    /// A node's VTEP MAC: locally administered, unicast, from a hash of its name, so that a device re-created on that
    /// node has the same MAC and no peer needs an update.
    /// </summary>
    /// <param name="node">The node's name.</param>
    /// <returns>The MAC.</returns>
    public static PhysicalAddress VtepMacOf(string node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("lashup-vtep:" + node));
        var mac = hash[..6];
        mac[0] = (byte)((mac[0] & 0xFC) | 0x02);
        return new PhysicalAddress(mac);
    }

    /// <summary>A MAC as <c>02:ab:cd:ef:01:23</c>.</summary>
    /// <param name="mac">The MAC.</param>
    /// <returns>The text.</returns>
    public static string FormatMac(PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        return string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    private static bool TryParseMac(string text, out PhysicalAddress? mac)
    {
        mac = null;
        var parts = text.Split(':');
        if (parts.Length != 6)
        {
            return false;
        }

        var bytes = new byte[6];
        for (var i = 0; i < 6; i++)
        {
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes[i]))
            {
                return false;
            }
        }

        mac = new PhysicalAddress(bytes);
        return true;
    }
}
