namespace Lashup.Netlink.Route;

/// <summary>
/// Numbers of rtnetlink, from the kernel's uapi headers (include/uapi/linux/rtnetlink.h, if_link.h, if_addr.h,
/// neighbour.h; address families from linux/socket.h): message types, fixed headers, attribute types and flags. Every
/// number here is checked by the tests against literal bytes laid out from those headers.
/// </summary>
internal static class RtnlWire
{
    // Address families (linux/socket.h).
    public const byte AF_UNSPEC = 0;
    public const byte AF_INET = 2;
    public const byte AF_BRIDGE = 7;
    public const byte AF_INET6 = 10;

    // Message types (rtnetlink.h, RTM_BASE = 16).
    public const ushort RTM_NEWLINK = 16;
    public const ushort RTM_DELLINK = 17;
    public const ushort RTM_GETLINK = 18;
    public const ushort RTM_NEWADDR = 20;
    public const ushort RTM_DELADDR = 21;
    public const ushort RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24;
    public const ushort RTM_DELROUTE = 25;
    public const ushort RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28;
    public const ushort RTM_DELNEIGH = 29;
    public const ushort RTM_GETNEIGH = 30;

    /// <summary>sizeof(struct ifinfomsg): u8 family, u8 pad, u16 type, s32 index, u32 flags, u32 change.</summary>
    public const int IfInfoLength = 16;

    /// <summary>sizeof(struct ifaddrmsg): u8 family, u8 prefixlen, u8 flags, u8 scope, u32 index.</summary>
    public const int IfAddrLength = 8;

    /// <summary>sizeof(struct ndmsg): u8 family, u8 pad1, u16 pad2, s32 ifindex, u16 state, u8 flags, u8 type.</summary>
    public const int NdLength = 12;

    /// <summary>
    /// sizeof(struct rtmsg): u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags.
    /// </summary>
    public const int RtLength = 12;

    // net/if.h
    public const uint IFF_UP = 0x1;

    // if_link.h: IFLA_*
    public const ushort IFLA_ADDRESS = 1;
    public const ushort IFLA_IFNAME = 3;
    public const ushort IFLA_MTU = 4;
    public const ushort IFLA_LINK = 5;
    public const ushort IFLA_LINKINFO = 18;
    public const ushort IFLA_IFALIAS = 20;

    // if_link.h: IFLA_INFO_*
    public const ushort IFLA_INFO_KIND = 1;
    public const ushort IFLA_INFO_DATA = 2;

    // if_link.h: IFLA_VXLAN_*
    public const ushort IFLA_VXLAN_ID = 1;
    public const ushort IFLA_VXLAN_LINK = 3;
    public const ushort IFLA_VXLAN_LOCAL = 4;
    public const ushort IFLA_VXLAN_LEARNING = 7;
    public const ushort IFLA_VXLAN_PORT = 15;
    public const ushort IFLA_VXLAN_LOCAL6 = 17;

    // if_addr.h
    public const ushort IFA_ADDRESS = 1;
    public const ushort IFA_LOCAL = 2;
    public const byte IFA_F_NODAD = 0x02;

    // neighbour.h
    public const ushort NDA_DST = 1;
    public const ushort NDA_LLADDR = 2;
    public const ushort NUD_NOARP = 0x40;
    public const ushort NUD_PERMANENT = 0x80;
    public const byte NTF_SELF = 0x02;
    public const byte NTF_MASTER = 0x04;

    // rtnetlink.h: routes
    public const ushort RTA_DST = 1;
    public const ushort RTA_OIF = 4;
    public const ushort RTA_GATEWAY = 5;
    public const ushort RTA_PRIORITY = 6;
    public const ushort RTA_PREFSRC = 7;
    public const ushort RTA_TABLE = 15;
    public const byte RT_TABLE_UNSPEC = 0;
    public const uint RT_TABLE_MAIN = 254;
    public const byte RTN_UNICAST = 1;
    public const byte RTN_LOCAL = 2;
    public const byte RT_SCOPE_UNIVERSE = 0;
    public const byte RT_SCOPE_LINK = 253;

    /// <summary>In a delete: match a route of any scope.</summary>
    public const byte RT_SCOPE_NOWHERE = 255;

    /// <summary>rtm_flags: the gateway is on the link, whatever the link's addresses say.</summary>
    public const uint RTNH_F_ONLINK = 4;

    /// <summary>rtm_flags in a dump: a cached clone, not a route of the table.</summary>
    public const uint RTM_F_CLONED = 0x200;

    /// <summary>Maximum interface name length without the NUL (IFNAMSIZ - 1).</summary>
    public const int MaxInterfaceNameLength = 15;

    /// <summary>Maximum alias length without the NUL (IFALIASZ - 1).</summary>
    public const int MaxAliasLength = 255;

    /// <summary>The name of a message type, for errors.</summary>
    public static string TypeName(ushort type) => type switch
    {
        RTM_NEWLINK => "RTM_NEWLINK",
        RTM_DELLINK => "RTM_DELLINK",
        RTM_GETLINK => "RTM_GETLINK",
        RTM_NEWADDR => "RTM_NEWADDR",
        RTM_DELADDR => "RTM_DELADDR",
        RTM_GETADDR => "RTM_GETADDR",
        RTM_NEWROUTE => "RTM_NEWROUTE",
        RTM_DELROUTE => "RTM_DELROUTE",
        RTM_GETROUTE => "RTM_GETROUTE",
        RTM_NEWNEIGH => "RTM_NEWNEIGH",
        RTM_DELNEIGH => "RTM_DELNEIGH",
        RTM_GETNEIGH => "RTM_GETNEIGH",
        _ => $"RTM {type}",
    };
}
