using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using static Lashup.Netlink.NetlinkWire;
using static Lashup.Netlink.Route.RtnlWire;

namespace Lashup.Netlink.Route;

/// <summary>
/// rtnetlink requests to send together (<see cref="RtnlClient.Execute"/>): each method adds one message, acked on its
/// own (NLM_F_ACK), so one refused entry does not stop the others and is reported with its own error. The kernel
/// applies them in order. Arguments are checked as they are added (<see cref="ArgumentException"/>), so a batch never
/// holds a message the kernel would have to refuse for its form.
/// </summary>
internal sealed class RtnlBatch
{
    /// <summary>The most bytes a batch may hold (about 200,000 route, neighbour or FDB messages).</summary>
    public const int MaxLength = 16 * 1024 * 1024;

    private const ushort Ack = NLM_F_REQUEST | NLM_F_ACK;
    private readonly NetlinkMessageWriter _writer = new(MaxLength);
    private readonly List<string> _operations = [];

    /// <summary>How many operations the batch holds.</summary>
    public int Count => _operations.Count;

    /// <summary>Each operation's description, in order (the errors name them).</summary>
    public IReadOnlyList<string> Operations => _operations;

    /// <summary>The messages (for the client and the tests).</summary>
    internal NetlinkMessageWriter Writer => _writer;

    /// <summary>
    /// Creates a VXLAN device (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL: EEXIST when the name is taken). The kernel
    /// ignores IFLA_IFALIAS when it creates a link, so an alias is a second message (<see cref="SetAlias"/>): two
    /// operations in the batch.
    /// </summary>
    public RtnlBatch CreateVxlan(VxlanLinkSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        CheckName(spec.Name);
        var vxlan = spec.Vxlan ?? throw new ArgumentException("a VXLAN device needs its VXLAN settings", nameof(spec));
        if (vxlan.Vni is 0 or > 0xFFFFFF)
        {
            throw new ArgumentException($"VNI {vxlan.Vni} is outside 1-16777215", nameof(spec));
        }

        if (vxlan.Port == 0)
        {
            throw new ArgumentException("the VXLAN port must not be 0", nameof(spec));
        }

        if (spec.Mtu < 0 || vxlan.UnderlayIndex < 0)
        {
            throw new ArgumentException("the MTU and the underlay index must not be negative", nameof(spec));
        }

        if (spec.Alias is { } alias && (alias.Length > MaxAliasLength || !alias.All(char.IsAscii) || alias.Contains('\0', StringComparison.Ordinal)))
        {
            throw new ArgumentException($"a link alias is at most {MaxAliasLength} ASCII characters", nameof(spec));
        }

        Span<byte> header = stackalloc byte[IfInfoLength];
        if (spec.Up)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], IFF_UP);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], IFF_UP);
        }

        _writer.Begin(RTM_NEWLINK, Ack | NLM_F_CREATE | NLM_F_EXCL, header).PutString(IFLA_IFNAME, spec.Name);
        if (spec.Mtu > 0)
        {
            _writer.PutU32(IFLA_MTU, (uint)spec.Mtu);
        }

        if (spec.Mac is { } mac)
        {
            _writer.PutBytes(IFLA_ADDRESS, MacBytes(mac, nameof(spec)));
        }

        _writer.BeginNested(IFLA_LINKINFO)
            .PutString(IFLA_INFO_KIND, "vxlan")
            .BeginNested(IFLA_INFO_DATA)
            .PutU32(IFLA_VXLAN_ID, vxlan.Vni);
        if (vxlan.Local is { } local)
        {
            _writer.PutBytes(local.AddressFamily == AddressFamily.InterNetwork ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6, AddressBytes(local, nameof(spec)));
        }

        _writer.PutBigEndianU16(IFLA_VXLAN_PORT, vxlan.Port).PutU8(IFLA_VXLAN_LEARNING, vxlan.Learning ? (byte)1 : (byte)0);
        if (vxlan.UnderlayIndex > 0)
        {
            _writer.PutU32(IFLA_VXLAN_LINK, (uint)vxlan.UnderlayIndex);
        }

        _writer.EndNested().EndNested();
        Add($"RTM_NEWLINK create vxlan {spec.Name} (vni {vxlan.Vni}, local {vxlan.Local?.ToString() ?? "none"}, port {vxlan.Port})");
        return spec.Alias is null ? this : SetAlias(spec.Name, spec.Alias);
    }

    /// <summary>Sets the alias of the link named <paramref name="name"/> (RTM_NEWLINK by IFLA_IFNAME; "" clears it).</summary>
    public RtnlBatch SetAlias(string name, string alias)
    {
        CheckName(name);
        ArgumentNullException.ThrowIfNull(alias);
        if (alias.Length > MaxAliasLength || !alias.All(char.IsAscii) || alias.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException($"a link alias is at most {MaxAliasLength} ASCII characters", nameof(alias));
        }

        _writer.Begin(RTM_NEWLINK, Ack, stackalloc byte[IfInfoLength]).PutString(IFLA_IFNAME, name).PutString(IFLA_IFALIAS, alias);
        return Add($"RTM_NEWLINK set alias of {name} to \"{alias}\"");
    }

    /// <summary>Sets a link administratively up or down (RTM_NEWLINK with IFF_UP in ifi_change).</summary>
    public RtnlBatch SetLinkUp(int interfaceIndex, bool up)
    {
        CheckIndex(interfaceIndex);
        Span<byte> header = stackalloc byte[IfInfoLength];
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], interfaceIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], up ? IFF_UP : 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], IFF_UP);
        _writer.Begin(RTM_NEWLINK, Ack, header);
        return Add($"RTM_NEWLINK set link #{interfaceIndex} {(up ? "up" : "down")}");
    }

    /// <summary>Deletes a link (RTM_DELLINK).</summary>
    public RtnlBatch DeleteLink(int interfaceIndex)
    {
        CheckIndex(interfaceIndex);
        Span<byte> header = stackalloc byte[IfInfoLength];
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], interfaceIndex);
        _writer.Begin(RTM_DELLINK, Ack, header);
        return Add($"RTM_DELLINK link #{interfaceIndex}");
    }

    /// <summary>Adds an address (RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL: EEXIST when present). IPv6 ones skip DAD.</summary>
    public RtnlBatch AddAddress(RtnlAddress address) => AddressMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, address, "");

    /// <summary>Adds an address or updates it when present (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE).</summary>
    public RtnlBatch ReplaceAddress(RtnlAddress address) => AddressMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, address, " (replace)");

    /// <summary>Deletes an address (RTM_DELADDR; EADDRNOTAVAIL when absent).</summary>
    public RtnlBatch DeleteAddress(RtnlAddress address) => AddressMessage(RTM_DELADDR, 0, address, "");

    /// <summary>Adds a neighbour entry (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL: EEXIST when present).</summary>
    public RtnlBatch AddNeighbour(RtnlNeighbour neighbour) => NeighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, neighbour, "");

    /// <summary>Adds a neighbour entry or overwrites it (RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE).</summary>
    public RtnlBatch ReplaceNeighbour(RtnlNeighbour neighbour) => NeighbourMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, neighbour, " (replace)");

    /// <summary>Deletes a neighbour entry (RTM_DELNEIGH; ENOENT when absent).</summary>
    public RtnlBatch DeleteNeighbour(RtnlNeighbour neighbour) => NeighbourMessage(RTM_DELNEIGH, 0, neighbour, "");

    /// <summary>
    /// Adds an FDB entry, or a further remote to an existing one (RTM_NEWNEIGH AF_BRIDGE, NLM_F_CREATE | NLM_F_APPEND, as
    /// <c>bridge fdb append</c>).
    /// </summary>
    public RtnlBatch AppendFdb(RtnlFdbEntry entry) => FdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, entry, " (append)");

    /// <summary>Adds an FDB entry or overwrites its remote (RTM_NEWNEIGH AF_BRIDGE, NLM_F_CREATE | NLM_F_REPLACE).</summary>
    public RtnlBatch ReplaceFdb(RtnlFdbEntry entry) => FdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, entry, " (replace)");

    /// <summary>Deletes an FDB entry's remote <see cref="RtnlFdbEntry.Destination"/> (RTM_DELNEIGH AF_BRIDGE; ENOENT when absent).</summary>
    public RtnlBatch DeleteFdb(RtnlFdbEntry entry) => FdbMessage(RTM_DELNEIGH, 0, entry, "");

    /// <summary>Adds a route (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL: EEXIST when one with its key exists).</summary>
    public RtnlBatch AddRoute(RtnlRoute route) => RouteMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route, "");

    /// <summary>Adds a route or replaces the one with its key (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE).</summary>
    public RtnlBatch ReplaceRoute(RtnlRoute route) => RouteMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route, " (replace)");

    /// <summary>
    /// Deletes a route (RTM_DELROUTE; ESRCH when absent). Only a route of <see cref="RtnlRoute.Protocol"/> matches, so a
    /// foreign route with the same destination is never removed.
    /// </summary>
    public RtnlBatch DeleteRoute(RtnlRoute route) => RouteMessage(RTM_DELROUTE, 0, route, "");

    /// <summary>Formats a MAC address as <c>02:00:5e:10:00:01</c>.</summary>
    public static string FormatMac(PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        var bytes = mac.GetAddressBytes();
        return string.Join(':', bytes.Select(b => Convert.ToHexStringLower([b])));
    }

    private RtnlBatch AddressMessage(ushort type, ushort flags, RtnlAddress address, string note)
    {
        ArgumentNullException.ThrowIfNull(address);
        CheckIndex(address.InterfaceIndex);
        var bytes = AddressBytes(address.Address, nameof(address));
        CheckPrefix(address.PrefixLength, bytes.Length, nameof(address));
        Span<byte> header = stackalloc byte[IfAddrLength];
        header[0] = FamilyOf(address.Address);
        header[1] = (byte)address.PrefixLength;
        header[2] = header[0] == AF_INET6 ? IFA_F_NODAD : (byte)0;
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)address.InterfaceIndex);
        _writer.Begin(type, (ushort)(Ack | flags), header).PutBytes(IFA_LOCAL, bytes).PutBytes(IFA_ADDRESS, bytes);
        return Add($"{TypeName(type)}{note} {address.Address}/{address.PrefixLength} dev #{address.InterfaceIndex}");
    }

    private RtnlBatch NeighbourMessage(ushort type, ushort flags, RtnlNeighbour neighbour, string note)
    {
        ArgumentNullException.ThrowIfNull(neighbour);
        CheckIndex(neighbour.InterfaceIndex);
        var destination = AddressBytes(neighbour.Destination, nameof(neighbour));
        Span<byte> header = stackalloc byte[NdLength];
        header[0] = FamilyOf(neighbour.Destination);
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], neighbour.InterfaceIndex);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], neighbour.State);
        _writer.Begin(type, (ushort)(Ack | flags), header).PutBytes(NDA_DST, destination);
        var lladdr = "";
        if (type == RTM_NEWNEIGH)
        {
            var mac = neighbour.Mac ?? throw new ArgumentException("a neighbour entry to add needs its MAC address", nameof(neighbour));
            _writer.PutBytes(NDA_LLADDR, MacBytes(mac, nameof(neighbour)));
            lladdr = $" lladdr {FormatMac(mac)}";
        }

        return Add($"{TypeName(type)}{note} {neighbour.Destination}{lladdr} dev #{neighbour.InterfaceIndex} state 0x{neighbour.State:x2}");
    }

    private RtnlBatch FdbMessage(ushort type, ushort flags, RtnlFdbEntry entry, string note)
    {
        ArgumentNullException.ThrowIfNull(entry);
        CheckIndex(entry.InterfaceIndex);
        var mac = MacBytes(entry.Mac ?? throw new ArgumentException("an FDB entry needs its MAC address", nameof(entry)), nameof(entry));
        Span<byte> header = stackalloc byte[NdLength];
        header[0] = AF_BRIDGE;
        BinaryPrimitives.WriteInt32LittleEndian(header[4..], entry.InterfaceIndex);
        BinaryPrimitives.WriteUInt16LittleEndian(header[8..], entry.State);
        header[10] = entry.Flags;
        _writer.Begin(type, (ushort)(Ack | flags), header).PutBytes(NDA_LLADDR, mac);
        if (entry.Destination is { } destination)
        {
            _writer.PutBytes(NDA_DST, AddressBytes(destination, nameof(entry)));
        }

        return Add($"{TypeName(type)}{note} fdb {FormatMac(entry.Mac)} dst {entry.Destination?.ToString() ?? "none"} dev #{entry.InterfaceIndex}");
    }

    private RtnlBatch RouteMessage(ushort type, ushort flags, RtnlRoute route, string note)
    {
        ArgumentNullException.ThrowIfNull(route);
        var destination = AddressBytes(route.Destination, nameof(route));
        CheckPrefix(route.PrefixLength, destination.Length, nameof(route));
        if (route.Gateway is { } gw && gw.AddressFamily != route.Destination.AddressFamily)
        {
            throw new ArgumentException($"route {route.Destination}/{route.PrefixLength}: gateway {gw} is of another address family", nameof(route));
        }

        if (route.OutputInterface < 0 || route.Table == 0)
        {
            throw new ArgumentException($"route {route.Destination}/{route.PrefixLength}: a negative interface index or table 0", nameof(route));
        }

        if (route.OnLink && route.OutputInterface == 0)
        {
            throw new ArgumentException($"route {route.Destination}/{route.PrefixLength}: an onlink route needs its output interface", nameof(route));
        }

        Span<byte> header = stackalloc byte[RtLength];
        header[0] = FamilyOf(route.Destination);
        header[1] = (byte)route.PrefixLength;
        header[4] = route.Table < 256 ? (byte)route.Table : RT_TABLE_UNSPEC;
        header[5] = route.Protocol;
        header[6] = type == RTM_DELROUTE ? RT_SCOPE_NOWHERE : route.Gateway is null ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        header[7] = RTN_UNICAST;
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], route.OnLink ? RTNH_F_ONLINK : 0);
        _writer.Begin(type, (ushort)(Ack | flags), header);
        if (route.Table >= 256)
        {
            _writer.PutU32(RTA_TABLE, route.Table);
        }

        _writer.PutBytes(RTA_DST, destination);
        if (route.Gateway is { } gateway)
        {
            _writer.PutBytes(RTA_GATEWAY, AddressBytes(gateway, nameof(route)));
        }

        if (route.OutputInterface > 0)
        {
            _writer.PutU32(RTA_OIF, (uint)route.OutputInterface);
        }

        if (route.Metric is { } metric)
        {
            _writer.PutU32(RTA_PRIORITY, metric);
        }

        var via = route.Gateway is null ? "" : $" via {route.Gateway}";
        var dev = route.OutputInterface > 0 ? $" dev #{route.OutputInterface}" : "";
        var onlink = route.OnLink ? " onlink" : "";
        return Add($"{TypeName(type)}{note} {route.Destination}/{route.PrefixLength}{via}{dev}{onlink} proto {route.Protocol} table {route.Table}");
    }

    private RtnlBatch Add(string operation)
    {
        _operations.Add(operation);
        return this;
    }

    private static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxInterfaceNameLength || name is "." or ".." ||
            name.Any(c => !char.IsAscii(c) || char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or ':'))
        {
            throw new ArgumentException($"\"{name}\" is not a valid interface name (1-{MaxInterfaceNameLength} ASCII characters, no '/', ':' or spaces)", nameof(name));
        }
    }

    private static void CheckIndex(int index)
    {
        if (index <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, "an interface index is positive");
        }
    }

    private static void CheckPrefix(int prefixLength, int addressLength, string parameter)
    {
        if (prefixLength < 0 || prefixLength > addressLength * 8)
        {
            throw new ArgumentException($"prefix length {prefixLength} is outside 0-{addressLength * 8}", parameter);
        }
    }

    private static byte FamilyOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetwork ? AF_INET : AF_INET6;

    private static byte[] AddressBytes(IPAddress address, string parameter)
    {
        ArgumentNullException.ThrowIfNull(address, parameter);
        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"{address} is neither IPv4 nor IPv6", parameter);
        }

        return address.GetAddressBytes();
    }

    private static byte[] MacBytes(PhysicalAddress mac, string parameter)
    {
        var bytes = mac.GetAddressBytes();
        return bytes.Length == 6 ? bytes : throw new ArgumentException($"a MAC address has 6 bytes, {FormatMac(mac)} has {bytes.Length}", parameter);
    }
}
