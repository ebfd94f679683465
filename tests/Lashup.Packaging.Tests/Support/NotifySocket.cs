using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Lashup.Packaging.Tests.Support;

/// <summary>
/// systemd's side of sd_notify: a datagram socket at <see cref="Path"/> (given to a daemon as <c>$NOTIFY_SOCKET</c>),
/// writable by any user, that records every message. A path name works across network namespaces (an abstract name
/// would not). Deleted on dispose.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class NotifySocket : IDisposable
{
    private readonly Socket _socket;
    private readonly string _folder;
    private readonly ConcurrentQueue<string> _messages = new();
    private readonly SemaphoreSlim _received = new(0);
    private readonly Task _loop;

    public NotifySocket()
    {
        _folder = Directory.CreateTempSubdirectory("lashup-notify-").FullName;
        File.SetUnixFileMode(_folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        Path = System.IO.Path.Combine(_folder, "notify");
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _socket.Bind(new UnixDomainSocketEndPoint(Path));
        File.SetUnixFileMode(Path, (UnixFileMode)0b110_110_110);
        _loop = Task.Run(ReceiveAsync);
    }

    public string Path { get; }

    /// <summary>Every message so far, in order.</summary>
    public IReadOnlyList<string> Messages => [.. _messages];

    /// <summary>Waits (bounded) until some message has the line <paramref name="line"/>, e.g. <c>READY=1</c>.</summary>
    public async Task<bool> WaitForAsync(string line, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_messages.Any(m => m.Split('\n').Contains(line)))
            {
                return true;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _received.WaitAsync(left))
            {
                return _messages.Any(m => m.Split('\n').Contains(line));
            }
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(5));
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var count = await _socket.ReceiveAsync(buffer, SocketFlags.None);
                _messages.Enqueue(Encoding.UTF8.GetString(buffer, 0, count));
                _received.Release();
            }
        }
        catch (Exception e) when (e is ObjectDisposedException or SocketException)
        {
        }
    }
}
