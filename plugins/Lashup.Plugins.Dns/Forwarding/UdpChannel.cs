using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>An upstream query waiting on a <see cref="UdpChannel"/> (keyed there by upstream and id).</summary>
/// <param name="Exchange">The exchange it belongs to.</param>
/// <param name="SentAt">When it was registered (a <see cref="TimeProvider"/> timestamp).</param>
internal readonly record struct PendingQuery(UdpExchange Exchange, long SentAt);

/// <summary>Called by a channel's receive loop for each datagram; <paramref name="upstream"/> is -1 for an unknown source.</summary>
internal delegate void DatagramHandler(UdpChannel channel, int upstream, ReadOnlySpan<byte> datagram);

/// <summary>
/// One UDP socket bound to an ephemeral port (the kernel's random choice), shared by many upstream queries: the
/// queries waiting on it, keyed by (upstream, id), and a receive loop that hands every datagram with its source to
/// the forwarder. A datagram is only matched against the upstreams' exact addresses and ports.
/// </summary>
internal sealed class UdpChannel
{
    /// <summary>Larger than any UDP payload.</summary>
    private const int ReceiveBufferSize = 65536;

    private readonly Socket _socket;
    private readonly Upstream[] _upstreams;
    private readonly ConcurrentDictionary<int, PendingQuery> _pending = new();
    private readonly DatagramHandler _handler;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private Task _receiving = Task.CompletedTask;

    /// <summary>Opens the socket, bound to port 0 of <paramref name="bindAddress"/>.</summary>
    /// <param name="bindAddress">The local address (loopback when every upstream of the family is on loopback).</param>
    /// <param name="upstreams">All upstreams, by index; those of another family never match.</param>
    /// <param name="handler">Receives the datagrams.</param>
    /// <param name="logger">For receive errors.</param>
    /// <param name="time">For the pause after an unexpected receive error.</param>
    public UdpChannel(IPAddress bindAddress, IReadOnlyList<IPEndPoint> upstreams, DatagramHandler handler, ILogger logger, TimeProvider time)
    {
        _handler = handler;
        _logger = logger;
        _time = time;
        _upstreams = new Upstream[upstreams.Count];
        for (var i = 0; i < upstreams.Count; i++)
        {
            _upstreams[i] = new Upstream(upstreams[i]);
        }

        _socket = new Socket(bindAddress.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.Bind(new IPEndPoint(bindAddress, 0));
            try
            {
                // Room for bursts of answers; the kernel may clamp it.
                _socket.ReceiveBufferSize = 1 << 20;
            }
            catch (SocketException)
            {
            }
        }
        catch
        {
            _socket.Dispose();
            throw;
        }

        Family = bindAddress.AddressFamily;
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public AddressFamily Family { get; }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>No query waits on this socket (cheaper than a count, which locks the whole map).</summary>
    public bool IsIdle => _pending.IsEmpty;

    /// <summary>The queries waiting, for the sweep of expired ones.</summary>
    public IEnumerable<KeyValuePair<int, PendingQuery>> Pending => _pending;

    public static int Key(int upstream, ushort id) => (upstream << 16) | id;

    public static (int Upstream, ushort Id) SplitKey(int key) => (key >>> 16, (ushort)key);

    public void Start(CancellationToken stopping) => _receiving = ReceiveLoopAsync(stopping);

    public bool TryAdd(int upstream, ushort id, PendingQuery pending) => _pending.TryAdd(Key(upstream, id), pending);

    public bool TryGet(int upstream, ushort id, out PendingQuery pending) => _pending.TryGetValue(Key(upstream, id), out pending);

    /// <summary>Removes the query if it is still the one waiting under that key: exactly one of answer, expiry or send failure wins.</summary>
    public bool TryRemove(int upstream, ushort id, PendingQuery pending) =>
        _pending.TryRemove(new KeyValuePair<int, PendingQuery>(Key(upstream, id), pending));

    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> datagram, int upstream, CancellationToken cancellationToken) =>
        _socket.SendToAsync(datagram, SocketFlags.None, _upstreams[upstream].Address, cancellationToken);

    /// <summary>Closes the socket and waits for the receive loop to end.</summary>
    public async Task StopAsync()
    {
        _socket.Dispose();
        try
        {
            await _receiving;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken stopping)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize);
        var source = new SocketAddress(Family);
        while (!stopping.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, source, stopping);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
            {
                // ICMP port unreachable from an earlier send (Windows reports it on unconnected sockets): not fatal.
                continue;
            }
            catch (SocketException e)
            {
                ForwarderLog.ReceiveFailed(_logger, LocalEndPoint.ToString(), e);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _time, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            try
            {
                _handler(this, Match(source), buffer.AsSpan(0, length));
            }
            catch (Exception e)
            {
                // A bug in handling one datagram must not stop every later answer.
                ForwarderLog.ReceiveFailed(_logger, LocalEndPoint.ToString(), e);
            }
        }
    }

    /// <summary>The upstream a datagram came from: same port and address; -1 if none.</summary>
    private int Match(SocketAddress source)
    {
        // sockaddr_in and sockaddr_in6 put the port (network order) at offset 2 on every platform; the address at 4
        // (IPv4) or 8 (IPv6, after the flow info). The family field's layout differs, but a socket has one family.
        var raw = source.Buffer.Span[..source.Size];
        var addressOffset = Family == AddressFamily.InterNetworkV6 ? 8 : 4;
        var port = BinaryPrimitives.ReadUInt16BigEndian(raw[2..]);
        for (var i = 0; i < _upstreams.Length; i++)
        {
            var upstream = _upstreams[i];
            if (upstream.Family == Family
                && upstream.Port == port
                && raw.Length >= addressOffset + upstream.AddressBytes.Length
                && raw.Slice(addressOffset, upstream.AddressBytes.Length).SequenceEqual(upstream.AddressBytes))
            {
                return i;
            }
        }

        return -1;
    }

    private sealed class Upstream(IPEndPoint endpoint)
    {
        public AddressFamily Family { get; } = endpoint.AddressFamily;

        public ushort Port { get; } = (ushort)endpoint.Port;

        public byte[] AddressBytes { get; } = endpoint.Address.GetAddressBytes();

        public SocketAddress Address { get; } = endpoint.Serialize();
    }
}
