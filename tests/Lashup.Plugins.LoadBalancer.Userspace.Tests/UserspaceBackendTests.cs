using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests;

/// <summary>The backend as the load balancer drives it: apply, describe, reconcile, clear.</summary>
public sealed class UserspaceBackendTests
{
    [Fact]
    public async Task Apply_PortTaken_NotProgrammedWithReason_ReconcileBindsItOnceFree()
    {
        using var a = new TestTcpServer("a");
        var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var port = (ushort)((IPEndPoint)squatter.LocalEndPoint!).Port;
        var vip = new VipKey(IPAddress.Loopback, port, TransportProtocol.Tcp);
        await using var proxy = new ProxyHarness();
        await proxy.SetAsync(vip, (a.Endpoint, 1));

        var status = proxy.Backend.Describe(vip)!;
        Assert.False(status.Programmed);
        Assert.Equal($"127.0.0.1:{port} is in use by another socket", status.Reason);

        squatter.Dispose();
        var table = LoadBalancerTable.From([new VipEntry(vip, [new VipBackend(a.Endpoint, "node-1", 1)])]);
        Assert.Equal(1, await proxy.Backend.ReconcileAsync(table, CancellationToken.None));
        Assert.True(proxy.Backend.Describe(vip)!.Programmed);
        Assert.Equal("a", await TestClient.WhoAsync(vip));
        Assert.Equal(0, await proxy.Backend.ReconcileAsync(table, CancellationToken.None));
    }

    [Fact]
    public async Task UdpVip_AlreadyBoundByAnotherProxy_NotProgrammedWithReason()
    {
        // Two daemons on one host with the same UDP VIP: the second must not share the port and split the clients.
        using var a = new TestUdpServer("a");
        await using var first = new ProxyHarness();
        await using var second = new ProxyHarness();
        var vip = await first.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));

        await second.SetAsync(vip, (a.Endpoint, 1));

        var status = second.Backend.Describe(vip)!;
        Assert.False(status.Programmed);
        Assert.Equal($"127.0.0.1:{vip.Port} is in use by another socket", status.Reason);
        Assert.True(first.Backend.Describe(vip)!.Programmed);
    }

    [Fact]
    public async Task Reconcile_StaleVipsRemoved_MissingAdded_ChangedBackendsReset()
    {
        using var a = new TestTcpServer("a");
        using var b = new TestTcpServer("b");
        await using var proxy = new ProxyHarness();
        var stale = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        var kept = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        var added = new VipKey(IPAddress.Loopback, (ushort)ProxyHarness.FreePort(TransportProtocol.Tcp), TransportProtocol.Tcp);

        var table = LoadBalancerTable.From(
        [
            new VipEntry(kept, [new VipBackend(b.Endpoint, "node-1", 1)]),
            new VipEntry(added, [new VipBackend(a.Endpoint, "node-1", 1)]),
        ]);
        Assert.Equal(3, await proxy.Backend.ReconcileAsync(table, CancellationToken.None));

        Assert.Null(proxy.Backend.Describe(stale));
        Assert.Equal("b", await TestClient.WhoAsync(kept));
        Assert.Equal("a", await TestClient.WhoAsync(added));
        await Assert.ThrowsAnyAsync<SocketException>(() => TestClient.ConnectAsync(stale));
    }

    [Fact]
    public async Task Clear_ClosesEveryVip()
    {
        using var a = new TestTcpServer("a");
        await using var proxy = new ProxyHarness();
        var tcp = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        var udp = await proxy.AddVipAsync(TransportProtocol.Udp, (new IPEndPoint(IPAddress.Loopback, 9), 1));

        await proxy.Backend.ClearAsync(CancellationToken.None);

        Assert.Null(proxy.Backend.Describe(tcp));
        Assert.Null(proxy.Backend.Describe(udp));
        Assert.Empty(proxy.Backend.Vips);
        await Assert.ThrowsAnyAsync<SocketException>(() => TestClient.ConnectAsync(tcp));
    }

    [Fact]
    public async Task Dispose_WithoutClear_ClosesEveryVipSocket()
    {
        // How the host stops the backend with keep_on_stop = true: disposed, never cleared.
        using var a = new TestTcpServer("a");
        var proxy = new ProxyHarness();
        var tcp = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        var udp = await proxy.AddVipAsync(TransportProtocol.Udp, (new IPEndPoint(IPAddress.Loopback, 9), 1));

        proxy.Backend.Dispose();

        Assert.Empty(proxy.Backend.Vips);
        await Assert.ThrowsAnyAsync<SocketException>(() => TestClient.ConnectAsync(tcp));
        // Both ports are free again.
        using var tcpAgain = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcpAgain.Bind(new IPEndPoint(tcp.Address, tcp.Port));
        using var udpAgain = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udpAgain.Bind(new IPEndPoint(udp.Address, udp.Port));
    }
}
