using System.Net;
using System.Net.Sockets;
using CsCheck;
using DnsClient;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Server;
using Lashup.Plugins.Dns.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using DnsResponseCode = Lashup.Plugins.Dns.Protocol.DnsResponseCode;

namespace Lashup.Plugins.Dns.Tests.Server;

/// <summary>Clients that lie, stall or flood: each gets an error response or a closed connection, and the server keeps serving.</summary>
public sealed class HostileClientTests
{
    private static async Task<byte[]> UdpAsync(IPEndPoint server, byte[] packet)
    {
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        await udp.SendAsync(packet, server);
        return (await udp.ReceiveAsync().WaitAsync(TestServer.Timeout)).Buffer;
    }

    private static async Task<bool> ClosedByServerAsync(Socket socket)
    {
        var buffer = new byte[16];
        try
        {
            return await socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None).AsTask().WaitAsync(TestServer.Timeout) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task Tcp_ClientSendsHalfAQueryAndStalls_ConnectionClosedAfterTheIdleTimeout()
    {
        await using var s = await TestServer.StartAsync(tcpIdleTimeout: TimeSpan.FromMilliseconds(300));
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await slow.ConnectAsync(s.Endpoint);
        await slow.SendAsync(new byte[] { 0, 40, 0x12 }, SocketFlags.None);

        Assert.True(await ClosedByServerAsync(slow));
        Assert.True(Volatile.Read(ref s.Stats.TcpTimeouts) >= 1);
        Assert.Single((await s.QueryAsync("lashup.directory", QueryType.SOA, tcp: true)).Answers);
    }

    [Fact]
    public async Task Tcp_LengthPrefixLongerThanTheData_ConnectionClosed_NothingAnswered()
    {
        await using var s = await TestServer.StartAsync(tcpIdleTimeout: TimeSpan.FromMilliseconds(500));
        using var liar = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await liar.ConnectAsync(s.Endpoint);
        var query = Packets.Concat(Packets.Header(), Packets.Name("lashup.directory"), Packets.TypeClass());
        await liar.SendAsync(Packets.Concat(Packets.U16(65535), query), SocketFlags.None);
        liar.Shutdown(SocketShutdown.Send);

        Assert.True(await ClosedByServerAsync(liar));
    }

    [Fact]
    public async Task Tcp_LengthUnderAHeader_ConnectionClosed()
    {
        await using var s = await TestServer.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(s.Endpoint);
        await client.SendAsync(new byte[] { 0, 3, 1, 2, 3 }, SocketFlags.None);

        Assert.True(await ClosedByServerAsync(client));
    }

    /// <summary>Opens a TCP connection and waits until the server has accepted it, so that connections are accepted in order.</summary>
    private static async Task<Socket> ConnectAcceptedAsync(TestServer s)
    {
        var before = Volatile.Read(ref s.Stats.TcpConnections);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(s.Endpoint);
        await TestServer.EventuallyAsync(() => Task.FromResult(Volatile.Read(ref s.Stats.TcpConnections) > before), "the server to accept the connection");
        return socket;
    }

    private static async Task SendTcpQueryAsync(Socket socket, ushort id, string name, Abstractions.Dns.DnsRecordType type = Abstractions.Dns.DnsRecordType.A)
    {
        var query = Packets.Query(name, type, id: id);
        await socket.SendAsync(Packets.Concat(Packets.U16(query.Length), query), SocketFlags.None);
    }

    private static async Task<DecodedMessage> ReadTcpResponseAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var prefix = new byte[2];
        await stream.ReadExactlyAsync(prefix).AsTask().WaitAsync(TestServer.Timeout);
        var body = new byte[(prefix[0] << 8) | prefix[1]];
        await stream.ReadExactlyAsync(body).AsTask().WaitAsync(TestServer.Timeout);
        return DecodedMessage.Decode(body);
    }

    [Fact]
    public async Task Tcp_CapFullOfIdleConnections_NewClientAnswered_OldestIdleClosed()
    {
        await using var s = await TestServer.StartAsync(tcpMaxConnections: 4);
        var held = new List<Socket>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                held.Add(await ConnectAcceptedAsync(s));
            }

            var answer = await s.QueryAsync("lashup.directory", QueryType.SOA, tcp: true);

            Assert.False(answer.HasError, answer.ErrorMessage);
            Assert.Single(answer.Answers);
            Assert.True(await ClosedByServerAsync(held[0]), "the oldest idle connection was not closed");
            for (var i = 1; i < 4; i++)
            {
                // The others are still open and served.
                await SendTcpQueryAsync(held[i], (ushort)i, "lashup.directory", Abstractions.Dns.DnsRecordType.SOA);
                Assert.Equal((ushort)i, (await ReadTcpResponseAsync(held[i])).Header.Id);
            }

            Assert.Equal(1, Volatile.Read(ref s.Stats.TcpEvicted));
            Assert.Equal(0, Volatile.Read(ref s.Stats.TcpRefused));
        }
        finally
        {
            held.ForEach(h => h.Dispose());
        }
    }

    [Fact]
    public async Task Tcp_OldestConnectionHasAQueryInProgress_NotEvicted_TheOldestIdleIs()
    {
        var forwarder = new HeldForwarder();
        await using var s = await TestServer.StartAsync(forwarder: forwarder, tcpMaxConnections: 3);
        var held = new List<Socket>();
        try
        {
            var busy = await ConnectAcceptedAsync(s);
            held.Add(busy);
            await SendTcpQueryAsync(busy, 7, "www.example.org");
            await TestServer.EventuallyAsync(() => Task.FromResult(forwarder.Waiting == 1), "the query to reach the forwarder");
            var idle1 = await ConnectAcceptedAsync(s);
            held.Add(idle1);
            var idle2 = await ConnectAcceptedAsync(s);
            held.Add(idle2);

            var answer = await s.QueryAsync("lashup.directory", QueryType.SOA, tcp: true);

            Assert.False(answer.HasError, answer.ErrorMessage);
            Assert.Single(answer.Answers);
            Assert.True(await ClosedByServerAsync(idle1), "the oldest idle connection was not closed");
            forwarder.Release();
            Assert.Equal(7, (await ReadTcpResponseAsync(busy)).Header.Id);
            Assert.Equal(1, Volatile.Read(ref s.Stats.TcpEvicted));
        }
        finally
        {
            forwarder.Release();
            held.ForEach(h => h.Dispose());
        }
    }

    [Fact]
    public async Task Tcp_CapFullOfQueriesInProgress_NewConnectionRefused_QueriesStillAnswered()
    {
        var forwarder = new HeldForwarder();
        await using var s = await TestServer.StartAsync(forwarder: forwarder, tcpMaxConnections: 2);
        var held = new List<Socket>();
        try
        {
            for (ushort id = 1; id <= 2; id++)
            {
                var socket = await ConnectAcceptedAsync(s);
                held.Add(socket);
                await SendTcpQueryAsync(socket, id, "www.example.org");
            }

            await TestServer.EventuallyAsync(() => Task.FromResult(forwarder.Waiting == 2), "both queries to reach the forwarder");
            using var extra = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await extra.ConnectAsync(s.Endpoint);

            Assert.True(await ClosedByServerAsync(extra));
            Assert.Equal(1, Volatile.Read(ref s.Stats.TcpRefused));
            Assert.Equal(0, Volatile.Read(ref s.Stats.TcpEvicted));
            forwarder.Release();
            Assert.Equal(1, (await ReadTcpResponseAsync(held[0])).Header.Id);
            Assert.Equal(2, (await ReadTcpResponseAsync(held[1])).Header.Id);
        }
        finally
        {
            forwarder.Release();
            held.ForEach(h => h.Dispose());
        }

        await TestServer.EventuallyAsync(async () => (await s.QueryAsync("lashup.directory", QueryType.SOA, tcp: true)).Answers.Count == 1, "service after the flood");
    }

    [Fact]
    public async Task Tcp_SeveralQueriesOnOneConnection_AllAnsweredInOrder()
    {
        await using var s = await TestServer.StartAsync();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(s.Endpoint);
        using var stream = new NetworkStream(client);
        for (ushort id = 1; id <= 3; id++)
        {
            var query = Packets.Concat(Packets.Header(id: id), Packets.Name("lashup.directory"), Packets.TypeClass(Abstractions.Dns.DnsRecordType.SOA));
            await stream.WriteAsync(Packets.Concat(Packets.U16(query.Length), query));
        }

        for (ushort id = 1; id <= 3; id++)
        {
            var prefix = new byte[2];
            await stream.ReadExactlyAsync(prefix).AsTask().WaitAsync(TestServer.Timeout);
            var body = new byte[(prefix[0] << 8) | prefix[1]];
            await stream.ReadExactlyAsync(body).AsTask().WaitAsync(TestServer.Timeout);
            var decoded = DecodedMessage.Decode(body);
            Assert.Equal(id, decoded.Header.Id);
            Assert.Equal(1, decoded.Header.AnswerCount);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public async Task Udp_QuestionCountNotOne_FormErr(int questions)
    {
        await using var s = await TestServer.StartAsync();
        var parts = new List<byte[]> { Packets.Header(qd: (ushort)questions) };
        for (var i = 0; i < questions; i++)
        {
            parts.Add(Packets.Name("lashup.directory"));
            parts.Add(Packets.TypeClass());
        }

        var reply = DecodedMessage.Decode(await UdpAsync(s.Endpoint, Packets.Concat([.. parts])));

        Assert.Equal(DnsResponseCode.FormatError, reply.Header.ResponseCode);
    }

    [Fact]
    public async Task Udp_UnknownEdnsVersion_BadVers_AndUnknownOpcode_NotImp()
    {
        await using var s = await TestServer.StartAsync();
        var badVersion = Packets.Concat(Packets.Header(ar: 1), Packets.Name("lashup.directory"), Packets.TypeClass(), Packets.Opt(version: 1));
        var status = Packets.Concat(Packets.Header(flags: 2 << 11), Packets.Name("lashup.directory"), Packets.TypeClass());

        var badVers = await UdpAsync(s.Endpoint, badVersion);
        var notImp = DecodedMessage.Decode(await UdpAsync(s.Endpoint, status));

        // BADVERS (16) is an extended code: 0 in the header, 1 in the OPT record's upper bits.
        Assert.Equal(0, (int)DecodedMessage.Decode(badVers).Header.ResponseCode & 0xF);
        Assert.Equal(ARSoft.Tools.Net.Dns.ReturnCode.BadVersion, Oracle.Parse(badVers).ReturnCode);
        Assert.Equal(0, Oracle.Parse(badVers).EDnsOptions!.Version);
        Assert.Equal(DnsResponseCode.NotImplemented, notImp.Header.ResponseCode);
    }

    [Fact]
    public async Task Udp_ZoneTransferAsked_NotImp()
    {
        await using var s = await TestServer.StartAsync();
        var axfr = Packets.Concat(Packets.Header(), Packets.Name("lashup.directory"), Packets.U16(252), Packets.U16(1));

        Assert.Equal(DnsResponseCode.NotImplemented, DecodedMessage.Decode(await UdpAsync(s.Endpoint, axfr)).Header.ResponseCode);
    }

    [Fact]
    public void Engine_RandomAndMutatedPackets_NeverThrow_AndStayWithinTheLimit()
    {
        var zones = new[] { "lashup.directory" };
        var index = new RecordIndex(zones, new ZoneSettings(5, 5, 1));
        index.SetOwner("zone", ClusterRecords.ForZoneApex("lashup.directory", [IPAddress.Loopback]));
        index.SetOwner("web", ClusterRecords.ForService("web",
            [.. Enumerable.Range(1, 50).Select(i => new ServiceInstance("web", $"i{i}", IPAddress.Parse($"10.0.0.{i}"), "n", [ServicePort.Parse("http:80/tcp")]))],
            _ => true, zones));
        var engine = new QueryEngine(index, zones, [], new DnsStats(), 1232, NullLogger<QueryEngine>.Instance);
        var valid = new[]
        {
            Packets.Concat(Packets.Header(), Packets.Name("web.lashup.directory"), Packets.TypeClass()),
            Packets.Concat(Packets.Header(ar: 1), Packets.Name("_http._tcp.web.lashup.directory"), Packets.TypeClass(Abstractions.Dns.DnsRecordType.SRV), Packets.Opt(payload: 4096)),
            Packets.Concat(Packets.Header(), Packets.Name("web.lashup.directory"), Packets.TypeClass(Abstractions.Dns.DnsRecordType.ANY)),
        };
        // CsCheck samples on several threads: each gets its own response buffer, as each server thread does.
        using var responses = new ThreadLocal<byte[]>(() => new byte[DnsResponseWriter.MaxMessageSize]);

        Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Int[0, 200].Array[0, 8], Gen.Byte.Array[0, 8], Gen.Bool)
            .Sample((which, positions, values, tcp) =>
            {
                var packet = (byte[])valid[which].Clone();
                for (var i = 0; i < Math.Min(positions.Length, values.Length); i++)
                {
                    if (positions[i] < packet.Length)
                    {
                        packet[positions[i]] = values[i];
                    }
                }

                if (positions.Length > 0 && positions[0] < packet.Length)
                {
                    packet = packet[..(packet.Length - (positions[0] % 3))];
                }

                var outcome = engine.Answer(packet, responses.Value!, tcp, recursionAvailable: false, out _, out var length);
                var limit = tcp ? DnsResponseWriter.MaxMessageSize : 1232;
                return outcome != QueryOutcome.Answered || (length > 0 && length <= limit);
            }, iter: 20_000);
    }

    /// <summary>A forwarder that holds every query until released, then answers it with an empty response: a query in progress.</summary>
    private sealed class HeldForwarder : IQueryForwarder
    {
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Release() => _release.TrySetResult();

        public async ValueTask<int> ForwardAsync(ReadOnlyMemory<byte> packet, DnsQuery query, Memory<byte> response, int limit, bool overTcp, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _waiting);
            await _release.Task.WaitAsync(cancellationToken);
            packet.CopyTo(response);
            response.Span[2] |= 0x80; // QR: the question echoed back as a response
            return packet.Length;
        }
    }
}
