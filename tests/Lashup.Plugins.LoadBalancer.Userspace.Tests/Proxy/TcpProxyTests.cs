using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>The TCP proxy with real sockets on loopback: spreading, retry, ejection, drain, limits, half-close.</summary>
public sealed class TcpProxyTests
{
    [Fact]
    public async Task Connections_SpreadOverTwoBackends_ByWeight()
    {
        using var a = new TestTcpServer("a");
        using var b = new TestTcpServer("b");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1), (b.Endpoint, 3));

        var counts = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0 };
        for (var i = 0; i < 200; i++)
        {
            using var client = await TestClient.ConnectAsync(vip);
            counts[await client.ReadLineAsync() ?? "(ended)"]++;
            // Wait for the whole close so that the next pick sees no connection open (least connections would skew it).
            client.Socket.Shutdown(SocketShutdown.Send);
            await client.WaitEndAsync();
        }

        Assert.True(counts["a"] > 0 && counts["b"] > counts["a"], $"a: {counts["a"]}, b: {counts["b"]}");
        Assert.Equal(200, a.Accepted + b.Accepted);
    }

    [Fact]
    public async Task Connections_EqualWeights_LeastConnectionsBalancesOpenOnes()
    {
        using var a = new TestTcpServer("a");
        using var b = new TestTcpServer("b");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1), (b.Endpoint, 1));

        // Connections held open: power of two choices sends each new one to the backend with fewer.
        var clients = new List<TestClient>();
        var counts = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0 };
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var client = await TestClient.ConnectAsync(vip);
                clients.Add(client);
                counts[await client.ReadLineAsync() ?? "(ended)"]++;
            }

            Assert.True(Math.Abs(counts["a"] - counts["b"]) <= 8, $"a: {counts["a"]}, b: {counts["b"]}");
            Assert.Equal(counts["a"], proxy.StatusOf(vip, a.Endpoint).Connections);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task FailedConnect_RetriedOnNextBackend_AndTheFailedOneEjected()
    {
        var dead = new IPEndPoint(IPAddress.Loopback, ProxyHarness.FreePort(TransportProtocol.Tcp));
        using var live = new TestTcpServer("live");
        await using var proxy = new ProxyHarness();
        // The dead backend is drawn first almost always.
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (dead, 1000), (live.Endpoint, 1));

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("live", await TestClient.WhoAsync(vip));
        }

        var status = proxy.StatusOf(vip, dead);
        Assert.False(status.Programmed);
        Assert.Contains("ejected", status.Reason, StringComparison.Ordinal);
        Assert.True(proxy.Stats.Sum(c => c.ConnectFailures) >= 1);
        Assert.True(proxy.Stats.Sum(c => c.Retries) >= 1);
    }

    [Fact]
    public async Task EjectedBackend_GetsConnectionsAgain_OnceItListens()
    {
        var port = ProxyHarness.FreePort(TransportProtocol.Tcp);
        var revived = new IPEndPoint(IPAddress.Loopback, port);
        using var live = new TestTcpServer("live");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (revived, 1000), (live.Endpoint, 1));
        Assert.Equal("live", await TestClient.WhoAsync(vip));
        Assert.Contains("ejected", proxy.StatusOf(vip, revived).Reason, StringComparison.Ordinal);

        using var back = new TestTcpServer("revived", port: port);
        await ProxyHarness.EventuallyAsync(async () => await TestClient.WhoAsync(vip) == "revived", "the revived backend takes a connection after its ejection");
        // A successful connect ends the ejection at once.
        var status = proxy.StatusOf(vip, revived);
        Assert.True(status.Programmed, status.Reason);
    }

    [Fact]
    public async Task OnlyBackendDown_ClientReset_ThenServedAgainWhenItComesBack()
    {
        var port = ProxyHarness.FreePort(TransportProtocol.Tcp);
        var only = new IPEndPoint(IPAddress.Loopback, port);
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (only, 1));

        // No backend takes it: a reset, not a hang.
        Assert.True(await ResetAsync(vip));

        // Every backend ejected: the proxy still tries them (fails open), so a recovered one is used at once.
        using var back = new TestTcpServer("back", port: port);
        Assert.Equal("back", await TestClient.WhoAsync(vip));
    }

    [Fact]
    public async Task SlowConnect_TimesOut_AndGoesToTheNextBackend()
    {
        // A backend whose accept queue is full drops SYNs: its connects hang until connect_timeout.
        using var full = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        full.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        full.Listen(0);
        var fullEndpoint = (IPEndPoint)full.LocalEndPoint!;
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(fullEndpoint);
        using var live = new TestTcpServer("live");
        await using var proxy = new ProxyHarness(connectTimeout: TimeSpan.FromMilliseconds(300));
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (fullEndpoint, 1000), (live.Endpoint, 1));

        Assert.Equal("live", await TestClient.WhoAsync(vip));
        Assert.True(proxy.Stats.Sum(c => c.ConnectTimeouts) >= 1);
        Assert.Contains("ejected", proxy.StatusOf(vip, fullEndpoint).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientSendsWhileBackendStillConnecting_BytesArriveOnceItAccepts()
    {
        // The backend's accept queue is full, so the proxy's SYN is dropped and retransmitted about a second later;
        // the client's bytes arrive meanwhile and must be forwarded once the connect completes.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(endpoint);
        await using var proxy = new ProxyHarness(connectTimeout: TimeSpan.FromSeconds(10));
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (endpoint, 1));

        using var client = await TestClient.ConnectAsync(vip);
        await client.SendAsync("hello\n");
        using var patience = new CancellationTokenSource(ProxyHarness.Patience);
        using (await listener.AcceptAsync(patience.Token))
        {
            // The filler: the queue has room again.
        }

        using var served = await listener.AcceptAsync(patience.Token);
        var buffer = new byte[6];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await served.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, patience.Token);
            Assert.True(n > 0, "the proxy ended the connection before forwarding what the client sent");
            read += n;
        }

        Assert.Equal("hello\n", Encoding.ASCII.GetString(buffer));
        await served.SendAsync(Encoding.ASCII.GetBytes("hi\n"), SocketFlags.None, patience.Token);
        Assert.Equal("hi", await client.ReadLineAsync());
    }

    [Fact]
    public async Task WeightZero_NoNewConnections_OpenOneLivesOn()
    {
        using var a = new TestTcpServer("a");
        using var b = new TestTcpServer("b");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1), (b.Endpoint, 1));
        var kept = await OpenOnAsync(vip, "a");
        using var _ = kept;

        await proxy.SetAsync(vip, (a.Endpoint, 0), (b.Endpoint, 1));
        var accepted = a.Accepted;
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("b", await TestClient.WhoAsync(vip));
        }

        Assert.Equal(accepted, a.Accepted);
        var status = proxy.StatusOf(vip, a.Endpoint);
        Assert.False(status.Programmed);
        Assert.Contains("draining", status.Reason, StringComparison.Ordinal);
        Assert.Equal(1, status.Connections);
        await kept.SendAsync("still here\n");
        Assert.Equal("still here", await kept.ReadLineAsync());
    }

    [Fact]
    public async Task RemovedBackend_OpenConnectionLivesOn()
    {
        using var a = new TestTcpServer("a");
        using var b = new TestTcpServer("b");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1), (b.Endpoint, 1));
        using var kept = await OpenOnAsync(vip, "a");

        await proxy.SetAsync(vip, (b.Endpoint, 1));
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("b", await TestClient.WhoAsync(vip));
        }

        await kept.SendAsync("ping\n");
        Assert.Equal("ping", await kept.ReadLineAsync());
    }

    [Fact]
    public async Task RemovedVip_StopsListening_OpenConnectionLivesOn()
    {
        using var a = new TestTcpServer("a");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        using var kept = await OpenOnAsync(vip, "a");

        await proxy.RemoveAsync(vip);
        Assert.Null(proxy.Backend.Describe(vip));
        await Assert.ThrowsAnyAsync<SocketException>(() => TestClient.ConnectAsync(vip));
        await kept.SendAsync("ping\n");
        Assert.Equal("ping", await kept.ReadLineAsync());
    }

    [Fact]
    public async Task IdleConnection_ClosedAfterIdleTimeout()
    {
        using var a = new TestTcpServer("a");
        await using var proxy = new ProxyHarness(idleTimeout: TimeSpan.FromMilliseconds(500));
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        using var client = await TestClient.ConnectAsync(vip);
        Assert.Equal("a", await client.ReadLineAsync());

        // Nothing either way: the proxy closes it (a FIN, not a reset) and counts it.
        Assert.False(await client.WaitEndAsync());
        await ProxyHarness.EventuallyAsync(() => proxy.Stats.Open == 0, "the idle connection is released");
        Assert.Equal(1, proxy.Stats.Sum(c => c.IdleTimeouts));
    }

    [Fact]
    public async Task MaxConnections_MoreAreRefused_UntilOneCloses()
    {
        using var a = new TestTcpServer("a");
        await using var proxy = new ProxyHarness(maxConnections: 2);
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (a.Endpoint, 1));
        var first = await TestClient.ConnectAsync(vip);
        using var second = await TestClient.ConnectAsync(vip);
        Assert.Equal("a", await first.ReadLineAsync());
        Assert.Equal("a", await second.ReadLineAsync());

        Assert.True(await ResetAsync(vip), "the connection over max_connections is reset");

        Assert.Equal(1, proxy.Stats.Sum(c => c.Refused));
        Assert.Equal(2, a.Accepted);

        first.Dispose();
        await ProxyHarness.EventuallyAsync(() => proxy.Stats.Open == 1, "the closed connection is released");
        Assert.Equal("a", await TestClient.WhoAsync(vip));
    }

    [Fact]
    public async Task HalfClose_ClientEndsSending_BackendAnswersAfterward()
    {
        using var counter = new TestTcpServer("counter", async (server, socket, ct) =>
        {
            var buffer = new byte[65536];
            long total = 0;
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            {
                total += n;
            }

            await socket.SendAsync(Encoding.ASCII.GetBytes($"{server.Name} got {total}\n"), SocketFlags.None, ct);
            socket.Shutdown(SocketShutdown.Both);
            socket.Close();
        });
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (counter.Endpoint, 1));
        using var client = await TestClient.ConnectAsync(vip);

        await client.SendAsync(new byte[300_000]);
        client.Socket.Shutdown(SocketShutdown.Send);
        var (text, reset) = await client.ReadToEndAsync();

        Assert.Equal("counter got 300000\n", text);
        Assert.False(reset);
        await ProxyHarness.EventuallyAsync(() => proxy.Stats.Open == 0, "the connection is released");
    }

    [Fact]
    public async Task HalfClose_BackendEndsFirst_ClientGoesOnSending()
    {
        var received = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var early = new TestTcpServer("early", async (server, socket, ct) =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("bye\n"), SocketFlags.None, ct);
            socket.Shutdown(SocketShutdown.Send);
            var buffer = new byte[65536];
            long total = 0;
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, ct)) > 0)
            {
                total += n;
            }

            received.TrySetResult(total);
            socket.Close();
        });
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (early.Endpoint, 1));
        using var client = await TestClient.ConnectAsync(vip);

        Assert.Equal("bye", await client.ReadLineAsync());
        Assert.Null(await client.ReadLineAsync());
        await client.SendAsync(new byte[200_000]);
        client.Socket.Shutdown(SocketShutdown.Send);

        Assert.Equal(200_000, await received.Task.WaitAsync(ProxyHarness.Patience));
        Assert.False(await client.WaitEndAsync());
    }

    [Fact]
    public async Task LargeTransfer_BothWaysAtOnce_ArrivesIntact()
    {
        using var echo = new TestTcpServer("echo");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (echo.Endpoint, 1));
        using var client = await TestClient.ConnectAsync(vip);
        Assert.Equal("echo", await client.ReadLineAsync());

        // More than the socket buffers hold: the proxy must stop reading a side whose other side is full, and resume.
        var data = RandomNumberGenerator.GetBytes(24 * 1024 * 1024);
        var sending = Task.Run(async () =>
        {
            for (var offset = 0; offset < data.Length; offset += 1 << 20)
            {
                await client.SendAsync(data.AsMemory(offset, 1 << 20));
            }
        });
        var echoed = await client.ReadExactlyAsync(data.Length);
        await sending;

        Assert.Equal(SHA256.HashData(data), SHA256.HashData(echoed));
        client.Socket.Shutdown(SocketShutdown.Send);
        Assert.False(await client.WaitEndAsync());
    }

    [Fact]
    public async Task ClientReset_ResetsTheBackendSide()
    {
        var ended = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new TestTcpServer("watcher", async (server, socket, ct) =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("hi\n"), SocketFlags.None, ct);
            try
            {
                var n = await socket.ReceiveAsync(new byte[16], SocketFlags.None, ct);
                ended.TrySetResult(n != 0);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                ended.TrySetResult(true);
            }
        });
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (watcher.Endpoint, 1));
        var client = await TestClient.ConnectAsync(vip);
        Assert.Equal("hi", await client.ReadLineAsync());

        client.Socket.LingerState = new LingerOption(true, 0);
        client.Dispose();

        Assert.True(await ended.Task.WaitAsync(ProxyHarness.Patience), "the backend saw a FIN, not a reset");
        await ProxyHarness.EventuallyAsync(() => proxy.Stats.Open == 0, "the connection is released");
    }

    [Fact]
    public async Task BulkUploads_OnTheOnlyWorker_OtherConnectionsStillServed()
    {
        // A sink backend that reads as fast as it can.
        using var sink = new TestTcpServer("sink", async (_, socket, ct) =>
        {
            var buffer = new byte[1 << 20];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, ct) > 0)
            {
            }
        });
        using var greeter = new TestTcpServer("g");
        await using var proxy = new ProxyHarness(workers: 1);
        var bulkVip = await proxy.AddVipAsync(TransportProtocol.Tcp, (sink.Endpoint, 1));
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (greeter.Endpoint, 1));

        using var stop = new CancellationTokenSource();
        var sent = new long[4];
        var uploads = Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            using var bulk = await TestClient.ConnectAsync(bulkVip);
            var chunk = new byte[4 << 20];
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    Interlocked.Add(ref sent[i], await bulk.Socket.SendAsync(chunk, SocketFlags.None, stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }
        })).ToArray();
        await ProxyHarness.EventuallyAsync(() => Enumerable.Range(0, sent.Length).All(i => Interlocked.Read(ref sent[i]) > 0), "every upload is under way");

        // Each connection through the busy worker still gets its greeting (every wait bounded by the patience).
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal("g", await TestClient.WhoAsync(vip));
        }

        await stop.CancelAsync();
        await Task.WhenAll(uploads);
        Assert.True(proxy.Stats.Sum(c => c.BytesToBackends) > 0);
    }

    [Fact]
    public async Task Ipv6Vip_Ipv4Backend_AndIpv4Vip_Ipv6Backend()
    {
        using var v4 = new TestTcpServer("v4");
        using var v6 = new TestTcpServer("v6", address: IPAddress.IPv6Loopback);
        await using var proxy = new ProxyHarness();
        var six = await proxy.AddVipAsync(IPAddress.IPv6Loopback, TransportProtocol.Tcp, (v4.Endpoint, 1));
        var four = await proxy.AddVipAsync(TransportProtocol.Tcp, (v6.Endpoint, 1));

        Assert.Equal("v4", await TestClient.WhoAsync(six));
        Assert.Equal("v6", await TestClient.WhoAsync(four));
    }

    /// <summary>Connects and waits for the end: true when the proxy reset the connection (it may come before the connect completes).</summary>
    private static async Task<bool> ResetAsync(Abstractions.LoadBalancing.VipKey vip)
    {
        try
        {
            using var client = await TestClient.ConnectAsync(vip);
            return await client.WaitEndAsync();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    /// <summary>Opens connections until one lands on <paramref name="name"/> and returns it (open); closes the others.</summary>
    private static async Task<TestClient> OpenOnAsync(Abstractions.LoadBalancing.VipKey vip, string name)
    {
        for (var i = 0; i < 200; i++)
        {
            var client = await TestClient.ConnectAsync(vip);
            if (await client.ReadLineAsync() == name)
            {
                return client;
            }

            client.Dispose();
        }

        throw new InvalidOperationException($"no connection landed on {name} in 200 tries");
    }
}
