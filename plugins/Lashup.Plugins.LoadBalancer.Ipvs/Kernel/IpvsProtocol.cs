namespace Lashup.Plugins.LoadBalancer.Ipvs.Kernel;

/// <summary>
/// The IPVS generic netlink interface, number for number as include/uapi/linux/ip_vs.h lays it out (the kernel checks
/// requests against ip_vs_svc_policy / ip_vs_dest_policy in net/netfilter/ipvs/ip_vs_ctl.c). Enums there count from 0
/// (UNSPEC); each value here is spelled out so a reader can check it against the header line by line.
/// </summary>
internal static class IpvsProtocol
{
    /// <summary>IPVS_GENL_NAME: the generic netlink family to resolve through nlctrl.</summary>
    public const string FamilyName = "IPVS";

    /// <summary>IPVS_GENL_VERSION.</summary>
    public const byte Version = 1;

    // enum { IPVS_CMD_UNSPEC = 0, IPVS_CMD_NEW_SERVICE, ... }
    public const byte IPVS_CMD_NEW_SERVICE = 1;
    public const byte IPVS_CMD_SET_SERVICE = 2;
    public const byte IPVS_CMD_DEL_SERVICE = 3;
    public const byte IPVS_CMD_GET_SERVICE = 4;
    public const byte IPVS_CMD_NEW_DEST = 5;
    public const byte IPVS_CMD_SET_DEST = 6;
    public const byte IPVS_CMD_DEL_DEST = 7;
    public const byte IPVS_CMD_GET_DEST = 8;

    // enum { IPVS_CMD_ATTR_UNSPEC = 0, IPVS_CMD_ATTR_SERVICE, IPVS_CMD_ATTR_DEST, ... }: both nested.
    public const ushort IPVS_CMD_ATTR_SERVICE = 1;
    public const ushort IPVS_CMD_ATTR_DEST = 2;

    // enum { IPVS_SVC_ATTR_UNSPEC = 0, ... } inside IPVS_CMD_ATTR_SERVICE.
    /// <summary>u16: AF_INET or AF_INET6.</summary>
    public const ushort IPVS_SVC_ATTR_AF = 1;

    /// <summary>u16: IPPROTO_TCP / IPPROTO_UDP.</summary>
    public const ushort IPVS_SVC_ATTR_PROTOCOL = 2;

    /// <summary>union nf_inet_addr: 16 bytes, an IPv4 address in the first 4 (network order), the rest zero.</summary>
    public const ushort IPVS_SVC_ATTR_ADDR = 3;

    /// <summary>__be16.</summary>
    public const ushort IPVS_SVC_ATTR_PORT = 4;

    /// <summary>u32: a firewall-mark service instead of (protocol, address, port); Lashup makes none.</summary>
    public const ushort IPVS_SVC_ATTR_FWMARK = 5;

    /// <summary>NUL-terminated string, at most IP_VS_SCHEDNAME_MAXLEN (16) with the NUL.</summary>
    public const ushort IPVS_SVC_ATTR_SCHED_NAME = 6;

    /// <summary>struct ip_vs_flags { __u32 flags; __u32 mask; }.</summary>
    public const ushort IPVS_SVC_ATTR_FLAGS = 7;

    /// <summary>u32: persistence timeout in seconds (0: not persistent).</summary>
    public const ushort IPVS_SVC_ATTR_TIMEOUT = 8;

    /// <summary>u32: persistence netmask; an IPv4 mask (0xFFFFFFFF), or an IPv6 prefix length (128).</summary>
    public const ushort IPVS_SVC_ATTR_NETMASK = 9;

    // enum { IPVS_DEST_ATTR_UNSPEC = 0, ... } inside IPVS_CMD_ATTR_DEST.
    /// <summary>union nf_inet_addr (16 bytes).</summary>
    public const ushort IPVS_DEST_ATTR_ADDR = 1;

    /// <summary>__be16.</summary>
    public const ushort IPVS_DEST_ATTR_PORT = 2;

    /// <summary>u32: IP_VS_CONN_F_* forwarding method (masked with IP_VS_CONN_F_FWD_MASK).</summary>
    public const ushort IPVS_DEST_ATTR_FWD_METHOD = 3;

    /// <summary>u32 (read as int): 0 = no new connections.</summary>
    public const ushort IPVS_DEST_ATTR_WEIGHT = 4;

    /// <summary>u32: upper connection threshold (0: none).</summary>
    public const ushort IPVS_DEST_ATTR_U_THRESH = 5;

    /// <summary>u32: lower connection threshold (0: none).</summary>
    public const ushort IPVS_DEST_ATTR_L_THRESH = 6;

    /// <summary>u32, in dumps: active connections.</summary>
    public const ushort IPVS_DEST_ATTR_ACTIVE_CONNS = 7;

    /// <summary>u32, in dumps: inactive connections.</summary>
    public const ushort IPVS_DEST_ATTR_INACT_CONNS = 8;

    /// <summary>u16: the destination's address family (newer kernels; older ones ignore it and take the service's).</summary>
    public const ushort IPVS_DEST_ATTR_ADDR_FAMILY = 11;

    /// <summary>IP_VS_CONN_F_MASQ: masquerading (NAT), the forwarding method for VIPs whose backends are anywhere.</summary>
    public const uint IP_VS_CONN_F_MASQ = 0x0000;

    /// <summary>IP_VS_CONN_F_FWD_MASK.</summary>
    public const uint IP_VS_CONN_F_FWD_MASK = 0x0007;

    /// <summary>sizeof(union nf_inet_addr).</summary>
    public const int AddressLength = 16;

    /// <summary>IP_VS_SCHEDNAME_MAXLEN (with the NUL).</summary>
    public const int SchedulerNameMaxLength = 16;

    public const ushort AF_INET = 2;
    public const ushort AF_INET6 = 10;

    /// <summary>The scheduler names the kernel has (net/netfilter/ipvs/ip_vs_*.c, one module each).</summary>
    public static readonly IReadOnlyList<string> Schedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"];

    /// <summary>The name of an IPVS command, for errors.</summary>
    public static string CommandName(byte command) => command switch
    {
        IPVS_CMD_NEW_SERVICE => "IPVS_CMD_NEW_SERVICE",
        IPVS_CMD_SET_SERVICE => "IPVS_CMD_SET_SERVICE",
        IPVS_CMD_DEL_SERVICE => "IPVS_CMD_DEL_SERVICE",
        IPVS_CMD_GET_SERVICE => "IPVS_CMD_GET_SERVICE",
        IPVS_CMD_NEW_DEST => "IPVS_CMD_NEW_DEST",
        IPVS_CMD_SET_DEST => "IPVS_CMD_SET_DEST",
        IPVS_CMD_DEL_DEST => "IPVS_CMD_DEL_DEST",
        IPVS_CMD_GET_DEST => "IPVS_CMD_GET_DEST",
        _ => $"IPVS command {command}",
    };
}
