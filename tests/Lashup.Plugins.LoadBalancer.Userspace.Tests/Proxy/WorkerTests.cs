using System.Net;
using System.Net.Sockets;
using System.Text;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>A proxy worker's life: work handed to it after it stopped, and a worker whose thread fails.</summary>
public sealed class WorkerTests
{
    [Fact]
    public async Task StoppedWorker_WorkHandedToItLater_WritesNothingIntoDescriptorsOpenedSince()
    {
        using var a = new TestUdpServer("a");
        var proxy = new ProxyHarness(workers: 1);
        await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));
        proxy.Engine.Dispose();   // the worker thread exits and closes its epoll set and eventfd

        // Descriptors opened now reuse the lowest free numbers, those the worker closed among them.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(client);
                await client.ConnectAsync(listener.LocalEndPoint!);
                sockets.Add(await listener.AcceptAsync());
            }

            // Removing the UDP VIP hands its worker a command: before, that wrote 8 bytes to the closed eventfd's number.
            await proxy.Backend.ClearAsync(CancellationToken.None);
            await Task.Delay(300);   // time for stray bytes to arrive, were any written

            var hit = sockets.Where(s => s.Available > 0).Select(s => $"{s.LocalEndPoint}<-{s.RemoteEndPoint}: {s.Available} bytes").ToList();
            Assert.True(hit.Count == 0, "bytes were written into an unrelated socket: " + string.Join("; ", hit));
            Assert.Empty(proxy.Backend.Vips);
        }
        finally
        {
            sockets.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task FailedWorker_NotReadyWithTheReason_FailsWork_UdpVipMovedToALiveWorkerOnReconcile()
    {
        using var a = new TestUdpServer("a");
        await using var proxy = new ProxyHarness(workers: 2);
        var vip = await proxy.AddVipAsync(TransportProtocol.Udp, (a.Endpoint, 1));
        Assert.True(proxy.Backend.Check().IsReady);
        var udp = Assert.IsType<UdpVip>(Assert.Single(proxy.Backend.Vips));
        var worker = udp.Worker!;

        // An exception escaping the worker's loop ends its thread.
        worker.Post(() => throw new InvalidOperationException("boom"));
        await ProxyHarness.EventuallyAsync(() => worker.HasExited, "the worker's thread ends");

        var readiness = proxy.Backend.Check();
        Assert.False(readiness.IsReady);
        Assert.Contains("boom", readiness.Reason, StringComparison.Ordinal);
        Assert.Contains("boom", worker.Failure, StringComparison.Ordinal);
        var failed = await Assert.ThrowsAsync<WorkerFailedException>(() => worker.RunAsync(() => { }));
        Assert.Contains("boom", failed.Message, StringComparison.Ordinal);
        var status = proxy.Backend.Describe(vip)!;
        Assert.False(status.Programmed);
        Assert.Contains("worker failed", status.Reason, StringComparison.Ordinal);

        // A reconcile binds the VIP again on the worker that runs.
        Assert.True(await proxy.Backend.ReconcileAsync(proxy.Table, CancellationToken.None) >= 1);
        Assert.True(proxy.Backend.Describe(vip)!.Programmed);
        Assert.NotSame(worker, udp.Worker);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Connect(new IPEndPoint(vip.Address, vip.Port));
        await client.SendAsync(Encoding.ASCII.GetBytes("x"), SocketFlags.None);
        var buffer = new byte[100];
        using var patience = new CancellationTokenSource(ProxyHarness.Patience);
        var n = await client.ReceiveAsync(buffer, SocketFlags.None, patience.Token);
        Assert.Equal("a:x", Encoding.ASCII.GetString(buffer, 0, n));
    }
}
