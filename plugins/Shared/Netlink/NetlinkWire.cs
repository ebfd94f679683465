namespace Lashup.Netlink;

/// <summary>
/// Numbers of the netlink wire format (include/uapi/linux/netlink.h): every integer in host byte order (little endian
/// on the machines Lashup runs on) unless an attribute says otherwise, every header and attribute padded to 4 bytes.
/// Protocol families add their own (generic netlink in the ipvs plugin, rtnetlink in <c>Route/</c>).
/// </summary>
internal static class NetlinkWire
{
    /// <summary>sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid.</summary>
    public const int MessageHeaderLength = 16;

    /// <summary>sizeof(struct nlattr): u16 len (header included, padding not), u16 type.</summary>
    public const int AttributeHeaderLength = 4;

    public const ushort NLMSG_NOOP = 1;
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLMSG_OVERRUN = 4;

    /// <summary>The first type a protocol may use (&lt; 0x10: the control messages above).</summary>
    public const ushort NLMSG_MIN_TYPE = 0x10;

    public const ushort NLM_F_REQUEST = 0x01;
    public const ushort NLM_F_MULTI = 0x02;
    public const ushort NLM_F_ACK = 0x04;

    /// <summary>In a dump's message: the dump was inconsistent (the table changed under it); dump again.</summary>
    public const ushort NLM_F_DUMP_INTR = 0x10;

    /// <summary>NLM_F_ROOT | NLM_F_MATCH: every entry.</summary>
    public const ushort NLM_F_DUMP = 0x300;

    /// <summary>New requests: override an existing entry.</summary>
    public const ushort NLM_F_REPLACE = 0x100;

    /// <summary>New requests: fail (EEXIST) when the entry exists.</summary>
    public const ushort NLM_F_EXCL = 0x200;

    /// <summary>New requests: create the entry when it does not exist.</summary>
    public const ushort NLM_F_CREATE = 0x400;

    /// <summary>New requests: add to the end of the entry's list (a further remote of a VXLAN FDB entry).</summary>
    public const ushort NLM_F_APPEND = 0x800;

    /// <summary>In an NLMSG_ERROR: the request's payload is left out of the echo.</summary>
    public const ushort NLM_F_CAPPED = 0x100;

    /// <summary>In an NLMSG_ERROR: extended-ack attributes follow the echo.</summary>
    public const ushort NLM_F_ACK_TLVS = 0x200;

    public const ushort NLA_F_NESTED = 0x8000;
    public const ushort NLA_F_NET_BYTEORDER = 0x4000;
    public const ushort NLA_TYPE_MASK = 0x3FFF;

    /// <summary>Extended ack: the kernel's error text (NUL-terminated).</summary>
    public const ushort NLMSGERR_ATTR_MSG = 1;

    /// <summary>Extended ack: the offset of the offending attribute in the request (u32).</summary>
    public const ushort NLMSGERR_ATTR_OFFS = 2;

    /// <summary>The socket option level of netlink (SOL_NETLINK, linux/socket.h).</summary>
    public const int SOL_NETLINK = 270;

    /// <summary>Acks echo only the request's header, not the whole request (keeps a batch's error acks small).</summary>
    public const int NETLINK_CAP_ACK = 10;

    /// <summary>Errors carry extended-ack attributes (the kernel's text, the offending attribute).</summary>
    public const int NETLINK_EXT_ACK = 11;

    /// <summary>NLMSG_ALIGN / NLA_ALIGN.</summary>
    public static int Align(int length) => (length + 3) & ~3;
}
