using System.Net;
using System.Net.NetworkInformation;

namespace Lashup.Netlink.Route;

/// <summary>The VXLAN settings of a link (IFLA_INFO_DATA of kind <c>vxlan</c>).</summary>
/// <param name="Vni">The VXLAN network identifier, 1-16777215 (IFLA_VXLAN_ID).</param>
/// <param name="Local">The underlay source address (IFLA_VXLAN_LOCAL or IFLA_VXLAN_LOCAL6); null: none set.</param>
/// <param name="Port">The UDP destination port (IFLA_VXLAN_PORT, big-endian on the wire); 4789 is IANA's.</param>
/// <param name="Learning">Whether the device learns remote MACs from traffic (IFLA_VXLAN_LEARNING); off for us.</param>
/// <param name="UnderlayIndex">The underlay device's index (IFLA_VXLAN_LINK), 0: none.</param>
internal sealed record VxlanSettings(uint Vni, IPAddress? Local, ushort Port, bool Learning = false, int UnderlayIndex = 0);

/// <summary>A VXLAN device to create.</summary>
/// <param name="Name">Its name (IFLA_IFNAME), at most 15 characters.</param>
/// <param name="Vxlan">Its VXLAN settings.</param>
/// <param name="Mtu">Its MTU (IFLA_MTU), 0: the kernel's choice.</param>
/// <param name="Mac">Its MAC address (IFLA_ADDRESS), null: a random one from the kernel.</param>
/// <param name="Alias">Its alias (IFLA_IFALIAS, at most 255 characters): the mark that says the device is ours.</param>
/// <param name="Up">Whether it is brought up as it is created.</param>
internal sealed record VxlanLinkSpec(string Name, VxlanSettings Vxlan, int Mtu = 0, PhysicalAddress? Mac = null, string? Alias = null, bool Up = false);

/// <summary>A link (network device) as a dump reports it.</summary>
/// <param name="Index">Its interface index.</param>
/// <param name="Name">Its name.</param>
/// <param name="Up">Whether IFF_UP is set (administratively up).</param>
/// <param name="Mtu">Its MTU.</param>
/// <param name="Mac">Its link-layer address, when it has one.</param>
/// <param name="Alias">Its alias, when set.</param>
/// <param name="Kind">Its kind (IFLA_INFO_KIND: <c>vxlan</c>, <c>veth</c>, ...), null for a physical or loopback device.</param>
/// <param name="Vxlan">Its VXLAN settings when <paramref name="Kind"/> is <c>vxlan</c>.</param>
internal sealed record RtnlLink(int Index, string Name, bool Up, int Mtu, PhysicalAddress? Mac, string? Alias, string? Kind, VxlanSettings? Vxlan);

/// <summary>An address on a link (ifaddrmsg; IFA_LOCAL and IFA_ADDRESS both the address: no peer).</summary>
/// <param name="InterfaceIndex">The link's index.</param>
/// <param name="Address">The address, IPv4 or IPv6.</param>
/// <param name="PrefixLength">Its prefix length (32 for a VTEP address).</param>
internal sealed record RtnlAddress(int InterfaceIndex, IPAddress Address, int PrefixLength);

/// <summary>A neighbour (ARP or NDP) entry: an IP address's link-layer address on a link.</summary>
/// <param name="InterfaceIndex">The link's index.</param>
/// <param name="Destination">The IP address (NDA_DST).</param>
/// <param name="Mac">Its link-layer address (NDA_LLADDR); null in a dump for an entry that has none yet.</param>
/// <param name="State">NUD_* (NUD_PERMANENT for ours: never expires, never probed).</param>
internal sealed record RtnlNeighbour(int InterfaceIndex, IPAddress Destination, PhysicalAddress? Mac, ushort State = RtnlWire.NUD_PERMANENT);

/// <summary>
/// A bridge forwarding database entry of a VXLAN device (AF_BRIDGE, NTF_SELF): frames for <paramref name="Mac"/> go in
/// UDP to <paramref name="Destination"/>.
/// </summary>
/// <param name="InterfaceIndex">The VXLAN device's index.</param>
/// <param name="Mac">The (inner) MAC address (NDA_LLADDR); all zeros is the default entry for unknown destinations.</param>
/// <param name="Destination">The remote underlay address (NDA_DST); null in a dump for an entry without one.</param>
/// <param name="State">NUD_* (NUD_PERMANENT for ours).</param>
/// <param name="Flags">NTF_* (NTF_SELF: the device's own table, not a bridge master's).</param>
internal sealed record RtnlFdbEntry(int InterfaceIndex, PhysicalAddress Mac, IPAddress? Destination, ushort State = RtnlWire.NUD_PERMANENT, byte Flags = RtnlWire.NTF_SELF);

/// <summary>A unicast route.</summary>
/// <param name="Destination">The destination network's address (its host bits zero).</param>
/// <param name="PrefixLength">The destination's prefix length.</param>
/// <param name="Gateway">The next hop (RTA_GATEWAY), null for a route straight onto the link.</param>
/// <param name="OutputInterface">The output link's index (RTA_OIF), 0: any.</param>
/// <param name="OnLink">RTNH_F_ONLINK: the gateway is taken to be on the link without an address that covers it.</param>
/// <param name="Protocol">rtm_protocol: who installed it (ours is a number iproute2's rt_protos leaves free).</param>
/// <param name="Table">The routing table (254: main).</param>
/// <param name="Metric">RTA_PRIORITY, null: none (the kernel gives IPv6 routes 1024, and a dump reports it).</param>
internal sealed record RtnlRoute(
    IPAddress Destination,
    int PrefixLength,
    IPAddress? Gateway,
    int OutputInterface,
    bool OnLink,
    byte Protocol,
    uint Table = RtnlWire.RT_TABLE_MAIN,
    uint? Metric = null);

/// <summary>The kernel's answer to "how is this address reached" (RTM_GETROUTE for one address, as <c>ip route get</c>).</summary>
/// <param name="Destination">The address asked about.</param>
/// <param name="Type">rtm_type: RTN_UNICAST (1) for a remote address, RTN_LOCAL (2) for one of this host's, others for blackholes and the like.</param>
/// <param name="Gateway">The next hop (RTA_GATEWAY); null when the address is on a directly connected network.</param>
/// <param name="OutputInterface">The output link's index (RTA_OIF), 0 when none.</param>
/// <param name="PreferredSource">The source address the kernel would use (RTA_PREFSRC), when it says.</param>
internal sealed record RtnlRouteLookup(IPAddress Destination, byte Type, IPAddress? Gateway, int OutputInterface, IPAddress? PreferredSource);

/// <summary>One operation of a batch that the kernel refused.</summary>
/// <param name="Index">Its position in the batch.</param>
/// <param name="Operation">What it was (<c>RTM_NEWROUTE (replace) 10.240.2.0/24 via ...</c>).</param>
/// <param name="Error">The error, with the errno and the kernel's extended-ack text.</param>
internal sealed record RtnlFailure(int Index, string Operation, NetlinkException Error);
