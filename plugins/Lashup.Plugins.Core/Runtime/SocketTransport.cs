using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// The real network under the protocol: one UDP socket for small messages and a TCP listener on the same port for bulk
/// and reliable ones, with one outgoing connection per peer fed by a bounded queue (a slow or dead peer costs at most
/// that queue, never unbounded memory). Every received frame is decoded off the protocol thread; frames that fail any
/// check are dropped and counted by reason, and the node goes on. Inbound streams commit memory only as bytes arrive and
/// within budgets shared by all connections and capped per source address, with deadlines (<see cref="StreamLimits"/>).
/// </summary>
internal sealed partial class SocketTransport : INodeNetwork, IAsyncDisposable
{
    private const int PeerQueueCapacity = 1024;

    // Parsed destination addresses are cached up to this many, then the cache starts afresh: replies to made-up
    // addresses (rate-limited by the node, but endless) must not grow it (it used to be cleared at 100,000).
    private const int MaxCachedEndpoints = 4096;

    // Outgoing connections at once (each a writer task and a queue): a frame to one more peer is dropped and counted.
    private const int MaxOutboundPeers = 1024;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan PeerIdleTimeout = TimeSpan.FromSeconds(60);

    private readonly FrameCodec _codec;
    private readonly int _maxDatagram;
    private readonly NodeStats _stats;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StreamLimits _limits;
    private readonly ByteBudget _unauthenticatedBudget;
    private readonly ByteBudget _authenticatedBudget;
    private readonly InboundSources _sources;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, Peer> _peers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IPEndPoint?> _endpoints = new(StringComparer.Ordinal);
    private readonly List<Task> _loops = [];
    private Socket? _udp;
    private Socket? _tcp;
    private int _inbound;
    private Action<Envelope>? _deliver;
    private Func<Envelope>? _hello;

    public SocketTransport(FrameCodec codec, int maxDatagram, NodeStats stats, ILogger logger, TimeProvider? time = null, StreamLimits? limits = null)
    {
        _codec = codec;
        _maxDatagram = maxDatagram;
        _stats = stats;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _limits = limits ?? StreamLimits.For(codec.MaxFrameSize);
        _unauthenticatedBudget = new ByteBudget(_limits.UnauthenticatedBudget);
        _authenticatedBudget = new ByteBudget(_limits.AuthenticatedBudget);
        _sources = new InboundSources(_limits, _time);
    }

    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_udp?.LocalEndPoint;

    /// <summary>Bytes charged to the budget of authenticated (or not yet authenticated) inbound connections now.</summary>
    internal long Charged(bool authenticated) => (authenticated ? _authenticatedBudget : _unauthenticatedBudget).Charged;

    /// <summary>Source addresses with an inbound connection open now.</summary>
    internal int Sources => _sources.Count;

    /// <summary>Whether connections from <paramref name="address"/> are a member's, exempt from the caps per source.</summary>
    internal bool IsMember(IPAddress address) => _sources.IsMember(address);

    /// <summary>
    /// The addresses of the members the node sees alive: in plaintext, inbound connections from exactly these are not held
    /// to the caps per source address, only to those all connections share (<see cref="InboundSources"/>). Called on
    /// membership changes. With a keyring nobody is exempt: the address is not proof of membership (a NAT neighbour,
    /// another process on a member's host) and neither is a frame that opens (a captured sealed frame can be replayed
    /// on any number of connections), so members too are held to their address's caps, which leave room for dozens of
    /// peers behind one address. In plaintext anyone may join, so exempting members gives a forger nothing it could not
    /// take by joining.
    /// </summary>
    public void SetMembers(IEnumerable<IPAddress> addresses) => _sources.SetMembers(_codec.Keyring is null ? addresses : []);

    /// <summary>Binds UDP and TCP on <paramref name="endpoint"/>; throws with a clear message if the port is taken.</summary>
    public void Bind(IPEndPoint endpoint) => Bind(endpoint, firstPort: null);

    /// <summary>
    /// Binds UDP and TCP on <paramref name="endpoint"/>. With port 0 the system picks a free UDP port and TCP takes the
    /// same number, which another process may hold: then both are given up and another port is picked (a few times).
    /// On a busy host tests that bound port 0 used to fail with "127.0.0.1:0 is already in use". For tests,
    /// <paramref name="firstPort"/> is the port the first try takes as if the system had picked it.
    /// </summary>
    internal void Bind(IPEndPoint endpoint, int? firstPort)
    {
        const int attempts = 8;
        for (var attempt = 1; ; attempt++)
        {
            var udp = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var udpBound = false;
            try
            {
                udp.ReceiveBufferSize = 4 * 1024 * 1024;
                udp.Bind(endpoint.Port == 0 && attempt == 1 && firstPort is { } port ? new IPEndPoint(endpoint.Address, port) : endpoint);
                udpBound = true;
                tcp.Bind((IPEndPoint)udp.LocalEndPoint!);
                tcp.Listen(512);
                (_udp, _tcp) = (udp, tcp);
                return;
            }
            catch (SocketException e)
            {
                udp.Dispose();
                tcp.Dispose();
                if (endpoint.Port == 0 && udpBound && e.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < attempts)
                {
                    continue; // the port the system gave UDP is taken for TCP: another one
                }

                throw new InvalidOperationException(e.SocketErrorCode == SocketError.AddressAlreadyInUse
                    ? $"core.listen: {endpoint} is already in use by another process"
                    : $"core.listen: cannot listen on {endpoint}: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Starts receiving; decoded envelopes go to <paramref name="deliver"/> (called on socket threads). Every stream
    /// connection this transport opens starts with the frame <paramref name="hello"/> makes (<see cref="ConnectionHello"/>),
    /// if given (called on the writers' threads).
    /// </summary>
    public void Start(Action<Envelope> deliver, Func<Envelope>? hello = null)
    {
        _deliver = deliver;
        _hello = hello;
        _loops.Add(Task.Run(UdpLoopAsync));
        _loops.Add(Task.Run(AcceptLoopAsync));
    }

    public void Send(string address, Envelope envelope, bool reliable)
    {
        if (!_endpoints.TryGetValue(address, out var endpoint))
        {
            endpoint = IPEndPoint.TryParse(address, out var parsed) ? parsed : null;
            if (_endpoints.Count >= MaxCachedEndpoints)
            {
                _endpoints.Clear();
            }

            _endpoints[address] = endpoint;
        }

        if (endpoint is null || _udp is null)
        {
            return;
        }

        byte[] frame;
        try
        {
            frame = _codec.Encode(envelope);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogEncodeFailed(e, envelope.Body.GetType().Name);
            return;
        }

        Interlocked.Add(ref _stats.BytesSent, frame.Length);
        if (!reliable && frame.Length <= _maxDatagram)
        {
            try
            {
                _udp.SendTo(frame, SocketFlags.None, endpoint);
            }
            catch (SocketException)
            {
                // A datagram to a dead host is lost like any other; probes notice.
            }
            catch (ObjectDisposedException)
            {
            }

            return;
        }

        while (true)
        {
            // Count takes every lock of the dictionary: only a send to a peer without a connection asks it.
            if (!_peers.TryGetValue(address, out var peer))
            {
                if (_peers.Count >= MaxOutboundPeers)
                {
                    Interlocked.Increment(ref _stats.SendQueueFull);
                    return;
                }

                peer = _peers.GetOrAdd(address, _ => StartPeer(address, endpoint));
            }

            if (peer.Queue.Writer.TryWrite(frame))
            {
                return;
            }

            if (!peer.Closed)
            {
                // The peer's queue is full: it is slow or unreachable; drop rather than grow without bound.
                Interlocked.Increment(ref _stats.SendQueueFull);
                return;
            }

            // The writer closed the idle connection just now: start a new one.
            _peers.TryRemove(KeyValuePair.Create(address, peer));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        foreach (var peer in _peers.Values)
        {
            peer.Queue.Writer.TryComplete();
        }

        _udp?.Dispose();
        _tcp?.Dispose();
        try
        {
            await Task.WhenAll(_loops.Concat(_peers.Values.Select(p => p.Writer))).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or TimeoutException or IOException)
        {
        }

        _stopping.Dispose();
    }

    private Peer StartPeer(string address, IPEndPoint endpoint)
    {
        var queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(PeerQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropWrite,
        });
        var peer = new Peer(queue);
        peer.Writer = Task.Run(() => PeerWriterAsync(address, endpoint, peer));
        return peer;
    }

    /// <summary>Writes a peer's queue to one connection; closes it (and ends) after <see cref="PeerIdleTimeout"/> without frames.</summary>
    private async Task PeerWriterAsync(string address, IPEndPoint endpoint, Peer peer)
    {
        var queue = peer.Queue.Reader;
        Socket? socket = null;
        try
        {
            while (true)
            {
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token))
                {
                    idle.CancelAfter(PeerIdleTimeout);
                    try
                    {
                        if (!await queue.WaitToReadAsync(idle.Token))
                        {
                            return;
                        }
                    }
                    catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
                    {
                        // Idle: close the connection and let the next send start a fresh writer.
                        peer.Closed = true;
                        peer.Queue.Writer.TryComplete();
                        _peers.TryRemove(KeyValuePair.Create(address, peer));
                        while (queue.TryRead(out var late))
                        {
                            // A frame queued in the race with closing: hand it to a new writer.
                            Send(address, late);
                        }

                        return;
                    }
                }

                if (socket is null)
                {
                    socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    if (LocalEndPoint is { } local && !local.Address.Equals(IPAddress.Any) && !local.Address.Equals(IPAddress.IPv6Any)
                        && local.AddressFamily == endpoint.AddressFamily)
                    {
                        // Connect from our own address, so peers (and firewalls) see the same source for UDP and TCP.
                        socket.Bind(new IPEndPoint(local.Address, 0));
                    }

                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    timeout.CancelAfter(ConnectTimeout);
                    try
                    {
                        await socket.ConnectAsync(endpoint, timeout.Token);
                        if (_hello is not null)
                        {
                            // Authenticates the connection before anything large travels on it (ConnectionHello).
                            var hello = _codec.Encode(_hello());
                            Interlocked.Add(ref _stats.BytesSent, hello.Length);
                            await socket.SendAsync(hello, SocketFlags.None, _stopping.Token);
                        }
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException && !_stopping.IsCancellationRequested)
                    {
                        // Unreachable peer: drop what is queued (the protocol retries what matters) and try again later.
                        socket.Dispose();
                        socket = null;
                        while (queue.TryRead(out _))
                        {
                        }

                        continue;
                    }
                }

                while (queue.TryRead(out var frame))
                {
                    try
                    {
                        await socket.SendAsync(frame, SocketFlags.None, _stopping.Token);
                    }
                    catch (SocketException)
                    {
                        socket.Dispose();
                        socket = null;
                        break;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            socket?.Dispose();
        }
    }

    private async Task UdpLoopAsync()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(65536, pinned: true);
        EndPoint any = new IPEndPoint(_udp!.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            int received;
            try
            {
                var result = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token);
                received = result.ReceivedBytes;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Interlocked.Add(ref _stats.BytesReceived, received);
            _ = Decode(buffer.AsSpan(0, received));
        }
    }

    private DropReason Decode(ReadOnlySpan<byte> frame)
    {
        var reason = _codec.TryDecode(frame, out var envelope);
        if (reason != DropReason.None)
        {
            _stats.Drop(reason);
            return reason;
        }

        if (!ConnectionHello.Is(envelope!))
        {
            _deliver!(envelope!);
        }

        return DropReason.None;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _tcp!.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            if (Interlocked.Increment(ref _inbound) > _limits.MaxInboundConnections)
            {
                Interlocked.Decrement(ref _inbound);
                _stats.Closed(ConnectionCloseReason.Limit);
                client.Dispose();
                continue;
            }

            var deadline = new ConnectionDeadline(_time, _stopping.Token);
            InboundSources.Inbound? connection;
            try
            {
                connection = _sources.TryEnter(client.RemoteEndPoint, deadline);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                connection = null; // reset before we asked who it was
            }

            if (connection is null)
            {
                Interlocked.Decrement(ref _inbound);
                _stats.Closed(ConnectionCloseReason.SourceLimit);
                deadline.Dispose();
                client.Dispose();
                continue;
            }

            _ = Task.Run(() => ReadStreamAsync(client, connection));
        }
    }

    /// <summary>
    /// Reads one inbound connection frame by frame: the header (a connection that has not authenticated gets
    /// <see cref="StreamLimits.HandshakeTimeout"/> to send it), checked before anything is allocated; then the body,
    /// waiting for bytes without a buffer and taking pieces only for bytes that are there, charged to the budget of its
    /// kind of connection and its source's share (no room: closed), under a deadline that progress moves: a minimum
    /// rate over what has arrived until the connection authenticates, then only a stall timeout. A connection is
    /// authenticated once a frame from it has decoded (and, with a keyring, opened); until then a frame that fails
    /// closes it; after, a frame sealed with a key this node does not hold (a key rotation under way) is skipped. A
    /// connection not authenticated yet may have to wait for its turn to read, and once stuck may be closed to make room
    /// for a newer one of its source (<see cref="InboundSources"/>). Buffers and budget go back on every path.
    /// </summary>
    private async Task ReadStreamAsync(Socket client, InboundSources.Inbound connection)
    {
        var deadline = connection.Deadline;
        var header = new byte[FrameCodec.HeaderSize];
        var authenticated = false;

        // What a cancellation means here: the reason counted if a deadline (not shutdown) ends the connection.
        var phase = ConnectionCloseReason.HeaderTimeout;
        var buffer = new FrameBuffer(_stats);
        try
        {
            if (connection.Queued)
            {
                // Its source has no room for one more connection reading before it authenticates, and none is stuck.
                phase = ConnectionCloseReason.SourceLimit;
                deadline.Set(_limits.HandshakeTimeout);
                await _sources.WaitForTurnAsync(connection, deadline.Token);
            }

            while (!_stopping.IsCancellationRequested)
            {
                // An authenticated peer's connection stays open between frames (closing it after the idle time is not counted).
                phase = authenticated ? ConnectionCloseReason.None : ConnectionCloseReason.HeaderTimeout;
                deadline.Set(authenticated ? _limits.IdleTimeout : _limits.HandshakeTimeout);
                if (!await ReceiveExactlyAsync(client, header, deadline.Token))
                {
                    return;
                }

                if (!authenticated)
                {
                    _sources.Progressed(connection);
                }

                var reason = _codec.TryReadStreamHeader(header, out var length);
                phase = ConnectionCloseReason.Stalled;
                if (reason == DropReason.UnknownKey && authenticated)
                {
                    // A key rotation under way: the peer encrypts with a key we do not hold yet (or no longer).
                    // The frame is lost, not the link: its body is read past, into nothing kept.
                    _stats.Drop(reason);
                    if (!await SkipAsync(client, length, deadline))
                    {
                        return;
                    }

                    continue;
                }

                if (reason != DropReason.None)
                {
                    // Not our protocol, another cluster, the wrong key or a lying length: the stream cannot be resynchronised.
                    _stats.Drop(reason);
                    _stats.Closed(ConnectionCloseReason.Rejected);
                    return;
                }

                var size = FrameCodec.HeaderSize + length;
                var start = deadline.Now;
                SetBodyDeadline(deadline, authenticated, start, 0);
                var budgets = authenticated
                    ? new ByteBudgets(_authenticatedBudget, connection.AuthenticatedShare)
                    : new ByteBudgets(_unauthenticatedBudget, connection.UnauthenticatedShare);
                buffer.Start(size, header, budgets, authenticated);
                try
                {
                    while (!buffer.Complete)
                    {
                        // A new piece is taken only for bytes that are there: wait for them first (a zero-byte read);
                        // readable with nothing to read is the end of the stream, and a wake-up without data is
                        // waited out again (a few times).
                        var waiting = 0;
                        if (buffer.NeedsPiece)
                        {
                            waiting = client.Available;
                            for (var waits = 0; waiting == 0 && waits < 3; waits++)
                            {
                                await client.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, deadline.Token);
                                waiting = client.Available;
                                if (waiting == 0 && client.Poll(0, SelectMode.SelectRead) && client.Available == 0)
                                {
                                    return; // closed mid-frame
                                }
                            }
                        }

                        var refused = buffer.TryGetMemory(waiting, out var memory);
                        if (refused != ConnectionCloseReason.None)
                        {
                            _stats.Closed(refused);
                            return;
                        }

                        var read = await client.ReceiveAsync(memory, SocketFlags.None, deadline.Token);
                        if (read == 0)
                        {
                            return; // closed mid-frame
                        }

                        buffer.Advance(read);
                        SetBodyDeadline(deadline, authenticated, start, buffer.Length - FrameCodec.HeaderSize);
                        if (!authenticated)
                        {
                            _sources.Progressed(connection);
                        }
                    }

                    Interlocked.Add(ref _stats.BytesReceived, size);
                    reason = buffer.Decode(_codec, out var envelope);
                    if (reason == DropReason.None)
                    {
                        if (!ConnectionHello.Is(envelope!))
                        {
                            _deliver!(envelope!);
                        }
                    }
                    else
                    {
                        _stats.Drop(reason);
                    }

                    if (!authenticated)
                    {
                        if (reason != DropReason.None)
                        {
                            _stats.Closed(ConnectionCloseReason.Rejected);
                            return;
                        }

                        authenticated = true;
                        _sources.Authenticated(connection);
                    }
                }
                finally
                {
                    buffer.Clear();
                }
            }
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            if (connection.Evicted)
            {
                _stats.Closed(ConnectionCloseReason.SourceLimit);
            }
            else if (phase != ConnectionCloseReason.None)
            {
                _stats.Closed(phase);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
        }
        finally
        {
            // Counted above, buffers back, then closed: whoever sees the connection close sees all of that done.
            buffer.Dispose();
            deadline.Dispose();
            client.Dispose();
            _sources.Leave(connection);
            Interlocked.Decrement(ref _inbound);
        }
    }

    /// <summary>
    /// The deadline of a frame's next bytes: until the connection has authenticated, the frame's grace time plus the
    /// bytes it has delivered at the minimum rate (from its header); after, the stall timeout from now.
    /// </summary>
    private void SetBodyDeadline(ConnectionDeadline deadline, bool authenticated, long start, long received)
    {
        if (authenticated)
        {
            deadline.Set(_limits.StallTimeout);
        }
        else
        {
            deadline.SetAt(_limits.FrameDeadline(start, received, _time));
        }
    }

    /// <summary>Reads exactly <paramref name="target"/>.Length bytes; false if the peer closed first.</summary>
    private static async ValueTask<bool> ReceiveExactlyAsync(Socket client, Memory<byte> target, CancellationToken token)
    {
        while (target.Length > 0)
        {
            var read = await client.ReceiveAsync(target, SocketFlags.None, token);
            if (read == 0)
            {
                return false;
            }

            target = target[read..];
        }

        return true;
    }

    /// <summary>Reads past <paramref name="length"/> bytes of a frame body that is not kept (authenticated connections only).</summary>
    private async ValueTask<bool> SkipAsync(Socket client, int length, ConnectionDeadline deadline)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Clamp(length, 1, 16 * 1024));
        try
        {
            while (length > 0)
            {
                deadline.Set(_limits.StallTimeout);
                var read = await client.ReceiveAsync(scratch.AsMemory(0, Math.Min(length, scratch.Length)), SocketFlags.None, deadline.Token);
                if (read == 0)
                {
                    return false;
                }

                length -= read;
                Interlocked.Add(ref _stats.BytesReceived, read);
            }

            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void Send(string address, byte[] frame)
    {
        if (_endpoints.TryGetValue(address, out var endpoint) && endpoint is not null)
        {
            _peers.GetOrAdd(address, _ => StartPeer(address, endpoint)).Queue.Writer.TryWrite(frame);
        }
    }

    private sealed class Peer(Channel<byte[]> queue)
    {
        public Channel<byte[]> Queue { get; } = queue;

        public Task Writer { get; set; } = Task.CompletedTask;

        public volatile bool Closed;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot encode a {Message} message")]
    private partial void LogEncodeFailed(Exception e, string message);
}
