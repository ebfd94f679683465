using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Server;

namespace Lashup.Plugins.Dns.Tests.Server;

/// <summary>
/// A server bound to 0.0.0.0 must answer from the address each query was sent to: a resolver that asked 127.0.0.2 and
/// hears from 127.0.0.1 drops the answer. Loopback only: the host routes 127.0.0.0/8 to lo, so a query to 127.0.0.2
/// reaches the wildcard socket while the kernel would pick 127.0.0.1 as the source of a reply to 127.0.0.1.
/// </summary>
public sealed class WildcardSourceTests
{
    [SkippableFact]
    public async Task Reply_WildcardSocket_QueryToAnotherLoopbackAddress_ComesFromThatAddress()
    {
        Skip.IfNot(UdpBatch.IsSupported, "destination-address replies use Linux recvmmsg/sendmsg");
        await using var s = await TestServer.StartAsync(listen: IPAddress.Any);
        var port = s.Endpoint.Port;

        var (from, response) = await AskAsync(new IPEndPoint(IPAddress.Parse("127.0.0.2"), port), "ns.lashup.directory", id: 0x1234);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.2"), port), from);
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(response));
        Assert.Equal(0, response[3] & 0x0F); // NOERROR
        Assert.True(BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(6)) > 0, "no answer record");
    }

    [SkippableFact]
    public async Task Reply_WildcardSocket_QueryToTheBroadcastAddress_IsAnsweredFromALocalAddress()
    {
        Skip.IfNot(UdpBatch.IsSupported, "destination-address replies use Linux recvmmsg/sendmsg");
        await using var s = await TestServer.StartAsync(listen: IPAddress.Any);
        var port = s.Endpoint.Port;

        // A broadcast destination is no valid source: the reply must name the receiving interface's address.
        var (from, response) = await AskAsync(new IPEndPoint(IPAddress.Parse("127.255.255.255"), port), "ns.lashup.directory", id: 0x5678, broadcast: true);

        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), from);
        Assert.Equal(0x5678, BinaryPrimitives.ReadUInt16BigEndian(response));
    }

    [SkippableFact]
    public async Task Reply_WildcardSocket_ForwardedQuery_ComesFromTheAddressAsked()
    {
        Skip.IfNot(UdpBatch.IsSupported, "destination-address replies use Linux recvmmsg/sendmsg");
        await using var s = await TestServer.StartAsync(listen: IPAddress.Any, forwarder: new EchoForwarder());
        var port = s.Endpoint.Port;

        var (from, response) = await AskAsync(new IPEndPoint(IPAddress.Parse("127.0.0.3"), port), "example.org", id: 0x4321);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("127.0.0.3"), port), from);
        Assert.Equal(0x4321, BinaryPrimitives.ReadUInt16BigEndian(response));
        Assert.Equal(1, s.Stats.Forwarded);
    }

    [Fact]
    public void ReplyControl_Ipv4PacketInfo_SendsFromTheLocalAddressTheKernelReported()
    {
        var received = new byte[UdpBatch.ControlSize];
        // ifindex 7, spec_dst 127.0.0.2 (the local address), addr 127.255.255.255 (a broadcast: no valid source)
        Cmsg(received, level: 0, type: 8, [7, 0, 0, 0, 127, 0, 0, 2, 127, 255, 255, 255]);
        var reply = new byte[UdpBatch.ControlSize];

        var length = UdpBatch.ReplyControl(received, reply);

        Assert.Equal(32, length);
        Assert.Equal(28UL, MemoryMarshal.Read<ulong>(reply));
        Assert.Equal(0, MemoryMarshal.Read<int>(reply.AsSpan(8)));
        Assert.Equal(8, MemoryMarshal.Read<int>(reply.AsSpan(12)));
        Assert.Equal(0, MemoryMarshal.Read<int>(reply.AsSpan(16))); // any interface: routing decides
        Assert.Equal(new byte[] { 127, 0, 0, 2 }, reply[20..24]); // ipi_spec_dst = the query's local address
        Assert.Equal(new byte[4], reply[24..28]);
    }

    [Fact]
    public void ReplyControl_Ipv6PacketInfo_KeepsAddressAndInterface()
    {
        var received = new byte[UdpBatch.ControlSize];
        byte[] info = [.. IPAddress.Parse("fe80::1").GetAddressBytes(), 3, 0, 0, 0];
        Cmsg(received, level: 41, type: 50, info);
        var reply = new byte[UdpBatch.ControlSize];

        var length = UdpBatch.ReplyControl(received, reply);

        Assert.Equal(40, length);
        Assert.Equal(36UL, MemoryMarshal.Read<ulong>(reply));
        Assert.Equal(41, MemoryMarshal.Read<int>(reply.AsSpan(8)));
        Assert.Equal(50, MemoryMarshal.Read<int>(reply.AsSpan(12)));
        Assert.Equal(info, reply[16..36]);
    }

    [Fact]
    public void ReplyControl_Ipv6MulticastDestination_None()
    {
        var received = new byte[UdpBatch.ControlSize];
        Cmsg(received, level: 41, type: 50, [.. IPAddress.Parse("ff02::fb").GetAddressBytes(), 3, 0, 0, 0]);

        Assert.Equal(0, UdpBatch.ReplyControl(received, new byte[UdpBatch.ControlSize]));
    }

    [Theory]
    [InlineData(0)] // no control message
    [InlineData(8)] // shorter than a header
    [InlineData(1000)] // a length past the buffer
    [InlineData(20)] // an IP_PKTINFO too short for its data
    public void ReplyControl_MissingOrMalformed_None(int declaredLength)
    {
        var received = new byte[UdpBatch.ControlSize];
        if (declaredLength > 0)
        {
            Cmsg(received, level: 0, type: 8, new byte[12]);
            MemoryMarshal.Write(received, (ulong)declaredLength);
        }

        Assert.Equal(0, UdpBatch.ReplyControl(declaredLength == 0 ? [] : received, new byte[UdpBatch.ControlSize]));
    }

    [Fact]
    public void ReplyControl_OtherMessageFirst_FindsThePacketInfo()
    {
        var received = new byte[UdpBatch.ControlSize];
        Cmsg(received, level: 1, type: 29, [1, 2, 3, 4]); // e.g. SO_TIMESTAMP-like, 20 octets, aligned to 24
        Cmsg(received.AsSpan(24), level: 0, type: 8, [0, 0, 0, 0, 127, 0, 0, 5, 127, 0, 0, 5]);
        var reply = new byte[UdpBatch.ControlSize];

        Assert.Equal(32, UdpBatch.ReplyControl(received.AsSpan(0, 24 + 28), reply));
        Assert.Equal(new byte[] { 127, 0, 0, 5 }, reply[20..24]);
    }

    private static void Cmsg(Span<byte> buffer, int level, int type, ReadOnlySpan<byte> data)
    {
        MemoryMarshal.Write(buffer, (ulong)(16 + data.Length));
        MemoryMarshal.Write(buffer[8..], level);
        MemoryMarshal.Write(buffer[12..], type);
        data.CopyTo(buffer[16..]);
    }

    private static async Task<(IPEndPoint From, byte[] Response)> AskAsync(IPEndPoint server, string name, ushort id, bool broadcast = false)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { EnableBroadcast = broadcast };
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var query = new byte[512];
        BinaryPrimitives.WriteUInt16BigEndian(query, id);
        query[2] = 0x01; // RD
        query[5] = 1; // QDCOUNT
        var wire = DnsName.FromText(name);
        wire.CopyTo(query, 12);
        var length = 12 + wire.Length;
        query[length + 1] = 1; // QTYPE A
        query[length + 3] = 1; // QCLASS IN
        length += 4;
        await client.SendToAsync(query.AsMemory(0, length), SocketFlags.None, server);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TestServer.Timeout);
        var result = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
        return ((IPEndPoint)result.RemoteEndPoint, buffer[..result.ReceivedBytes]);
    }

    /// <summary>An upstream stand-in: answers every query with an empty NOERROR response (the query, flagged as a response).</summary>
    private sealed class EchoForwarder : IQueryForwarder
    {
        public ValueTask<int> ForwardAsync(ReadOnlyMemory<byte> packet, DnsQuery query, Memory<byte> response, int limit, bool overTcp, CancellationToken cancellationToken)
        {
            packet.CopyTo(response);
            response.Span[2] |= 0x80; // QR
            return ValueTask.FromResult(packet.Length);
        }
    }
}
