using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lashup.Plugins.LoadBalancer.Tests.Support;

/// <summary>
/// A backend on 127.0.0.1 for the daemon tests. It reads a line: an HTTP request (<c>GET ...</c>) is answered with its
/// name as the body and the connection closed; any other line is echoed back as <c>NAME:line</c>, and so is every line
/// after it, until the client ends (a long-lived connection whose backend can be told).
/// </summary>
internal sealed class TestBackend : IDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _connections = [];
    private int _accepted;

    public TestBackend(string name)
    {
        Name = name;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        _ = AcceptLoopAsync();
    }

    public string Name { get; }

    public IPEndPoint Endpoint { get; }

    public string Address => $"127.0.0.1:{Endpoint.Port}";

    public int Accepted => Volatile.Read(ref _accepted);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        lock (_connections)
        {
            _connections.ForEach(c => c.Dispose());
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
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
            lock (_connections)
            {
                _connections.Add(socket);
            }

            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: true);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            var first = await reader.ReadLineAsync(_stop.Token);
            if (first is null)
            {
                return;
            }

            if (first.StartsWith("GET ", StringComparison.Ordinal))
            {
                while (await reader.ReadLineAsync(_stop.Token) is { Length: > 0 })
                {
                }

                var body = Encoding.ASCII.GetBytes(Name);
                var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(head, _stop.Token);
                await stream.WriteAsync(body, _stop.Token);
                socket.Shutdown(SocketShutdown.Send);
                return;
            }

            for (var line = first; line is not null; line = await reader.ReadLineAsync(_stop.Token))
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"{Name}:{line}\n"), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or SocketException)
        {
        }
    }
}
