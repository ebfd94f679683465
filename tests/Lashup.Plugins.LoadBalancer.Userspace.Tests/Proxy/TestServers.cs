using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>
/// A TCP backend on 127.0.0.1 for the proxy's tests. By default it greets each connection with its name and a newline
/// (a banner: bytes the backend sends before the client does), echoes what it reads, and answers the client's FIN with
/// its own; another <c>handler</c> can do anything else with the connection.
/// </summary>
internal sealed class TestTcpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Socket> _connections = [];
    private readonly Func<TestTcpServer, Socket, CancellationToken, Task> _handler;
    private int _accepted;

    public TestTcpServer(string name, Func<TestTcpServer, Socket, CancellationToken, Task>? handler = null, int port = 0, int backlog = 512, IPAddress? address = null)
    {
        Name = name;
        _handler = handler ?? GreetAndEchoAsync;
        address ??= IPAddress.Loopback;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(new IPEndPoint(address, port));
        _listener.Listen(backlog);
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        _ = AcceptLoopAsync();
    }

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Greets with the name and a newline, echoes, and ends (FIN) when the client ends.</summary>
    public static async Task GreetAndEchoAsync(TestTcpServer server, Socket socket, CancellationToken cancellationToken)
    {
        await socket.SendAsync(Encoding.ASCII.GetBytes(server.Name + "\n"), SocketFlags.None, cancellationToken);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                socket.Shutdown(SocketShutdown.Send);
                return;
            }

            await socket.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, cancellationToken);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        foreach (var connection in _connections)
        {
            connection.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            _connections.Add(socket);
            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            await _handler(this, socket, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }
}

/// <summary>A UDP backend on 127.0.0.1: answers each datagram with its name, a colon and the datagram, and remembers who sent it.</summary>
internal sealed class TestUdpServer : IDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<IPEndPoint, int> _sources = new();

    public TestUdpServer(string name, int port = 0, IPAddress? address = null)
    {
        Name = name;
        address ??= IPAddress.Loopback;
        _socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(address, port));
        Endpoint = (IPEndPoint)_socket.LocalEndPoint!;
        _ = ServeAsync(address);
    }

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    /// <summary>The addresses datagrams came from (the proxy's flow sockets), with how many each sent.</summary>
    public IReadOnlyDictionary<IPEndPoint, int> Sources => _sources;

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _stop.Dispose();
    }

    private async Task ServeAsync(IPAddress address)
    {
        var buffer = new byte[65536];
        var prefix = Encoding.ASCII.GetBytes(Name + ":");
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            var from = (IPEndPoint)received.RemoteEndPoint;
            _sources.AddOrUpdate(from, 1, (_, n) => n + 1);
            var reply = new byte[prefix.Length + received.ReceivedBytes];
            prefix.CopyTo(reply, 0);
            buffer.AsSpan(0, received.ReceivedBytes).CopyTo(reply.AsSpan(prefix.Length));
            try
            {
                await _socket.SendToAsync(reply, SocketFlags.None, from, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
            }
        }
    }
}
