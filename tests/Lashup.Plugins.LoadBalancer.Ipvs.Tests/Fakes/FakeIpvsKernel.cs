using System.Buffers.Binary;
using System.Net;
using System.Text;
using Lashup.Netlink;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests.Fakes;

/// <summary>A service of the fake kernel, in the words of ip_vs.h.</summary>
internal sealed class FakeService
{
    public required string Scheduler { get; set; }

    public uint Flags { get; set; }

    public uint Timeout { get; set; }

    public uint Netmask { get; set; }

    /// <summary>Destinations by "ADDR:PORT" (IPv6 in brackets).</summary>
    public Dictionary<string, FakeDestination> Destinations { get; } = [];
}

/// <summary>A destination of the fake kernel.</summary>
internal sealed class FakeDestination
{
    public uint ForwardMethod { get; set; }

    public uint Weight { get; set; }

    public uint UpperThreshold { get; set; }

    public uint LowerThreshold { get; set; }
}

/// <summary>One request the fake kernel decoded.</summary>
internal sealed record FakeRequest(ushort Type, ushort Flags, uint Sequence, byte Command, string? Service, string? Destination, byte[] Bytes);

/// <summary>
/// A fake Linux kernel behind <see cref="INetlinkSocket"/>: the nlctrl family (CTRL_CMD_GETFAMILY) and IPVS's
/// generic netlink commands, decoded from the bytes by the layouts of include/uapi/linux/ip_vs.h with its own reader
/// (written apart from the plugin's encoder: the numbers are spelled out here again, so a wrong attribute number or byte
/// order in the plugin decodes to another service here and fails the test). It keeps an IPVS table, answers acks,
/// dumps (several messages per datagram, then NLMSG_DONE) and the kernel's errors: EEXIST for a service or destination
/// that exists, ESRCH for a service that does not, ENOENT for a destination that does not, EINVAL for a request missing
/// what the kernel requires, EPERM when <see cref="RequireAdmin"/>. Services are keyed "tcp/10.0.0.1:80".
/// </summary>
internal sealed class FakeIpvsKernel
{
    public const ushort IpvsFamilyId = 0x2a;

    // ip_vs.h, spelled out again for the fake.
    private const byte NewService = 1, SetService = 2, DelService = 3, GetService = 4, NewDest = 5, SetDest = 6, DelDest = 7, GetDest = 8;
    private const ushort CmdAttrService = 1, CmdAttrDest = 2;
    private const ushort SvcAf = 1, SvcProtocol = 2, SvcAddr = 3, SvcPort = 4, SvcFwmark = 5, SvcSchedName = 6, SvcFlags = 7, SvcTimeout = 8, SvcNetmask = 9;
    private const ushort DestAddr = 1, DestPort = 2, DestFwdMethod = 3, DestWeight = 4, DestUThresh = 5, DestLThresh = 6, DestActiveConns = 7, DestInactConns = 8, DestAddrFamily = 11;
    private const int ENOENT = 2, ESRCH = 3, EEXIST = 17, EINVAL = 22, EPERM = 1;
    private static readonly string[] KnownSchedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"];

    private readonly Lock _lock = new();

    /// <summary>Whether the kernel has IPVS (else nlctrl answers ENOENT for the family).</summary>
    public bool HasIpvs { get; set; } = true;

    /// <summary>Whether the caller lacks CAP_NET_ADMIN: every IPVS command is refused with EPERM.</summary>
    public bool RequireAdmin { get; set; }

    /// <summary>Dump messages per datagram (the kernel packs several).</summary>
    public int MessagesPerDatagram { get; set; } = 3;

    /// <summary>When set, called with each IPVS request; an errno it returns is the answer instead.</summary>
    public Func<FakeRequest, int?>? Fail { get; set; }

    /// <summary>The table, by "tcp/ADDR:PORT".</summary>
    public Dictionary<string, FakeService> Services { get; } = [];

    /// <summary>Every request decoded, in order.</summary>
    public List<FakeRequest> Requests { get; } = [];

    /// <summary>Sockets opened so far.</summary>
    public int SocketsOpened { get; private set; }

    /// <summary>IPVS requests other than dumps (what changed the table, or tried to).</summary>
    public IEnumerable<FakeRequest> Changes => Requests.Where(r => r.Type == IpvsFamilyId && r.Command is not (GetService or GetDest));

    public INetlinkSocket Open()
    {
        SocketsOpened++;
        return new Socket(this);
    }

    /// <summary>Adds a service directly, as another program (ipvsadm) would.</summary>
    public FakeService AddForeign(string key, string scheduler = "rr", params (string Endpoint, uint Weight)[] destinations)
    {
        var service = new FakeService { Scheduler = scheduler, Flags = 0x2, Netmask = uint.MaxValue };
        foreach (var (endpoint, weight) in destinations)
        {
            service.Destinations[endpoint] = new FakeDestination { Weight = weight };
        }

        Services[key] = service;
        return service;
    }

    private List<byte[]> Handle(byte[] request)
    {
        lock (_lock)
        {
            var length = BinaryPrimitives.ReadUInt32LittleEndian(request);
            Assert.Equal((uint)request.Length, length);
            var type = BinaryPrimitives.ReadUInt16LittleEndian(request.AsSpan(4));
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(request.AsSpan(6));
            var sequence = BinaryPrimitives.ReadUInt32LittleEndian(request.AsSpan(8));
            Assert.True((flags & 0x1) != 0, "NLM_F_REQUEST");
            var command = request[16];
            var attributes = Attributes(request.AsSpan(20), type == 0x10 ? [] : [CmdAttrService, CmdAttrDest]);

            if (type == 0x10)
            {
                Requests.Add(new FakeRequest(type, flags, sequence, command, null, null, request));
                Assert.Equal(3, command); // CTRL_CMD_GETFAMILY
                var name = Encoding.ASCII.GetString(attributes[2]).TrimEnd('\0'); // CTRL_ATTR_FAMILY_NAME
                if (name != "IPVS" || !HasIpvs)
                {
                    return [Error(request, -ENOENT)];
                }

                var reply = Message(0x10, 0, sequence, 1, 2,
                    Attribute(1, U16(IpvsFamilyId)), // CTRL_ATTR_FAMILY_ID
                    Attribute(2, Encoding.ASCII.GetBytes("IPVS\0")));
                return [reply, Error(request, 0)];
            }

            Assert.Equal(IpvsFamilyId, type);
            Assert.Equal(1, request[17]); // IPVS_GENL_VERSION
            var service = attributes.TryGetValue(CmdAttrService, out var s) ? Attributes(s) : null;
            var destination = attributes.TryGetValue(CmdAttrDest, out var d) ? Attributes(d) : null;
            var serviceKey = service is null ? null : ServiceKey(service);
            var destinationKey = destination is null ? null : Endpoint(destination[DestAddr], destination.TryGetValue(DestAddrFamily, out var af) ? BinaryPrimitives.ReadUInt16LittleEndian(af) : Family(service!), destination[DestPort]);
            var decoded = new FakeRequest(type, flags, sequence, command, serviceKey, destinationKey, request);
            Requests.Add(decoded);
            if (RequireAdmin)
            {
                return [Error(request, -EPERM)];
            }

            if (Fail?.Invoke(decoded) is { } errno)
            {
                return [Error(request, -errno)];
            }

            var dump = (flags & 0x300) == 0x300;
            Assert.Equal(command is GetService or GetDest, dump);
            Assert.True(dump || (flags & 0x4) != 0, "NLM_F_ACK on a command");
            return command switch
            {
                GetService => Dump(sequence, Services.Select(kv => Message(IpvsFamilyId, 2, sequence, NewService, 1, Nested(CmdAttrService, EncodeService(kv.Key, kv.Value)))).ToList()),
                GetDest when serviceKey is null || !Services.ContainsKey(serviceKey) => [Error(request, -ESRCH)],
                GetDest => Dump(sequence, Services[serviceKey].Destinations.Select(kv => Message(IpvsFamilyId, 2, sequence, NewDest, 1, Nested(CmdAttrDest, EncodeDestination(kv.Key, kv.Value)))).ToList()),
                _ => [Error(request, -Change(command, serviceKey, service, destinationKey, destination))],
            };
        }
    }

    /// <summary>Applies one command to the table; the errno the kernel would answer (0: done).</summary>
    private int Change(byte command, string? key, Dictionary<ushort, byte[]>? service, string? destinationKey, Dictionary<ushort, byte[]>? destination)
    {
        if (key is null || service is null)
        {
            return EINVAL;
        }

        var exists = Services.TryGetValue(key, out var existing);
        switch (command)
        {
            case NewService or SetService:
                if (!(service.ContainsKey(SvcSchedName) && service.ContainsKey(SvcFlags) && service.ContainsKey(SvcTimeout) && service.ContainsKey(SvcNetmask)))
                {
                    return EINVAL;
                }

                if (command == NewService && exists)
                {
                    return EEXIST;
                }

                if (command == SetService && !exists)
                {
                    return ESRCH;
                }

                var scheduler = Encoding.ASCII.GetString(service[SvcSchedName]);
                if (!scheduler.EndsWith('\0') || service[SvcFlags].Length != 8)
                {
                    return EINVAL;
                }

                scheduler = scheduler.TrimEnd('\0');
                if (!KnownSchedulers.Contains(scheduler))
                {
                    return ENOENT;
                }

                var target = existing ?? new FakeService { Scheduler = scheduler };
                var flags = BinaryPrimitives.ReadUInt32LittleEndian(service[SvcFlags]);
                var mask = BinaryPrimitives.ReadUInt32LittleEndian(service[SvcFlags].AsSpan(4));
                target.Scheduler = scheduler;
                target.Flags = ((target.Flags & ~mask) | (flags & mask)) | 0x2;
                target.Timeout = BinaryPrimitives.ReadUInt32LittleEndian(service[SvcTimeout]);
                target.Netmask = BinaryPrimitives.ReadUInt32LittleEndian(service[SvcNetmask]);
                Services[key] = target;
                return 0;
            case DelService:
                return Services.Remove(key) ? 0 : ESRCH;
        }

        if (!exists)
        {
            return ESRCH;
        }

        if (destinationKey is null || destination is null)
        {
            return EINVAL;
        }

        var has = existing!.Destinations.TryGetValue(destinationKey, out var current);
        switch (command)
        {
            case NewDest or SetDest:
                if (!(destination.ContainsKey(DestFwdMethod) && destination.ContainsKey(DestWeight) && destination.ContainsKey(DestUThresh) && destination.ContainsKey(DestLThresh)))
                {
                    return EINVAL;
                }

                if (command == NewDest && has)
                {
                    return EEXIST;
                }

                if (command == SetDest && !has)
                {
                    return ENOENT;
                }

                var value = current ?? new FakeDestination();
                value.ForwardMethod = BinaryPrimitives.ReadUInt32LittleEndian(destination[DestFwdMethod]) & 0x7;
                value.Weight = BinaryPrimitives.ReadUInt32LittleEndian(destination[DestWeight]);
                value.UpperThreshold = BinaryPrimitives.ReadUInt32LittleEndian(destination[DestUThresh]);
                value.LowerThreshold = BinaryPrimitives.ReadUInt32LittleEndian(destination[DestLThresh]);
                existing.Destinations[destinationKey] = value;
                return 0;
            case DelDest:
                return existing.Destinations.Remove(destinationKey) ? 0 : ENOENT;
            default:
                return EINVAL;
        }
    }

    private static ushort Family(Dictionary<ushort, byte[]> service) => BinaryPrimitives.ReadUInt16LittleEndian(service[SvcAf]);

    /// <summary>"tcp/10.0.0.1:80" from AF, PROTOCOL, ADDR (16 bytes), PORT (big-endian).</summary>
    private static string? ServiceKey(Dictionary<ushort, byte[]> service)
    {
        if (!(service.ContainsKey(SvcAf) && service.ContainsKey(SvcProtocol) && service.ContainsKey(SvcAddr) && service.ContainsKey(SvcPort)))
        {
            return null;
        }

        Assert.Equal(2, service[SvcAf].Length);
        Assert.Equal(2, service[SvcProtocol].Length);
        var protocol = BinaryPrimitives.ReadUInt16LittleEndian(service[SvcProtocol]) switch
        {
            6 => "tcp",
            17 => "udp",
            var other => $"proto{other}",
        };
        return protocol + "/" + Endpoint(service[SvcAddr], Family(service), service[SvcPort]);
    }

    private static string Endpoint(byte[] address, ushort family, byte[] port)
    {
        Assert.Equal(16, address.Length); // union nf_inet_addr
        Assert.Equal(2, port.Length);
        var ip = family switch
        {
            2 => new IPAddress(address.AsSpan(0, 4)),
            10 => new IPAddress(address),
            _ => throw new InvalidOperationException($"address family {family}"),
        };
        if (family == 2)
        {
            Assert.All(address[4..], b => Assert.Equal(0, b));
        }

        return new IPEndPoint(ip, (port[0] << 8) | port[1]).ToString();
    }

    private static byte[] EncodeService(string key, FakeService service)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var endpoint = IPEndPoint.Parse(key[(slash + 1)..]);
        var v6 = endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var address = new byte[16];
        endpoint.Address.TryWriteBytes(address, out _);
        var flags = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(flags, service.Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(flags.AsSpan(4), uint.MaxValue);
        return [
            .. Attribute(SvcAf, U16((ushort)(v6 ? 10 : 2))),
            .. Attribute(SvcProtocol, U16((ushort)(key.StartsWith("tcp", StringComparison.Ordinal) ? 6 : 17))),
            .. Attribute(SvcAddr, address),
            .. Attribute(SvcPort, [(byte)(endpoint.Port >> 8), (byte)endpoint.Port]),
            .. Attribute(SvcSchedName, Encoding.ASCII.GetBytes(service.Scheduler + "\0")),
            .. Attribute(SvcFlags, flags),
            .. Attribute(SvcTimeout, U32(service.Timeout)),
            .. Attribute(SvcNetmask, U32(service.Netmask)),
            // IPVS_SVC_ATTR_STATS: nested statistics, which the backend does not read.
            .. Nested(10, Attribute(1, U32(0))),
        ];
    }

    private static byte[] EncodeDestination(string key, FakeDestination destination)
    {
        var endpoint = IPEndPoint.Parse(key);
        var address = new byte[16];
        endpoint.Address.TryWriteBytes(address, out _);
        return [
            .. Attribute(DestAddr, address),
            .. Attribute(DestPort, [(byte)(endpoint.Port >> 8), (byte)endpoint.Port]),
            .. Attribute(DestFwdMethod, U32(destination.ForwardMethod)),
            .. Attribute(DestWeight, U32(destination.Weight)),
            .. Attribute(DestUThresh, U32(destination.UpperThreshold)),
            .. Attribute(DestLThresh, U32(destination.LowerThreshold)),
            .. Attribute(DestActiveConns, U32(0)),
            .. Attribute(DestInactConns, U32(0)),
            .. Attribute(DestAddrFamily, U16((ushort)(endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 10 : 2))),
        ];
    }

    private List<byte[]> Dump(uint sequence, List<byte[]> messages)
    {
        var datagrams = messages.Chunk(Math.Max(1, MessagesPerDatagram)).Select(c => c.SelectMany(m => m).ToArray()).ToList();
        // NLMSG_DONE, type 3, NLM_F_MULTI, with an int error of 0.
        datagrams.Add(Header(3, 2, sequence, 4, U32(0)));
        return datagrams;
    }

    /// <summary>
    /// NLMSG_ERROR: the error, then the request echoed — the header only (NLM_F_CAPPED) on an ack, the whole request on
    /// an error, as the kernel does without NETLINK_CAP_ACK.
    /// </summary>
    private static byte[] Error(byte[] request, int error)
    {
        var echo = error == 0 ? request.AsSpan(0, 16).ToArray() : request;
        return Header(2, (ushort)(error == 0 ? 0x100 : 0), BinaryPrimitives.ReadUInt32LittleEndian(request.AsSpan(8)), 4 + echo.Length, [.. U32((uint)error), .. echo]);
    }

    private static byte[] Message(ushort type, ushort flags, uint sequence, byte command, byte version, params byte[][] attributes)
    {
        byte[] payload = [command, version, 0, 0, .. attributes.SelectMany(a => a)];
        return Header(type, flags, sequence, payload.Length, payload);
    }

    private static byte[] Header(ushort type, ushort flags, uint sequence, int payloadLength, byte[] payload)
    {
        var message = new byte[16 + ((payloadLength + 3) & ~3)];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(16 + payloadLength));
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(12), 0); // from the kernel: port id 0
        payload.CopyTo(message, 16);
        return message;
    }

    private static byte[] Attribute(ushort type, byte[] value)
    {
        var attribute = new byte[(4 + value.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(attribute, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(attribute.AsSpan(2), type);
        value.CopyTo(attribute, 4);
        return attribute;
    }

    private static byte[] Nested(ushort type, byte[] inner) => Attribute((ushort)(type | 0x8000), inner);

    private static byte[] U16(ushort value) => [(byte)value, (byte)(value >> 8)];

    private static byte[] U32(uint value) => BitConverter.GetBytes(value);

    /// <summary>Attributes by type (flags masked off); asserts the lengths and 4-byte alignment.</summary>
    private static Dictionary<ushort, byte[]> Attributes(ReadOnlySpan<byte> data, params ushort[] nested)
    {
        var result = new Dictionary<ushort, byte[]>();
        var offset = 0;
        while (offset < data.Length)
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(data[offset..]);
            var rawType = BinaryPrimitives.ReadUInt16LittleEndian(data[(offset + 2)..]);
            Assert.InRange(length, 4, data.Length - offset);
            var type = (ushort)(rawType & 0x3FFF);
            // NLA_F_NESTED on the nested attributes (the service and the destination), on nothing else.
            Assert.Equal(nested.Contains(type), (rawType & 0x8000) != 0);
            result[type] = data.Slice(offset + 4, length - 4).ToArray();
            offset += (length + 3) & ~3;
        }

        Assert.Equal(data.Length, offset);
        return result;
    }

    /// <summary>The fake socket: each request's replies wait in a queue for the next receives.</summary>
    private sealed class Socket(FakeIpvsKernel kernel) : INetlinkSocket
    {
        private readonly Queue<byte[]> _replies = new();

        public bool Disposed { get; private set; }

        public void Send(ReadOnlySpan<byte> request)
        {
            ObjectDisposedException.ThrowIf(Disposed, this);
            foreach (var reply in kernel.Handle(request.ToArray()))
            {
                _replies.Enqueue(reply);
            }
        }

        public int Receive(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(Disposed, this);
            if (!_replies.TryDequeue(out var reply))
            {
                throw new NetlinkException("the kernel did not answer in time (netlink receive timed out)", 110);
            }

            reply.AsSpan(0, Math.Min(reply.Length, buffer.Length)).CopyTo(buffer);
            return reply.Length;
        }

        public void Dispose() => Disposed = true;
    }
}
