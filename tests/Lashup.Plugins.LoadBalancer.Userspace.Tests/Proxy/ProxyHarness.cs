using System.Net;
using System.Net.Sockets;
using System.Text;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>
/// The userspace backend with its real proxy, VIPs on 127.0.0.1, driven the way the load balancer drives it (a table,
/// then deltas). Every wait in these tests is bounded by <see cref="Patience"/>; none asserts on time.
/// </summary>
internal sealed class ProxyHarness : IAsyncDisposable
{
    /// <summary>The longest any single wait may take before the test fails.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private LoadBalancerTable _table = LoadBalancerTable.Empty;

    public ProxyHarness(
        TimeSpan? connectTimeout = null,
        TimeSpan? idleTimeout = null,
        TimeSpan? udpIdleTimeout = null,
        int maxConnections = 10_000,
        int workers = 2,
        int maxUdpFlows = 10_000)
    {
        Settings = new ProxySettings(
            connectTimeout ?? TimeSpan.FromSeconds(2),
            idleTimeout ?? TimeSpan.FromMinutes(10),
            udpIdleTimeout ?? TimeSpan.FromSeconds(30),
            maxConnections,
            workers,
            maxUdpFlows);
        Stats = new ProxyStats();
        Engine = new ProxyEngine(Settings, Stats, NullLogger.Instance);
        Backend = new UserspaceBackend(Engine, null, NullLogger<UserspaceBackend>.Instance);
    }

    public ProxySettings Settings { get; }

    /// <summary>The table as last applied (for a reconcile).</summary>
    public LoadBalancerTable Table => _table;

    public ProxyStats Stats { get; }

    public ProxyEngine Engine { get; }

    public UserspaceBackend Backend { get; }

    /// <summary>A new VIP on 127.0.0.1 (a free port) with these backends, applied; it must be served.</summary>
    public Task<VipKey> AddVipAsync(TransportProtocol protocol, params (IPEndPoint Endpoint, int Weight)[] backends) =>
        AddVipAsync(IPAddress.Loopback, protocol, backends);

    /// <summary>A new VIP on <paramref name="address"/> (a free port) with these backends, applied; it must be served.</summary>
    public async Task<VipKey> AddVipAsync(IPAddress address, TransportProtocol protocol, params (IPEndPoint Endpoint, int Weight)[] backends)
    {
        var key = new VipKey(address, (ushort)FreePort(protocol, address), protocol);
        await SetAsync(key, backends);
        var status = Backend.Describe(key);
        Assert.True(status?.Programmed == true, $"VIP {key} is not served: {status?.Reason}");
        return key;
    }

    /// <summary>Sets a VIP's backends (weights included), as an apply of what changed.</summary>
    public async Task SetAsync(VipKey key, params (IPEndPoint Endpoint, int Weight)[] backends)
    {
        var entry = new VipEntry(key, [.. backends.Select(b => new VipBackend(b.Endpoint, "node-1", b.Weight))]);
        var next = new LoadBalancerTable(_table.Vips.SetItem(key, entry));
        await Backend.ApplyAsync(LoadBalancerDelta.Between(_table, next), CancellationToken.None);
        _table = next;
    }

    /// <summary>Removes a VIP.</summary>
    public async Task RemoveAsync(VipKey key)
    {
        var next = new LoadBalancerTable(_table.Vips.Remove(key));
        await Backend.ApplyAsync(LoadBalancerDelta.Between(_table, next), CancellationToken.None);
        _table = next;
    }

    /// <summary>The state the backend reports for one backend of a VIP.</summary>
    public BackendProgramStatus StatusOf(VipKey key, IPEndPoint backend) =>
        Backend.Describe(key)!.Backends.Single(b => b.Endpoint.Equals(backend));

    public async ValueTask DisposeAsync()
    {
        await Backend.ClearAsync(CancellationToken.None);
        Backend.Dispose();
    }

    public static int FreePort(TransportProtocol protocol, IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        using var socket = protocol == TransportProtocol.Tcp
            ? new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test after <see cref="Patience"/>.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        using var patience = new CancellationTokenSource(Patience);
        while (!await condition())
        {
            if (patience.IsCancellationRequested)
            {
                Assert.Fail($"never happened within {Patience.TotalSeconds:0}s: {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), CancellationToken.None);
        }
    }

    public static Task EventuallyAsync(Func<bool> condition, string what) => EventuallyAsync(() => Task.FromResult(condition()), what);
}

/// <summary>A TCP client of a VIP, with bounded reads.</summary>
internal sealed class TestClient : IDisposable
{
    private readonly List<byte> _buffered = [];

    private TestClient(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<TestClient> ConnectAsync(VipKey vip)
    {
        var socket = new Socket(vip.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var patience = new CancellationTokenSource(ProxyHarness.Patience);
        await socket.ConnectAsync(new IPEndPoint(vip.Address, vip.Port), patience.Token);
        return new TestClient(socket);
    }

    /// <summary>Connects, reads the backend's greeting (its name) and closes: which backend took the connection.</summary>
    public static async Task<string> WhoAsync(VipKey vip)
    {
        using var client = await ConnectAsync(vip);
        return await client.ReadLineAsync() ?? throw new InvalidOperationException("the connection ended before the backend's greeting");
    }

    public Task SendAsync(string text) => SendAsync(Encoding.ASCII.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        using var patience = new CancellationTokenSource(ProxyHarness.Patience);
        await Socket.SendAsync(bytes, SocketFlags.None, patience.Token);
    }

    /// <summary>One line without its newline; null when the connection ended (FIN or reset) first.</summary>
    public async Task<string?> ReadLineAsync()
    {
        while (true)
        {
            var newline = _buffered.IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var line = Encoding.ASCII.GetString([.. _buffered.Take(newline)]);
                _buffered.RemoveRange(0, newline + 1);
                return line;
            }

            if (await FillAsync() == 0)
            {
                return null;
            }
        }
    }

    /// <summary>Exactly <paramref name="count"/> bytes; fails if the connection ends first.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        while (_buffered.Count < count)
        {
            if (await FillAsync() == 0)
            {
                throw new InvalidOperationException($"the connection ended after {_buffered.Count} of {count} bytes");
            }
        }

        var result = _buffered.Take(count).ToArray();
        _buffered.RemoveRange(0, count);
        return result;
    }

    /// <summary>Everything until the other side ends: its text and whether it ended with a reset rather than a FIN.</summary>
    public async Task<(string Text, bool Reset)> ReadToEndAsync()
    {
        try
        {
            while (await FillAsync() > 0)
            {
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (Drain(), true);
        }

        return (Drain(), false);
    }

    /// <summary>Waits until the connection ends (FIN or reset), discarding what arrives; true for a reset.</summary>
    public async Task<bool> WaitEndAsync() => (await ReadToEndAsync()).Reset;

    public void Dispose() => Socket.Dispose();

    private string Drain()
    {
        var text = Encoding.ASCII.GetString([.. _buffered]);
        _buffered.Clear();
        return text;
    }

    private async Task<int> FillAsync()
    {
        var buffer = new byte[64 * 1024];
        using var patience = new CancellationTokenSource(ProxyHarness.Patience);
        int n;
        try
        {
            n = await Socket.ReceiveAsync(buffer, SocketFlags.None, patience.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"nothing arrived within {ProxyHarness.Patience.TotalSeconds:0}s");
        }

        _buffered.AddRange(buffer.AsSpan(0, n));
        return n;
    }
}
