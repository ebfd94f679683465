using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using static Lashup.Netlink.Route.RtnlWire;

namespace Lashup.Netlink.Route;

/// <summary>
/// Reads the kernel's rtnetlink messages into records: each checks its fixed header's length and every attribute it
/// uses (an address of 4 or 16 bytes, integers of their size); a message of a kind the records do not describe (a
/// multicast route, another family) is null, a malformed one a <see cref="NetlinkException"/>. The payload is only
/// read during the call, so it may be a view of a buffer that is reused afterwards.
/// </summary>
internal static class RtnlDecoder
{
    /// <summary>An RTM_NEWLINK: the link, with its VXLAN settings when it is a VXLAN device.</summary>
    public static RtnlLink DecodeLink(NetlinkMessage message)
    {
        var payload = Header(message, IfInfoLength, "ifinfomsg");
        var span = payload.Span;
        var index = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        var what = $"RTM_NEWLINK #{index}";
        var attributes = NetlinkAttributes.Parse(payload[IfInfoLength..], what);
        var mac = attributes.Bytes(IFLA_ADDRESS) is { Length: > 0 } address ? new PhysicalAddress(address.ToArray()) : null;
        string? kind = null;
        VxlanSettings? vxlan = null;
        if (attributes.Nested(IFLA_LINKINFO, what + " IFLA_LINKINFO") is { } info)
        {
            kind = info.String(IFLA_INFO_KIND);
            if (kind == "vxlan" && info.Nested(IFLA_INFO_DATA, what + " IFLA_INFO_DATA") is { } data)
            {
                var local = data.Bytes(IFLA_VXLAN_LOCAL) is { } v4 ? Address(v4, 4, what + " IFLA_VXLAN_LOCAL")
                    : data.Bytes(IFLA_VXLAN_LOCAL6) is { } v6 ? Address(v6, 16, what + " IFLA_VXLAN_LOCAL6") : null;
                vxlan = new VxlanSettings(
                    data.U32(IFLA_VXLAN_ID) ?? 0,
                    local,
                    data.BigEndianU16(IFLA_VXLAN_PORT) ?? 0,
                    (data.U8(IFLA_VXLAN_LEARNING) ?? 0) != 0,
                    (int)(data.U32(IFLA_VXLAN_LINK) ?? 0));
            }
        }

        return new RtnlLink(
            index,
            attributes.String(IFLA_IFNAME) ?? throw new NetlinkException($"malformed netlink reply: {what} has no IFLA_IFNAME"),
            (flags & IFF_UP) != 0,
            (int)(attributes.U32(IFLA_MTU) ?? 0),
            mac,
            attributes.String(IFLA_IFALIAS) is { Length: > 0 } alias ? alias : null,
            kind,
            vxlan);
    }

    /// <summary>An RTM_NEWADDR of IPv4 or IPv6 (IFA_LOCAL when present, else IFA_ADDRESS); null for another family.</summary>
    public static RtnlAddress? DecodeAddress(NetlinkMessage message)
    {
        var payload = Header(message, IfAddrLength, "ifaddrmsg");
        var span = payload.Span;
        if (AddressLength(span[0]) is not { } length)
        {
            return null;
        }

        var index = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[4..]);
        var what = $"RTM_NEWADDR dev #{index}";
        var attributes = NetlinkAttributes.Parse(payload[IfAddrLength..], what);
        var bytes = attributes.Bytes(IFA_LOCAL) ?? attributes.Bytes(IFA_ADDRESS)
            ?? throw new NetlinkException($"malformed netlink reply: {what} has neither IFA_LOCAL nor IFA_ADDRESS");
        return new RtnlAddress(index, Address(bytes, length, what), span[1]);
    }

    /// <summary>An RTM_NEWNEIGH of IPv4 or IPv6; null for another family (AF_BRIDGE: <see cref="DecodeFdb"/>).</summary>
    public static RtnlNeighbour? DecodeNeighbour(NetlinkMessage message)
    {
        var payload = Header(message, NdLength, "ndmsg");
        var span = payload.Span;
        if (AddressLength(span[0]) is not { } length)
        {
            return null;
        }

        var index = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        var what = $"RTM_NEWNEIGH dev #{index}";
        var attributes = NetlinkAttributes.Parse(payload[NdLength..], what);
        var destination = attributes.Bytes(NDA_DST) is { } dst ? Address(dst, length, what + " NDA_DST")
            : throw new NetlinkException($"malformed netlink reply: {what} has no NDA_DST");
        var mac = attributes.Bytes(NDA_LLADDR) is { Length: > 0 } lladdr ? new PhysicalAddress(lladdr.ToArray()) : null;
        return new RtnlNeighbour(index, destination, mac, BinaryPrimitives.ReadUInt16LittleEndian(span[8..]));
    }

    /// <summary>An RTM_NEWNEIGH of AF_BRIDGE (an FDB entry); null for another family or one without a MAC.</summary>
    public static RtnlFdbEntry? DecodeFdb(NetlinkMessage message)
    {
        var payload = Header(message, NdLength, "ndmsg");
        var span = payload.Span;
        if (span[0] != AF_BRIDGE)
        {
            return null;
        }

        var index = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        var what = $"RTM_NEWNEIGH bridge dev #{index}";
        var attributes = NetlinkAttributes.Parse(payload[NdLength..], what);
        if (attributes.Bytes(NDA_LLADDR) is not { Length: > 0 } lladdr)
        {
            return null;
        }

        var destination = attributes.Bytes(NDA_DST) is { } dst
            ? Address(dst, dst.Length == 4 ? 4 : 16, what + " NDA_DST")
            : null;
        return new RtnlFdbEntry(index, new PhysicalAddress(lladdr.ToArray()), destination, BinaryPrimitives.ReadUInt16LittleEndian(span[8..]), span[10]);
    }

    /// <summary>
    /// An RTM_NEWROUTE: a unicast route of IPv4 or IPv6 with one next hop; null for anything else (another family or
    /// type, a cached clone, a multipath route).
    /// </summary>
    public static RtnlRoute? DecodeRoute(NetlinkMessage message)
    {
        var payload = Header(message, RtLength, "rtmsg");
        var span = payload.Span;
        if (AddressLength(span[0]) is not { } length || span[7] != RTN_UNICAST)
        {
            return null;
        }

        var flags = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
        if ((flags & RTM_F_CLONED) != 0)
        {
            return null;
        }

        var prefix = span[1];
        if (prefix > length * 8)
        {
            throw new NetlinkException($"malformed netlink reply: RTM_NEWROUTE with prefix length {prefix}");
        }

        var what = "RTM_NEWROUTE";
        var attributes = NetlinkAttributes.Parse(payload[RtLength..], what);
        var destination = attributes.Bytes(RTA_DST) is { } dst ? Address(dst, length, what + " RTA_DST")
            : length == 4 ? IPAddress.Any : IPAddress.IPv6Any;
        var gateway = attributes.Bytes(RTA_GATEWAY) is { } gw ? Address(gw, length, what + " RTA_GATEWAY") : null;
        return new RtnlRoute(
            destination,
            prefix,
            gateway,
            (int)(attributes.U32(RTA_OIF) ?? 0),
            (flags & RTNH_F_ONLINK) != 0,
            span[5],
            attributes.U32(RTA_TABLE) ?? span[4],
            attributes.U32(RTA_PRIORITY));
    }

    /// <summary>
    /// The RTM_NEWROUTE answering an RTM_GETROUTE for one address (the kernel flags it a clone, RTM_F_CLONED, which
    /// <see cref="DecodeRoute"/> skips); null for another family.
    /// </summary>
    public static RtnlRouteLookup? DecodeRouteLookup(NetlinkMessage message, IPAddress destination)
    {
        var payload = Header(message, RtLength, "rtmsg");
        var span = payload.Span;
        if (AddressLength(span[0]) is not { } length)
        {
            return null;
        }

        var what = "RTM_NEWROUTE (route get)";
        var attributes = NetlinkAttributes.Parse(payload[RtLength..], what);
        var gateway = attributes.Bytes(RTA_GATEWAY) is { } gw ? Address(gw, length, what + " RTA_GATEWAY") : null;
        var source = attributes.Bytes(RTA_PREFSRC) is { } src ? Address(src, length, what + " RTA_PREFSRC") : null;
        return new RtnlRouteLookup(destination, span[7], gateway, (int)(attributes.U32(RTA_OIF) ?? 0), source);
    }

    private static ReadOnlyMemory<byte> Header(NetlinkMessage message, int length, string name) =>
        message.Payload.Length >= length
            ? message.Payload
            : throw new NetlinkException($"malformed netlink reply: a {TypeName(message.Type)} of {message.Payload.Length} bytes, shorter than its {name} ({length})");

    private static int? AddressLength(byte family) => family switch
    {
        AF_INET => 4,
        AF_INET6 => 16,
        _ => null,
    };

    private static IPAddress Address(ReadOnlyMemory<byte> bytes, int length, string what) =>
        bytes.Length == length
            ? new IPAddress(bytes.Span)
            : throw new NetlinkException($"malformed netlink reply: {what} has {bytes.Length} bytes, expected {length}");
}
