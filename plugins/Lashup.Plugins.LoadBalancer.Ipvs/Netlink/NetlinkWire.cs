namespace Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

/// <summary>
/// Numbers of the netlink wire format (linux/netlink.h, linux/genetlink.h): every integer in host byte order (little
/// endian on the machines Lashup runs on) unless an attribute says otherwise, every header and attribute padded to 4 bytes.
/// </summary>
internal static class NetlinkWire
{
    /// <summary>sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid.</summary>
    public const int MessageHeaderLength = 16;

    /// <summary>sizeof(struct genlmsghdr): u8 cmd, u8 version, u16 reserved.</summary>
    public const int GenericHeaderLength = 4;

    /// <summary>sizeof(struct nlattr): u16 len (header included, padding not), u16 type.</summary>
    public const int AttributeHeaderLength = 4;

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;

    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;

    /// <summary>NLM_F_ROOT | NLM_F_MATCH: every entry.</summary>
    public const ushort NLM_F_DUMP = 0x300;

    /// <summary>In an NLMSG_ERROR: the request's payload is left out of the echo.</summary>
    public const ushort NLM_F_CAPPED = 0x100;

    /// <summary>In an NLMSG_ERROR: extended-ack attributes follow the echo.</summary>
    public const ushort NLM_F_ACK_TLVS = 0x200;

    public const ushort NLA_F_NESTED = 0x8000;
    public const ushort NLA_F_NET_BYTEORDER = 0x4000;
    public const ushort NLA_TYPE_MASK = 0x3FFF;

    /// <summary>Extended ack: the kernel's error text (NUL-terminated).</summary>
    public const ushort NLMSGERR_ATTR_MSG = 1;

    /// <summary>The generic netlink controller's fixed family id (GENL_ID_CTRL = NLMSG_MIN_TYPE).</summary>
    public const ushort GENL_ID_CTRL = 0x10;

    public const byte CTRL_CMD_GETFAMILY = 3;
    public const byte CTRL_VERSION = 1;
    public const ushort CTRL_ATTR_FAMILY_ID = 1;
    public const ushort CTRL_ATTR_FAMILY_NAME = 2;

    /// <summary>NLMSG_ALIGN / NLA_ALIGN.</summary>
    public static int Align(int length) => (length + 3) & ~3;
}
