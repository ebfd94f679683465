using System.Net;
using Lashup.Abstractions.Cluster;

namespace Lashup.Plugins.LoadBalancer.Table;

/// <summary>
/// Addresses a VIP may not take. A VIP's address is put on every node's <c>lo</c> (when not local already), so a VIP
/// on a member's address, or on one of its own backends' addresses, would take that host's traffic cluster-wide.
/// Loopback addresses are exempt: they never leave a host, and nothing is added for them.
/// </summary>
internal static class VipAddressRules
{
    /// <summary>The name of the member whose advertised address is <paramref name="address"/>, or null.</summary>
    public static string? MemberAt(IPAddress address, IEnumerable<Member> members)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(members);
        if (IPAddress.IsLoopback(Normalize(address)))
        {
            return null;
        }

        return members.FirstOrDefault(m => Same(m.Address.Address, address))?.Name;
    }

    /// <summary>Whether a backend at <paramref name="backend"/> would hand its host's address to a VIP at <paramref name="vip"/>.</summary>
    public static bool IsBackendHost(IPAddress vip, IPAddress backend) => !IPAddress.IsLoopback(Normalize(vip)) && Same(vip, backend);

    private static bool Same(IPAddress a, IPAddress b) => Normalize(a).Equals(Normalize(b));

    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
