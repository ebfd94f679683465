using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using Lashup.Netlink.Route;
using static Lashup.Netlink.Tests.Wire;

namespace Lashup.Netlink.Tests.Route;

/// <summary>
/// The client against a scripted kernel: dumps decoded from literal messages laid out from the uapi headers, error acks
/// with extended-ack text, batches acked one by one, interrupted dumps redone, and replies that are broken or too
/// large refused with a clear error.
/// </summary>
public sealed class RtnlClientTests
{
    private static readonly PhysicalAddress Mac1 = PhysicalAddress.Parse("02-4C-00-00-00-01");
    private static readonly PhysicalAddress Mac2 = PhysicalAddress.Parse("02-4C-00-00-00-02");

    [Fact]
    public void GetLink_VxlanReply_DecodedWithVxlanData()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Message(16, 0, seq, Hex(
            "00 00 0100 07000000 43100100 00000000",    // ifinfomsg: ARPHRD_ETHER 1, index 7, flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
            "0c00 0300 6c617368757030 00",              // IFLA_IFNAME "lashup0"
            "0800 0d00 e8030000",                       // IFLA_TXQLEN 13: not read, skipped
            "0800 0400 aa050000",                       // IFLA_MTU 1450
            "0a00 0100 024c00000001 0000",              // IFLA_ADDRESS
            "0b00 1400 6c6173687570 00 00",             // IFLA_IFALIAS "lashup"
            "3c00 1200",                                // IFLA_LINKINFO (the kernel sends it without NLA_F_NESTED)
            "0a00 0100 76786c616e 00 0000",             //   IFLA_INFO_KIND "vxlan"
            "2c00 0200",                                //   IFLA_INFO_DATA
            "0800 0100 00040000",                       //     IFLA_VXLAN_ID 1024
            "0800 0300 03000000",                       //     IFLA_VXLAN_LINK 3
            "0800 0400 c0a8010a",                       //     IFLA_VXLAN_LOCAL 192.168.1.10
            "0500 0700 00 000000",                      //     IFLA_VXLAN_LEARNING 0
            "0600 0f00 12b5 0000")), Ack(seq)]);        //     IFLA_VXLAN_PORT 4789
        using var client = new RtnlClient(kernel);

        var link = client.GetLink("lashup0");

        Assert.Equal(new RtnlLink(7, "lashup0", true, 1450, Mac1, "lashup", "vxlan", new VxlanSettings(1024, IPAddress.Parse("192.168.1.10"), 4789, false, 3)), link);
        Assert.Equal(Show(Hex(
            "2c000000 1200 0500 01000000 00000000",     // len 44, RTM_GETLINK 18, REQUEST|ACK, seq 1
            "00 00 0000 00000000 00000000 00000000",
            "0c00 0300 6c617368757030 00")), Show(kernel.Sent.Single()));
    }

    [Fact]
    public void GetLink_NoSuchDevice_Null()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Error(seq, -19, "")]);
        using var client = new RtnlClient(kernel);

        Assert.Null(client.GetLink("nothere"));
    }

    [Fact]
    public void RouteTo_ViaGateway_TheKernelsCloneDecoded()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Message(24, 0, seq, Hex(
            "02 20 00 00 fe 02 00 01 00020000",             // rtmsg: inet /32, main, RTPROT_KERNEL, unicast, RTM_F_CLONED
            "0800 0f00 fe000000",                           // RTA_TABLE 254
            "0800 0100 c0a85803",                           // RTA_DST 192.168.88.3
            "0800 0400 05000000",                           // RTA_OIF 5
            "0800 0500 c0a84d02",                           // RTA_GATEWAY 192.168.77.2
            "0800 0700 c0a84d01")), Ack(seq)]);             // RTA_PREFSRC 192.168.77.1
        using var client = new RtnlClient(kernel);

        var route = client.RouteTo(IPAddress.Parse("192.168.88.3"));

        Assert.Equal(new RtnlRouteLookup(IPAddress.Parse("192.168.88.3"), 1, IPAddress.Parse("192.168.77.2"), 5, IPAddress.Parse("192.168.77.1")), route);
        Assert.Equal(Show(Hex(
            "24000000 1a00 0500 01000000 00000000",         // len 36, RTM_GETROUTE 26, REQUEST|ACK, seq 1
            "02 20 00 00 00 00 00 00 00000000",             // rtmsg: inet, dst_len 32
            "0800 0100 c0a85803")), Show(kernel.Sent.Single()));
    }

    [Fact]
    public void RouteTo_NetworkUnreachable_Null()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Error(seq, -101, "")]);
        using var client = new RtnlClient(kernel);

        Assert.Null(client.RouteTo(IPAddress.Parse("203.0.113.9")));
    }

    [Fact]
    public void RouteTo_OtherRefusal_Thrown()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Error(seq, -22, "Invalid values in header for route get request")]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.RouteTo(IPAddress.Parse("192.168.77.2")));
        Assert.Contains("Invalid values in header for route get request", e.Message, StringComparison.Ordinal);
        Assert.Equal(22, e.Errno);
    }

    [Fact]
    public void DumpRoutes_OursAmongForeign_OnlyOursOfMainTable()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [
            Datagram(
                Message(24, 2, seq, Hex(
                    "02 18 00 00 fe 4c 00 01 04000000",     // ours: 10.240.2.0/24, main, proto 0x4c, unicast, onlink
                    "0800 0f00 fe000000",                   // RTA_TABLE 254
                    "0800 0100 0af00200",                   // RTA_DST
                    "0800 0500 0af00200",                   // RTA_GATEWAY
                    "0800 0400 05000000")),                 // RTA_OIF
                Message(24, 2, seq, Hex(
                    "02 18 00 00 fe 04 00 01 04000000",     // RTPROT_STATIC 4: foreign
                    "0800 0100 0afa0000",
                    "0800 0500 0af00200",
                    "0800 0400 05000000")),
                Message(24, 2, seq, Hex(
                    "02 18 00 00 64 4c 00 01 00000000",     // ours but table 100
                    "0800 0100 0afb0000",
                    "0800 0400 05000000")),
                Message(24, 2, seq, Hex(
                    "02 20 00 00 ff 02 fe 02 00000000",     // a local route (RTN_LOCAL 2), table local
                    "0800 0100 7f000001"))),
            Done(seq)]);
        kernel.Answer(seq => [Datagram(
            Message(24, 2, seq, Hex(
                "0a 40 00 00 fe 4c 00 01 04000000",         // IPv6 ours, onlink, metric 1024
                "0800 0f00 fe000000",
                "1400 0100 fd000002000000000000000000000000",
                "1400 0500 fd00ffff000000000000000000000002",
                "0800 0400 05000000",
                "0800 0600 00040000")),
            Done(seq))]);
        using var client = new RtnlClient(kernel);

        var routes = client.DumpRoutes(0x4c);

        Assert.Equal(
            [
                new RtnlRoute(IPAddress.Parse("10.240.2.0"), 24, IPAddress.Parse("10.240.2.0"), 5, true, 0x4c),
                new RtnlRoute(IPAddress.Parse("fd00:2::"), 64, IPAddress.Parse("fd00:ffff::2"), 5, true, 0x4c, Metric: 1024),
            ],
            routes);
        Assert.Equal(
            [Show(Hex("1c000000 1a00 0103 01000000 00000000 02 00 00 00 00 00 00 00 00000000")), // RTM_GETROUTE 26, REQUEST|DUMP 0x301, AF_INET
             Show(Hex("1c000000 1a00 0103 02000000 00000000 0a 00 00 00 00 00 00 00 00000000"))], // AF_INET6
            kernel.Sent.Select(s => Show(s)));
    }

    [Fact]
    public void DumpNeighboursFdbAddresses_LiteralMessages_Decoded()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(
            Message(28, 2, seq, Hex("02 00 0000 05000000 8000 00 01", "0800 0100 0af00200", "0a00 0200 024c00000002 0000")),
            Message(28, 2, seq, Hex("02 00 0000 09000000 0200 00 01", "0800 0100 0a000001", "0a00 0200 020000000009 0000")),
            Done(seq))]);
        kernel.Answer(seq => [Done(seq)]);
        kernel.Answer(seq => [Datagram(
            Message(28, 2, seq, Hex("07 00 0000 05000000 8000 02 00", "0a00 0200 024c00000002 0000", "0800 0100 c0a8010b")),
            Message(28, 2, seq, Hex("07 00 0000 05000000 8000 02 00", "0a00 0200 000000000000 0000", "0800 0100 c0a8010c")),
            Message(28, 2, seq, Hex("07 00 0000 06000000 8000 02 00", "0a00 0200 333300000001 0000")),
            Done(seq))]);
        kernel.Answer(seq => [Datagram(
            Message(20, 2, seq, Hex("02 20 00 00 05000000", "0800 0100 0af00100", "0800 0200 0af00100", "0b00 0300 6c617368757030 00")),
            Done(seq))]);
        kernel.Answer(seq => [Datagram(
            Message(20, 2, seq, Hex("0a 80 80 00 05000000", "1400 0100 fd000000000000000000000000000001")),
            Done(seq))]);
        using var client = new RtnlClient(kernel);

        Assert.Equal([new RtnlNeighbour(5, IPAddress.Parse("10.240.2.0"), Mac2)], client.DumpNeighbours(5));
        Assert.Equal(
            [new RtnlFdbEntry(5, Mac2, IPAddress.Parse("192.168.1.11")), new RtnlFdbEntry(5, PhysicalAddress.Parse("00-00-00-00-00-00"), IPAddress.Parse("192.168.1.12"))],
            client.DumpFdb(5));
        Assert.Equal(
            [new RtnlAddress(5, IPAddress.Parse("10.240.1.0"), 32), new RtnlAddress(5, IPAddress.Parse("fd00::1"), 128)],
            client.DumpAddresses(5));
        Assert.Equal(Show(Hex("1c000000 1e00 0103 03000000 00000000 07 00 0000 00000000 0000 00 00")), Show(kernel.Sent[2])); // RTM_GETNEIGH 30, AF_BRIDGE
    }

    [Fact]
    public void Execute_ErrorAckWithExtendedAck_OperationErrnoAndKernelText()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Ack(seq), Error(seq + 1, -19, "Nexthop device is not up"), Ack(seq + 2))]);
        using var client = new RtnlClient(kernel);
        var route = new RtnlRoute(IPAddress.Parse("10.240.9.0"), 24, IPAddress.Parse("10.240.9.1"), 99, true, 0x4c);
        var batch = new RtnlBatch()
            .ReplaceNeighbour(new RtnlNeighbour(5, IPAddress.Parse("10.240.2.0"), Mac2))
            .AddRoute(route)
            .ReplaceFdb(new RtnlFdbEntry(5, Mac2, IPAddress.Parse("192.168.1.11")));

        var failure = Assert.Single(client.Execute(batch));

        Assert.Equal(1, failure.Index);
        Assert.Equal(19, failure.Error.Errno);
        Assert.Equal("RTM_NEWROUTE 10.240.9.0/24 via 10.240.9.1 dev #99 onlink proto 76 table 254: ENODEV (No such device): \"Nexthop device is not up\"", failure.Error.Message);
        Assert.Single(kernel.Sent); // three messages, one sendmsg
        Assert.Equal(batch.Writer.Length, kernel.Sent[0].Length);
    }

    [Fact]
    public void AddRoute_Refused_ThrowsWithKernelText()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Error(seq, -22, "Nexthop has invalid gateway")]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.AddRoute(new RtnlRoute(IPAddress.Parse("10.1.0.0"), 16, IPAddress.Parse("10.1.0.1"), 5, true, 0x4c)));

        Assert.Equal("RTM_NEWROUTE 10.1.0.0/16 via 10.1.0.1 dev #5 onlink proto 76 table 254: EINVAL (Invalid argument): \"Nexthop has invalid gateway\"", e.Message);
    }

    [Fact]
    public void Execute_LargeBatch_SplitIntoSendsOfAtMost128()
    {
        var kernel = new ScriptedKernel();
        var batch = new RtnlBatch();
        for (var i = 0; i < 300; i++)
        {
            batch.ReplaceNeighbour(new RtnlNeighbour(5, new IPAddress([10, 240, (byte)(i >> 8), (byte)i]), Mac2));
        }

        foreach (var count in new[] { 128, 128, 44 })
        {
            kernel.Answer(seq => [Datagram([.. Enumerable.Range(0, count).Select(i => Ack(seq + (uint)i))])]);
        }

        using var client = new RtnlClient(kernel);

        Assert.Empty(client.Execute(batch));
        Assert.Equal([128 * 48, 128 * 48, 44 * 48], kernel.Sent.Select(s => s.Length));
        Assert.Equal(129u, BinaryPrimitives.ReadUInt32LittleEndian(kernel.Sent[1].AsSpan(8))); // numbering runs on
    }

    [Fact]
    public void Execute_LateAckOfEarlierRequest_Skipped()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Error(seq - 1, -17, ""), Ack(seq))]);
        using var client = new RtnlClient(kernel, firstSequence: 5);

        client.SetLinkUp(3, true);
    }

    [Fact]
    public void Execute_ReplyAhead_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Ack(seq + 4)]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.SetLinkUp(3, true));

        Assert.Equal("RTM_NEWLINK set link #3 up: a reply numbered 5, ahead of the requests' 1-1", e.Message);
    }

    [Fact]
    public void Dump_Interrupted_RedoneAndOnlyTheCleanResultKept()
    {
        var kernel = new ScriptedKernel();
        var link = Hex("00 00 0100 02000000 00000000 00000000", "0800 0300 65746830", "0800 0400 dc050000");
        kernel.Answer(seq => [Datagram(Message(16, 2 | 0x10, seq, link), Message(3, 2 | 0x10, seq, [0, 0, 0, 0]))]); // NLM_F_DUMP_INTR
        kernel.Answer(seq => [Datagram(Message(16, 2, seq, link), Done(seq))]);
        using var client = new RtnlClient(kernel);

        var links = client.DumpLinks();

        Assert.Equal([new RtnlLink(2, "eth0", false, 1500, null, null, null, null)], links);
        Assert.Equal(2, kernel.Sent.Count);
    }

    [Fact]
    public void Dump_AlwaysInterrupted_GivesUp()
    {
        var kernel = new ScriptedKernel();
        for (var i = 0; i < RtnlClient.DumpAttempts; i++)
        {
            kernel.Answer(seq => [Message(3, 2 | 0x10, seq, [0, 0, 0, 0])]);
        }

        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpLinks());

        Assert.Equal("RTM_GETLINK dump: interrupted 5 times in a row (the table keeps changing under the dump)", e.Message);
    }

    [Fact]
    public void Dump_DoneWithErrorAndText_Thrown()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Message(3, 2 | 0x200, seq, [.. BitConverter.GetBytes(-22), .. Attribute(1, "Invalid header for a dump request")])]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpLinks());

        Assert.Equal("RTM_GETLINK dump: the dump failed: EINVAL (Invalid argument): \"Invalid header for a dump request\"", e.Message);
    }

    [Fact]
    public void Dump_TruncatedAttribute_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Message(16, 2, seq, Hex("00 00 0100 02000000 00000000 00000000", "c800 0300 65746830")), Done(seq))]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpLinks());

        Assert.Equal("malformed netlink reply: attribute 3 of RTM_NEWLINK #2 says 200 bytes, 8 are left", e.Message);
    }

    [Fact]
    public void Dump_AttributeShorterThanItsHeader_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Message(16, 2, seq, Hex("00 00 0100 02000000 00000000 00000000", "0200 0300 00000000")), Done(seq))]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpLinks());

        Assert.Equal("malformed netlink reply: attribute 3 of RTM_NEWLINK #2 says 2 bytes, 8 are left", e.Message);
    }

    [Fact]
    public void Dump_WrongSizedValues_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Message(16, 2, seq, Hex("00 00 0100 02000000 00000000 00000000", "0800 0300 65746830", "0600 0400 dc05 0000")), Done(seq))]);
        kernel.Answer(seq => [Datagram(Message(24, 2, seq, Hex("02 18 00 00 fe 4c 00 01 00000000", "0900 0100 0af0020001 000000")), Done(seq))]);
        using var client = new RtnlClient(kernel);

        Assert.Equal("malformed netlink reply: attribute 4 has 2 bytes, expected 4", Assert.Throws<NetlinkException>(() => client.DumpLinks()).Message);
        Assert.Equal("malformed netlink reply: RTM_NEWROUTE RTA_DST has 5 bytes, expected 4", Assert.Throws<NetlinkException>(() => client.DumpRoutes(0x4c)).Message);
    }

    [Fact]
    public void Dump_MessageShorterThanItsFixedHeader_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq => [Datagram(Message(24, 2, seq, Hex("02 18 00 00")), Done(seq))]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpRoutes(0x4c));

        Assert.Equal("malformed netlink reply: a RTM_NEWROUTE of 4 bytes, shorter than its rtmsg (12)", e.Message);
    }

    [Fact]
    public void Receive_DatagramLargerThanBuffer_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(_ => [new byte[RtnlClient.ReceiveBufferSize + 1]]);
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.DumpLinks());

        Assert.Equal($"RTM_GETLINK dump: a reply of {RtnlClient.ReceiveBufferSize + 1} bytes does not fit the 65536-byte receive buffer", e.Message);
    }

    [Fact]
    public void Receive_MessageLengthPastDatagram_ClearError()
    {
        var kernel = new ScriptedKernel();
        kernel.Answer(seq =>
        {
            var ack = Ack(seq);
            BinaryPrimitives.WriteUInt32LittleEndian(ack, uint.MaxValue);
            return [ack];
        });
        using var client = new RtnlClient(kernel);

        var e = Assert.Throws<NetlinkException>(() => client.SetLinkUp(3, true));

        Assert.Equal($"RTM_NEWLINK set link #3 up: a netlink message says {uint.MaxValue} bytes, 36 were received", e.Message);
    }

    [Fact]
    public void Receive_NoAnswer_TimeoutFromSocket()
    {
        using var client = new RtnlClient(new ScriptedKernel());

        Assert.Equal(Errno.ETIMEDOUT, Assert.Throws<NetlinkException>(() => client.DeleteLink(3)).Errno);
    }

    private static byte[] Ack(uint sequence) => Error(sequence, 0, "");

    /// <summary>NLMSG_ERROR as the kernel sends it with NETLINK_CAP_ACK and NETLINK_EXT_ACK: error, the request's header, NLMSGERR_ATTR_MSG.</summary>
    private static byte[] Error(uint sequence, int error, string text)
    {
        var echo = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(echo.AsSpan(8), sequence);
        byte[] tlvs = text.Length == 0 ? [] : [.. Attribute(1, text), .. Hex("0800 0200 20000000")]; // NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS
        return Message(2, (ushort)(0x100 | (tlvs.Length > 0 ? 0x200 : 0)), sequence, [.. BitConverter.GetBytes(error), .. echo, .. tlvs]);
    }

    private static byte[] Done(uint sequence) => Message(3, 2, sequence, [0, 0, 0, 0]);

    private static byte[] Attribute(ushort type, string text)
    {
        byte[] value = [.. System.Text.Encoding.ASCII.GetBytes(text), 0];
        var attribute = new byte[(4 + value.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(attribute, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(attribute.AsSpan(2), type);
        value.CopyTo(attribute, 4);
        return attribute;
    }

    private static byte[] Datagram(params byte[][] messages) => [.. messages.SelectMany(m => m)];

    private static byte[] Message(ushort type, ushort flags, uint sequence, byte[] payload)
    {
        var message = new byte[16 + ((payload.Length + 3) & ~3)];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(16 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        payload.CopyTo(message, 16);
        return message;
    }

    /// <summary>
    /// A kernel that answers each request with the datagrams its next script makes from the request's sequence number,
    /// and times out when nothing is left.
    /// </summary>
    private sealed class ScriptedKernel : INetlinkSocket
    {
        private readonly Queue<Func<uint, byte[][]>> _scripts = new();
        private readonly Queue<byte[]> _datagrams = new();

        public List<byte[]> Sent { get; } = [];

        public void Answer(Func<uint, byte[][]> script) => _scripts.Enqueue(script);

        public void Send(ReadOnlySpan<byte> request)
        {
            Sent.Add(request.ToArray());
            if (_scripts.TryDequeue(out var script))
            {
                foreach (var datagram in script(BinaryPrimitives.ReadUInt32LittleEndian(request[8..])))
                {
                    _datagrams.Enqueue(datagram);
                }
            }
        }

        public int Receive(Span<byte> buffer)
        {
            if (!_datagrams.TryDequeue(out var datagram))
            {
                throw new NetlinkException("the kernel did not answer in time (netlink receive timed out)", Errno.ETIMEDOUT);
            }

            datagram.AsSpan(0, Math.Min(datagram.Length, buffer.Length)).CopyTo(buffer);
            return datagram.Length;
        }

        public void Dispose()
        {
        }
    }
}
