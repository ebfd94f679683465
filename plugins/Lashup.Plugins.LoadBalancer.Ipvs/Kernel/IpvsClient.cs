// No .NET library speaks IPVS's generic netlink interface (the Go world has moby/ipvs, C has ipvsadm's libipvs over
// libnl), so this is written by hand from include/uapi/linux/ip_vs.h, on Netlink/: one message per command, the service
// and destination as nested attributes, checked byte for byte by the tests against a fake kernel that decodes them
// independently.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Kernel;

/// <summary>An IPVS virtual service as the kernel holds it.</summary>
/// <param name="Key">Its protocol, address and port.</param>
/// <param name="Scheduler">Its scheduler's name.</param>
/// <param name="Flags">IP_VS_SVC_F_* (the kernel adds IP_VS_SVC_F_HASHED, 0x2, to every service it holds).</param>
/// <param name="Timeout">Persistence timeout in seconds (0: none).</param>
/// <param name="Netmask">Persistence netmask.</param>
internal sealed record IpvsService(VipKey Key, string Scheduler, uint Flags, uint Timeout, uint Netmask);

/// <summary>An IPVS destination (real server) of a service.</summary>
/// <param name="Endpoint">Its address and port.</param>
/// <param name="ForwardMethod">IP_VS_CONN_F_* (masked with IP_VS_CONN_F_FWD_MASK).</param>
/// <param name="Weight">Its weight; 0 takes no new connections.</param>
/// <param name="ActiveConnections">Active connections, from a dump.</param>
/// <param name="InactiveConnections">Inactive connections, from a dump.</param>
internal sealed record IpvsDestination(IPEndPoint Endpoint, uint ForwardMethod, int Weight, uint ActiveConnections, uint InactiveConnections);

/// <summary>
/// IPVS commands over generic netlink: services (NEW/SET/DEL/GET_SERVICE) and their destinations (NEW/SET/DEL/GET_DEST).
/// Every service is (protocol, address, port) with no persistence; every destination is masqueraded (NAT) with no
/// thresholds. Errors are <see cref="NetlinkException"/>s naming the command, the service and the errno
/// (<c>IPVS_CMD_NEW_SERVICE tcp/10.0.0.1:80: EEXIST (File exists)</c>).
/// </summary>
internal sealed class IpvsClient : IDisposable
{
    private readonly GenericNetlinkClient _netlink;

    private IpvsClient(GenericNetlinkClient netlink, ushort family)
    {
        _netlink = netlink;
        Family = family;
    }

    /// <summary>The IPVS family id on this kernel.</summary>
    public ushort Family { get; }

    /// <summary>Resolves the IPVS family over <paramref name="socket"/> (owned by the client from then on).</summary>
    /// <exception cref="NetlinkException">No IPVS in this kernel (ENOENT), or the call failed.</exception>
    public static IpvsClient Open(INetlinkSocket socket)
    {
        var netlink = new GenericNetlinkClient(socket);
        try
        {
            return new IpvsClient(netlink, netlink.ResolveFamily(IpvsProtocol.FamilyName));
        }
        catch
        {
            netlink.Dispose();
            throw;
        }
    }

    public void AddService(VipKey service, string scheduler) => ServiceCommand(IpvsProtocol.IPVS_CMD_NEW_SERVICE, service, scheduler);

    public void UpdateService(VipKey service, string scheduler) => ServiceCommand(IpvsProtocol.IPVS_CMD_SET_SERVICE, service, scheduler);

    public void DeleteService(VipKey service) => ServiceCommand(IpvsProtocol.IPVS_CMD_DEL_SERVICE, service, scheduler: null);

    /// <summary>Every (protocol, address, port) service of this network namespace; firewall-mark and non-TCP/UDP services are left out.</summary>
    public List<IpvsService> ListServices()
    {
        var request = Request(IpvsProtocol.IPVS_CMD_GET_SERVICE, dump: true);
        var services = new List<IpvsService>();
        foreach (var message in _netlink.Dump(IpvsProtocol.CommandName(IpvsProtocol.IPVS_CMD_GET_SERVICE), request, Family))
        {
            var attributes = message.Attributes.Nested(IpvsProtocol.IPVS_CMD_ATTR_SERVICE, "IPVS_CMD_ATTR_SERVICE");
            if (attributes is not null && DecodeService(attributes) is { } service)
            {
                services.Add(service);
            }
        }

        return services;
    }

    public void AddDestination(VipKey service, IPEndPoint destination, int weight) =>
        DestinationCommand(IpvsProtocol.IPVS_CMD_NEW_DEST, service, destination, weight);

    public void UpdateDestination(VipKey service, IPEndPoint destination, int weight) =>
        DestinationCommand(IpvsProtocol.IPVS_CMD_SET_DEST, service, destination, weight);

    public void DeleteDestination(VipKey service, IPEndPoint destination) =>
        DestinationCommand(IpvsProtocol.IPVS_CMD_DEL_DEST, service, destination, weight: null);

    /// <summary>The destinations of <paramref name="service"/> (ESRCH when it does not exist).</summary>
    public List<IpvsDestination> ListDestinations(VipKey service)
    {
        var request = Request(IpvsProtocol.IPVS_CMD_GET_DEST, dump: true);
        PutService(request, service, scheduler: null);
        var destinations = new List<IpvsDestination>();
        var what = $"{IpvsProtocol.CommandName(IpvsProtocol.IPVS_CMD_GET_DEST)} {service}";
        foreach (var message in _netlink.Dump(what, request, Family))
        {
            var attributes = message.Attributes.Nested(IpvsProtocol.IPVS_CMD_ATTR_DEST, "IPVS_CMD_ATTR_DEST");
            if (attributes is not null)
            {
                destinations.Add(DecodeDestination(attributes, service, what));
            }
        }

        return destinations;
    }

    public void Dispose() => _netlink.Dispose();

    /// <summary>AF_INET or AF_INET6 for <paramref name="address"/>.</summary>
    public static ushort AddressFamilyOf(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? IpvsProtocol.AF_INET6 : IpvsProtocol.AF_INET;

    /// <summary>union nf_inet_addr: the address's bytes (network order), zero-padded to 16.</summary>
    public static byte[] EncodeAddress(IPAddress address)
    {
        var bytes = new byte[IpvsProtocol.AddressLength];
        address.TryWriteBytes(bytes, out _);
        return bytes;
    }

    /// <summary>
    /// Puts the service's nested attribute: its identity (AF, PROTOCOL, ADDR, PORT) and, with a scheduler, the rest a
    /// NEW/SET_SERVICE needs (SCHED_NAME, FLAGS, TIMEOUT, NETMASK; the kernel answers EINVAL without any of them).
    /// </summary>
    private static void PutService(NetlinkMessageWriter request, VipKey service, string? scheduler)
    {
        var family = AddressFamilyOf(service.Address);
        request.BeginNested(IpvsProtocol.IPVS_CMD_ATTR_SERVICE)
            .PutU16(IpvsProtocol.IPVS_SVC_ATTR_AF, family)
            .PutU16(IpvsProtocol.IPVS_SVC_ATTR_PROTOCOL, (ushort)service.Protocol)
            .PutBytes(IpvsProtocol.IPVS_SVC_ATTR_ADDR, EncodeAddress(service.Address))
            .PutBigEndianU16(IpvsProtocol.IPVS_SVC_ATTR_PORT, service.Port);
        if (scheduler is not null)
        {
            // struct ip_vs_flags: no flags, and a mask of all ones so every flag of an existing service is reset.
            Span<byte> flags = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(flags, 0);
            BinaryPrimitives.WriteUInt32LittleEndian(flags[4..], uint.MaxValue);
            request.PutString(IpvsProtocol.IPVS_SVC_ATTR_SCHED_NAME, scheduler)
                .PutBytes(IpvsProtocol.IPVS_SVC_ATTR_FLAGS, flags)
                .PutU32(IpvsProtocol.IPVS_SVC_ATTR_TIMEOUT, 0)
                .PutU32(IpvsProtocol.IPVS_SVC_ATTR_NETMASK, family == IpvsProtocol.AF_INET6 ? 128u : uint.MaxValue);
        }

        request.EndNested();
    }

    private static IpvsService? DecodeService(NetlinkAttributes a)
    {
        var family = a.U16(IpvsProtocol.IPVS_SVC_ATTR_AF);
        var protocol = a.U16(IpvsProtocol.IPVS_SVC_ATTR_PROTOCOL);
        var address = a.Bytes(IpvsProtocol.IPVS_SVC_ATTR_ADDR);
        var port = a.BigEndianU16(IpvsProtocol.IPVS_SVC_ATTR_PORT);
        if (a.U32(IpvsProtocol.IPVS_SVC_ATTR_FWMARK) is > 0 || family is null || address is null || port is null
            || protocol is not ((ushort)TransportProtocol.Tcp or (ushort)TransportProtocol.Udp))
        {
            // A firewall-mark service, or a protocol a VIP cannot have (SCTP): never one of ours.
            return null;
        }

        var flags = a.Bytes(IpvsProtocol.IPVS_SVC_ATTR_FLAGS) is { Length: >= 4 } f ? BinaryPrimitives.ReadUInt32LittleEndian(f.Span) : 0;
        return new IpvsService(
            new VipKey(DecodeAddress(family.Value, address.Value, "IPVS_SVC_ATTR_ADDR"), port.Value, (TransportProtocol)protocol.Value),
            a.String(IpvsProtocol.IPVS_SVC_ATTR_SCHED_NAME) ?? "",
            flags,
            a.U32(IpvsProtocol.IPVS_SVC_ATTR_TIMEOUT) ?? 0,
            a.U32(IpvsProtocol.IPVS_SVC_ATTR_NETMASK) ?? 0);
    }

    private static IpvsDestination DecodeDestination(NetlinkAttributes a, VipKey service, string what)
    {
        var address = a.Bytes(IpvsProtocol.IPVS_DEST_ATTR_ADDR) ?? throw new NetlinkException($"{what}: a destination without IPVS_DEST_ATTR_ADDR");
        var port = a.BigEndianU16(IpvsProtocol.IPVS_DEST_ATTR_PORT) ?? throw new NetlinkException($"{what}: a destination without IPVS_DEST_ATTR_PORT");
        var family = a.U16(IpvsProtocol.IPVS_DEST_ATTR_ADDR_FAMILY) ?? AddressFamilyOf(service.Address);
        return new IpvsDestination(
            new IPEndPoint(DecodeAddress(family, address, "IPVS_DEST_ATTR_ADDR"), port),
            (a.U32(IpvsProtocol.IPVS_DEST_ATTR_FWD_METHOD) ?? 0) & IpvsProtocol.IP_VS_CONN_F_FWD_MASK,
            (int)(a.U32(IpvsProtocol.IPVS_DEST_ATTR_WEIGHT) ?? 0),
            a.U32(IpvsProtocol.IPVS_DEST_ATTR_ACTIVE_CONNS) ?? 0,
            a.U32(IpvsProtocol.IPVS_DEST_ATTR_INACT_CONNS) ?? 0);
    }

    private static IPAddress DecodeAddress(ushort family, ReadOnlyMemory<byte> bytes, string attribute)
    {
        var length = family switch
        {
            IpvsProtocol.AF_INET => 4,
            IpvsProtocol.AF_INET6 => 16,
            _ => throw new NetlinkException($"malformed IPVS reply: address family {family}"),
        };
        return bytes.Length >= length
            ? new IPAddress(bytes.Span[..length])
            : throw new NetlinkException($"malformed IPVS reply: {attribute} has {bytes.Length} bytes");
    }

    private NetlinkMessageWriter Request(byte command, bool dump) =>
        GenericNetlinkClient.Request(Family, (ushort)(NetlinkWire.NLM_F_REQUEST | (dump ? NetlinkWire.NLM_F_DUMP : NetlinkWire.NLM_F_ACK)), command, IpvsProtocol.Version);

    private void ServiceCommand(byte command, VipKey service, string? scheduler)
    {
        var request = Request(command, dump: false);
        PutService(request, service, scheduler);
        _netlink.Execute($"{IpvsProtocol.CommandName(command)} {service}", request, Family);
    }

    private void DestinationCommand(byte command, VipKey service, IPEndPoint destination, int? weight)
    {
        var request = Request(command, dump: false);
        PutService(request, service, scheduler: null);
        request.BeginNested(IpvsProtocol.IPVS_CMD_ATTR_DEST)
            .PutBytes(IpvsProtocol.IPVS_DEST_ATTR_ADDR, EncodeAddress(destination.Address))
            .PutBigEndianU16(IpvsProtocol.IPVS_DEST_ATTR_PORT, (ushort)destination.Port)
            .PutU16(IpvsProtocol.IPVS_DEST_ATTR_ADDR_FAMILY, AddressFamilyOf(destination.Address));
        if (weight is { } w)
        {
            request.PutU32(IpvsProtocol.IPVS_DEST_ATTR_FWD_METHOD, IpvsProtocol.IP_VS_CONN_F_MASQ)
                .PutU32(IpvsProtocol.IPVS_DEST_ATTR_WEIGHT, (uint)w)
                .PutU32(IpvsProtocol.IPVS_DEST_ATTR_U_THRESH, 0)
                .PutU32(IpvsProtocol.IPVS_DEST_ATTR_L_THRESH, 0);
        }

        request.EndNested();
        _netlink.Execute($"{IpvsProtocol.CommandName(command)} {service} {destination}", request, Family);
    }
}
