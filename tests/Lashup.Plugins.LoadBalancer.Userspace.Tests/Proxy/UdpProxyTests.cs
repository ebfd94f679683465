using System.Net;
using System.Net.Sockets;
using System.Text;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>The UDP proxy with real sockets on loopback: a flow per client, replies from the VIP, dead backends, idle flows.</summary>
public sealed class UdpProxyTests
{
    [Fact]
    public async Task Flows_EachClientStaysOnOneBackend_ClientsSpreadOverBoth()
    {
        using var a = new TestUdpServer("a");
        using var b = new TestUdpServer("b");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1), (b.Endpoint, 1));

        var used = new HashSet<string>();
        for (var i = 0; i < 30; i++)
        {
            // A connected client socket takes datagrams from the VIP's address and port only: replies must come from it.
            using var client = Connect(vip);
            var first = await AskAsync(client, $"c{i}-0");
            var backend = first.Split(':')[0];
            Assert.Equal($"{backend}:c{i}-0", first);
            for (var j = 1; j < 3; j++)
            {
                Assert.Equal($"{backend}:c{i}-{j}", await AskAsync(client, $"c{i}-{j}"));
            }

            used.Add(backend);
        }

        Assert.Equal(["a", "b"], used.Order());
        // One flow socket per client: 30 sources over the two backends.
        Assert.Equal(30, a.Sources.Count + b.Sources.Count);
        Assert.Equal(30, proxy.Stats.UdpFlowsOpened);
    }

    [Fact]
    public async Task DeadBackend_PortUnreachable_ClientMovedToALiveOne()
    {
        var dead = new IPEndPoint(IPAddress.Loopback, ProxyHarness.FreePort(TransportProtocol.Udp));
        using var live = new TestUdpServer("live");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (dead, 1000), (live.Endpoint, 1));
        using var client = Connect(vip);

        // The first datagrams may go to the dead backend (lost, as UDP may lose them); its ICMP error moves the flow.
        string? answer = null;
        for (var attempt = 0; attempt < 40 && answer is null; attempt++)
        {
            await client.SendAsync(Encoding.ASCII.GetBytes("ping"), SocketFlags.None);
            answer = await TryReceiveAsync(client, TimeSpan.FromMilliseconds(500));
        }

        Assert.Equal("live:ping", answer);
        Assert.True(proxy.Stats.Sum(c => c.ConnectFailures) >= 1);

        // Ejected (its status says so only while the short ejection lasts, which a slow run may outlive: count it).
        var slot = proxy.Backend.Vips.Single(v => v.Key == vip).Pool.Slots.Single(s => s.Endpoint.Equals(dead));
        Assert.True(slot.Ejections >= 1, $"the dead backend was not ejected ({slot.Failures} failures)");
    }

    [Fact]
    public async Task IdleFlow_ForgottenAfterUdpIdleTimeout()
    {
        using var a = new TestUdpServer("a");
        await using var proxy = new ProxyHarness(udpIdleTimeout: TimeSpan.FromMilliseconds(300));
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));
        using var client = Connect(vip);
        Assert.Equal("a:one", await AskAsync(client, "one"));
        Assert.Equal(1, proxy.Stats.Open);

        await ProxyHarness.EventuallyAsync(() => proxy.Stats.Open == 0, "the idle flow is forgotten");
        Assert.True(proxy.Stats.Sum(c => c.IdleTimeouts) >= 1);
        // The same client again: a new flow, served.
        Assert.Equal("a:two", await AskAsync(client, "two"));
        Assert.Equal(2, proxy.Stats.UdpFlowsOpened);
    }

    [Fact]
    public async Task MaxUdpFlows_NewFlowWhileTheOthersAreInUse_Dropped()
    {
        using var a = new TestUdpServer("a");
        await using var proxy = new ProxyHarness(maxUdpFlows: 1);
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));
        using var first = Connect(vip);
        using var second = Connect(vip);
        Assert.Equal("a:1", await AskAsync(first, "1"));

        await second.SendAsync(Encoding.ASCII.GetBytes("2"), SocketFlags.None);
        await ProxyHarness.EventuallyAsync(() => proxy.Stats.UdpDropped == 1, "the second client's datagram is dropped");
        Assert.Equal("a:3", await AskAsync(first, "3"));
        Assert.Equal(0, proxy.Stats.UdpEvicted);
    }

    [Fact]
    public async Task MaxUdpFlows_NewClient_TakesTheRoomOfTheFlowQuietLongest()
    {
        using var a = new TestUdpServer("a");
        await using var proxy = new ProxyHarness(maxUdpFlows: 2, workers: 1);
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));
        using var quiet = Connect(vip);
        using var busy = Connect(vip);
        using var late = Connect(vip);
        Assert.Equal("a:q", await AskAsync(quiet, "q"));
        Assert.Equal("a:b", await AskAsync(busy, "b"));

        // The late client is served once the quiet flow has been quiet long enough to give way; busy keeps talking.
        string? answer = null;
        await ProxyHarness.EventuallyAsync(
            async () =>
            {
                Assert.Equal("a:b", await AskAsync(busy, "b"));
                await late.SendAsync(Encoding.ASCII.GetBytes("l"), SocketFlags.None);
                answer = await TryReceiveAsync(late, TimeSpan.FromMilliseconds(200));
                return answer is not null;
            },
            "the late client gets a flow");

        Assert.Equal("a:l", answer);
        Assert.Equal(1, proxy.Stats.UdpEvicted);
        Assert.Equal(2, proxy.Stats.OpenUdpFlows);
        Assert.Equal("a:b", await AskAsync(busy, "b"));   // busy kept its flow
        Assert.Equal(3, proxy.Stats.UdpFlowsOpened);
    }

    [Fact]
    public async Task UdpFlowsAtTheirLimit_TcpVipsStillTakeConnections()
    {
        using var u = new TestUdpServer("u");
        using var t = new TestTcpServer("t");
        await using var proxy = new ProxyHarness(maxConnections: 32, maxUdpFlows: 32);
        var udpVip = await proxy.AddVipAsync(TransportProtocol.Udp, (u.Endpoint, 1));
        var tcpVip = await proxy.AddVipAsync(TransportProtocol.Tcp, (t.Endpoint, 1));

        // One host sending one datagram from each of 40 ports: more flows than the limit.
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var c = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                clients.Add(c);
                c.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                await c.SendToAsync(new byte[] { 1 }, new IPEndPoint(udpVip.Address, udpVip.Port));
            }

            await ProxyHarness.EventuallyAsync(() => proxy.Stats.OpenUdpFlows == 32, "32 flows open");
            Assert.Equal("t", await TestClient.WhoAsync(tcpVip));
            Assert.True(proxy.Stats.UdpDropped >= 1, "datagrams over max_udp_flows are dropped (no flow is quiet long enough to give way)");
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task RemovedBackend_ItsFlowsMoveToTheOthers_DrainedOneKeepsThem()
    {
        using var a = new TestUdpServer("a");
        using var b = new TestUdpServer("b");
        using var c = new TestUdpServer("c");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1), (b.Endpoint, 1), (c.Endpoint, 1));
        var clients = Enumerable.Range(0, 30).Select(_ => Connect(vip)).ToList();
        try
        {
            var first = new List<string>();
            foreach (var client in clients)
            {
                first.Add((await AskAsync(client, "x")).Split(':')[0]);
            }

            Assert.Contains("a", first);
            Assert.Contains("b", first);

            // a is removed (its node went away, say): a flow has no end to wait for, so its clients move at once.
            // b drains (weight 0): its flows are open connections, which a drain lets finish.
            await proxy.SetAsync(vip, (b.Endpoint, 0), (c.Endpoint, 1));
            for (var i = 0; i < clients.Count; i++)
            {
                var now = (await AskAsync(clients[i], "y")).Split(':')[0];
                Assert.Equal(first[i] == "a" ? "c" : first[i], now);
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task Ipv6Vip_Ipv6Backend_Served()
    {
        using var a = new TestUdpServer("a", address: IPAddress.IPv6Loopback);
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(IPAddress.IPv6Loopback, TransportProtocol.Udp, (a.Endpoint, 1));
        using var client = Connect(vip);

        Assert.Equal("a:v6", await AskAsync(client, "v6"));
    }

    private static Socket Connect(VipKey vip)
    {
        var socket = new Socket(vip.Address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(new IPEndPoint(vip.Address, vip.Port));
        return socket;
    }

    private static async Task<string> AskAsync(Socket client, string text)
    {
        await client.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None);
        return await TryReceiveAsync(client, ProxyHarness.Patience) ?? throw new TimeoutException($"no answer to {text}");
    }

    private static async Task<string?> TryReceiveAsync(Socket client, TimeSpan timeout)
    {
        var buffer = new byte[65536];
        using var patience = new CancellationTokenSource(timeout);
        try
        {
            var n = await client.ReceiveAsync(buffer, SocketFlags.None, patience.Token);
            return Encoding.ASCII.GetString(buffer, 0, n);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return null;
        }
    }
}
