using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.Dns.Protocol;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Server;

/// <summary>
/// The UDP and TCP listeners. UDP: per listen address, <c>udp_workers</c> sockets bound to the same port with
/// SO_REUSEPORT, so the kernel spreads queries over them, each drained by its own thread with blocking
/// <c>recvfrom</c>/<c>sendto</c> into two pinned buffers; an answer from memory costs those two system calls and no
/// allocation. Forwarded queries leave the thread (a copy of the packet and client address goes to an async task).
/// On Linux the datagrams come and go in batches (<see cref="UdpBatch"/>: recvmmsg/sendmmsg), as in nsd and knot.
/// TCP: RFC 7766 framing, several queries per connection, a deadline per query (slowloris clients are cut off) and a
/// cap on open connections; at the cap a new connection takes the place of the one idle longest (see
/// <see cref="TcpConnections"/>), so idle connections cannot lock clients out.
/// </summary>
internal sealed partial class DnsServer : ILifecycleParticipant, IAsyncDisposable
{
    private const int BatchSize = 32;

    /// <summary>UDP queries waiting for forwarding at most; more get SERVFAIL at once.</summary>
    private const int MaxForwardsInFlight = 4096;
    private static readonly TimeSpan ReceivePoll = TimeSpan.FromSeconds(1);

    private readonly QueryEngine _engine;
    private readonly IQueryForwarder? _forwarder;
    private readonly ClientAcl _acl;
    private readonly DnsStats _stats;
    private readonly Histogram<double>? _latency;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<IPEndPoint> _listen;
    private readonly int _workers;
    private readonly TimeSpan _tcpIdleTimeout;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _udpSockets = [];
    private readonly List<Thread> _threads = [];
    private readonly List<Socket> _tcpListeners = [];
    private readonly List<Task> _tasks = [];
    private readonly List<IPEndPoint> _bound = [];
    private readonly TcpConnections _tcp;
    private int _forwardsInFlight;
    private volatile bool _stopped;

    public DnsServer(
        QueryEngine engine,
        IQueryForwarder? forwarder,
        ClientAcl acl,
        DnsStats stats,
        Histogram<double>? latency,
        IReadOnlyList<IPEndPoint> listen,
        int workers,
        TimeSpan tcpIdleTimeout,
        int tcpMaxConnections,
        ILogger<DnsServer> logger)
    {
        _engine = engine;
        _forwarder = forwarder;
        _acl = acl;
        _stats = stats;
        _latency = latency;
        _listen = listen;
        _workers = workers > 0 ? workers : Environment.ProcessorCount;
        _tcpIdleTimeout = tcpIdleTimeout;
        _tcp = new TcpConnections(tcpMaxConnections);
        _logger = logger;
    }

    public int Stage => LifecycleStage.Services;

    public string Name => "dns.server";

    /// <summary>The addresses actually bound (port 0 resolved), once started.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _bound;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var endpoint in _listen)
        {
            var port = ReservePort(endpoint);
            var bound = new IPEndPoint(endpoint.Address, port);
            for (var i = 0; i < _workers; i++)
            {
                var socket = new Socket(bound.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                _udpSockets.Add(socket);
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                SetReusePort(socket);
                if (bound.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    socket.DualMode = false;
                }

                socket.ReceiveBufferSize = 4 << 20;
                socket.SendBufferSize = 4 << 20;
                socket.ReceiveTimeout = (int)ReceivePoll.TotalMilliseconds;
                socket.Bind(bound);
                var wildcard = UdpBatch.IsSupported && (bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any));
                if (wildcard)
                {
                    // Each datagram's destination address, so that its reply leaves from it (see UdpBatch).
                    socket.SetSocketOption(
                        bound.AddressFamily == AddressFamily.InterNetworkV6 ? SocketOptionLevel.IPv6 : SocketOptionLevel.IP,
                        SocketOptionName.PacketInformation, true);
                }

                var thread = new Thread(() =>
                {
                    if (UdpBatch.IsSupported)
                    {
                        UdpBatchLoop(socket, wildcard);
                    }
                    else
                    {
                        UdpLoop(socket);
                    }
                })
                { IsBackground = true, Name = $"dns-udp-{_threads.Count}" };
                _threads.Add(thread);
            }

            var listener = new Socket(bound.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            _tcpListeners.Add(listener);
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (bound.AddressFamily == AddressFamily.InterNetworkV6)
            {
                listener.DualMode = false;
            }

            listener.Bind(bound);
            listener.Listen(512);
            _bound.Add(bound);
        }

        foreach (var thread in _threads)
        {
            thread.Start();
        }

        foreach (var listener in _tcpListeners)
        {
            _tasks.Add(Task.Run(() => AcceptLoopAsync(listener)));
        }

        LogListening(_logger, string.Join(", ", _bound), _workers);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var socket in _udpSockets.Concat(_tcpListeners))
        {
            socket.Dispose();
        }

        // A start that failed halfway (a later listen address taken) leaves threads that never started.
        foreach (var thread in _threads.Where(t => (t.ThreadState & System.Threading.ThreadState.Unstarted) == 0))
        {
            thread.Join(ReceivePoll * 3);
        }

        await Task.WhenAll(_tasks).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <summary>
    /// Binds UDP and TCP once without SO_REUSEPORT to find out whether the port is free (and which one port 0 gets):
    /// SO_REUSEPORT alone would silently share the port with another process of the same user.
    /// </summary>
    private static int ReservePort(IPEndPoint endpoint)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var udp = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            using var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                udp.Bind(endpoint);
                var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
                tcp.Bind(new IPEndPoint(endpoint.Address, port));
                return port;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                if (endpoint.Port == 0 && attempt < 10)
                {
                    continue;
                }

                throw new InvalidOperationException($"dns.listen: {endpoint} is already in use (UDP or TCP); stop the other server or choose another port", e);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AccessDenied)
            {
                throw new InvalidOperationException($"dns.listen: binding {endpoint} needs root (or CAP_NET_BIND_SERVICE) for ports below 1024", e);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
            {
                throw new InvalidOperationException($"dns.listen: {endpoint.Address} is not an address of this host", e);
            }
        }
    }

    private static void SetReusePort(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            // SO_REUSEPORT (15 on Linux): the kernel hashes each client to one of the sockets of the group.
            socket.SetRawSocketOption(1, 15, BitConverter.GetBytes(1));
        }
    }

    /// <summary>
    /// The Linux receive loop: up to <see cref="BatchSize"/> queries per <c>recvmmsg</c>, answered in place, their
    /// responses sent with one <c>sendmmsg</c>. The socket stays in blocking mode (no async operation ever touches it),
    /// so the first datagram is waited for with the socket's receive timeout and the rest are taken if already queued.
    /// </summary>
    private void UdpBatchLoop(Socket socket, bool wildcard)
    {
        using var batch = new UdpBatch(BatchSize, _engine.MaxUdpPayload, packetInfo: wildcard);
        Span<byte> control = stackalloc byte[UdpBatch.ControlSize];
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            // Holding a reference keeps the descriptor open (and unreused) until this loop has left recvmmsg.
            handle.DangerousAddRef(ref added);
            var descriptor = (int)handle.DangerousGetHandle();
            var forwarding = _forwarder is not null;
            while (!_stopped)
            {
                var count = batch.Receive(descriptor, out var errno);
                if (count < 0)
                {
                    if (!_stopped)
                    {
                        LogReceiveFailed(_logger, errno);
                        Thread.Sleep(100);
                    }

                    continue;
                }

                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < count; i++)
                {
                    var packet = batch.Query(i);
                    if (packet.IsEmpty)
                    {
                        Interlocked.Increment(ref _stats.Dropped);
                        continue;
                    }

                    try
                    {
                        var allowed = forwarding && _acl.Allows(batch.Address(i));
                        var outcome = _engine.Answer(packet, batch.Response(i), overTcp: false, allowed, out var query, out var length);
                        if (outcome == QueryOutcome.Forward)
                        {
                            if (allowed && TryForwardUdp(socket, packet, query, ClientAcl.ToSocketAddress(batch.Address(i)),
                                    wildcard ? control[..batch.ReplyControl(i, control)] : default))
                            {
                                continue;
                            }

                            if (!allowed)
                            {
                                Interlocked.Increment(ref _stats.ForwardRefused);
                            }

                            outcome = _engine.Error(packet, batch.Response(i), query, allowed ? DnsResponseCode.ServerFailure : DnsResponseCode.Refused, out length);
                        }

                        if (outcome == QueryOutcome.Answered)
                        {
                            batch.Reply(i, length);
                        }
                    }
                    catch (Exception e)
                    {
                        // A bug in answering one query must not kill the thread (and with it the daemon): drop it.
                        Interlocked.Increment(ref _stats.Dropped);
                        LogQueryFailed(_logger, e);
                    }
                }

                var answered = batch.Send(descriptor);
                if (_latency is not null && answered > 0)
                {
                    // Every query of a batch waited for the whole batch: that is the latency each one saw here.
                    var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    for (var i = 0; i < answered; i++)
                    {
                        _latency.Record(seconds);
                    }
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private void UdpLoop(Socket socket)
    {
        var receive = GC.AllocateUninitializedArray<byte>(DnsResponseWriter.MaxMessageSize, pinned: true);
        var response = GC.AllocateUninitializedArray<byte>(DnsResponseWriter.MaxMessageSize, pinned: true);
        var client = new SocketAddress(socket.AddressFamily);
        var forwarding = _forwarder is not null;
        while (!_stopped)
        {
            int received;
            try
            {
                received = socket.ReceiveFrom(receive, SocketFlags.None, client);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.ConnectionReset or SocketError.Interrupted)
            {
                continue;
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                return;
            }

            var start = Stopwatch.GetTimestamp();
            try
            {
                var allowed = forwarding && _acl.Allows(client);
                var outcome = _engine.Answer(receive.AsSpan(0, received), response, overTcp: false, allowed, out var query, out var length);
                if (outcome == QueryOutcome.Forward)
                {
                    if (allowed && TryForwardUdp(socket, receive.AsSpan(0, received), query, CopyOf(client)))
                    {
                        continue;
                    }

                    if (!allowed)
                    {
                        Interlocked.Increment(ref _stats.ForwardRefused);
                    }

                    outcome = _engine.Error(receive.AsSpan(0, received), response, query, allowed ? DnsResponseCode.ServerFailure : DnsResponseCode.Refused, out length);
                }

                if (outcome == QueryOutcome.Answered)
                {
                    socket.SendTo(response.AsSpan(0, length), SocketFlags.None, client);
                }
            }
            catch (Exception e) when (e is ObjectDisposedException || (e is SocketException && _stopped))
            {
                return;
            }
            catch (SocketException e)
            {
                LogSendFailed(_logger, e.SocketErrorCode);
            }
            catch (Exception e)
            {
                Interlocked.Increment(ref _stats.Dropped);
                LogQueryFailed(_logger, e);
            }

            _latency?.Record(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    private static SocketAddress CopyOf(SocketAddress client)
    {
        var address = new SocketAddress(client.Family, client.Size);
        client.Buffer.Span.CopyTo(address.Buffer.Span);
        return address;
    }

    /// <summary>
    /// Hands a UDP query to forwarding on the thread pool, with a copy of the packet; false (the caller answers
    /// SERVFAIL) when <see cref="MaxForwardsInFlight"/> queries are waiting already, so a flood of queries for a dead
    /// upstream cannot pile up tasks and buffers without bound. For a wildcard socket on Linux, <c>source</c> is the
    /// control message that sends the reply from the address the query was sent to (see
    /// <see cref="UdpBatch.ReplyControl(int, Span{byte})"/>); null otherwise.
    /// </summary>
    private bool TryForwardUdp(Socket socket, ReadOnlySpan<byte> packet, DnsQuery query, SocketAddress client, ReadOnlySpan<byte> sourceControl = default)
    {
        if (Interlocked.Increment(ref _forwardsInFlight) > MaxForwardsInFlight)
        {
            Interlocked.Decrement(ref _forwardsInFlight);
            Interlocked.Increment(ref _stats.ForwardOverload);
            return false;
        }

        var source = sourceControl.IsEmpty ? null : sourceControl.ToArray();

        var copy = ArrayPool<byte>.Shared.Rent(packet.Length);
        var packetLength = packet.Length;
        packet.CopyTo(copy);
        var limit = DnsResponseWriter.GetUdpLimit(query, _engine.MaxUdpPayload);
        Interlocked.Increment(ref _stats.Forwarded);
        _ = Task.Run(async () =>
        {
            var response = ArrayPool<byte>.Shared.Rent(limit);
            var start = Stopwatch.GetTimestamp();
            try
            {
                var length = await _forwarder!.ForwardAsync(copy.AsMemory(0, packetLength), query, response.AsMemory(0, limit), limit, overTcp: false, _stopping.Token).ConfigureAwait(false);
                if (length > 0)
                {
                    // Synchronous on purpose: an async operation would switch the socket to non-blocking mode under
                    // the receive loop's recvmmsg. A UDP send does not block for long.
                    if (source is not null && !SendFrom(socket, response.AsSpan(0, length), client, source, out var errno))
                    {
                        LogForwardSendFailed(_logger, errno);
                    }
                    else if (source is null)
                    {
                        socket.SendTo(response.AsSpan(0, length), SocketFlags.None, client);
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _stopped)
            {
            }
            catch (Exception e)
            {
                LogForwardFailed(_logger, e);
            }
            finally
            {
                Interlocked.Decrement(ref _forwardsInFlight);
                ArrayPool<byte>.Shared.Return(copy);
                ArrayPool<byte>.Shared.Return(response);
                _latency?.Record(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        });
        return true;
    }

    private static bool SendFrom(Socket socket, ReadOnlySpan<byte> datagram, SocketAddress client, byte[] source, out int errno)
    {
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return UdpBatch.SendTo((int)handle.DangerousGetHandle(), datagram, client.Buffer.Span[..client.Size], source, out errno);
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopped)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _stopped)
            {
                return;
            }
            catch (SocketException e)
            {
                // Out of descriptors (EMFILE) fails every accept at once: back off instead of spinning.
                LogAcceptFailed(_logger, e.SocketErrorCode);
                try
                {
                    await Task.Delay(100, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            var connection = _tcp.TryAdd(client, out var evicted);
            if (evicted is not null)
            {
                // At the cap: the connection idle longest gives its place to this one, so clients that open
                // connections and send nothing cannot lock others out until they time out.
                Interlocked.Increment(ref _stats.TcpEvicted);
                evicted.Socket.Dispose();
            }

            if (connection is null)
            {
                // Every connection has a query in progress: refuse this one.
                Interlocked.Increment(ref _stats.TcpRefused);
                client.Dispose();
                continue;
            }

            Interlocked.Increment(ref _stats.TcpConnections);
            _ = Task.Run(() => ServeTcpAsync(connection));
        }
    }

    private async Task ServeTcpAsync(TcpConnection connection)
    {
        var client = connection.Socket;
        var request = ArrayPool<byte>.Shared.Rent(DnsResponseWriter.MaxMessageSize + 2);
        var response = ArrayPool<byte>.Shared.Rent(DnsResponseWriter.MaxMessageSize + 2);
        try
        {
            client.NoDelay = true;
            var allowed = _forwarder is not null && client.RemoteEndPoint is IPEndPoint remote && _acl.Allows(remote.Address);
            while (!_stopped)
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                deadline.CancelAfter(_tcpIdleTimeout);
                int length;
                try
                {
                    if (!await ReadExactlyAsync(client, request.AsMemory(0, 2), deadline.Token).ConfigureAwait(false))
                    {
                        return;
                    }

                    length = BinaryPrimitives.ReadUInt16BigEndian(request);
                    if (length < DnsHeader.Size)
                    {
                        Interlocked.Increment(ref _stats.Dropped);
                        return;
                    }

                    if (!await ReadExactlyAsync(client, request.AsMemory(2, length), deadline.Token).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                catch (OperationCanceledException) when (!_stopped)
                {
                    Interlocked.Increment(ref _stats.TcpTimeouts);
                    return;
                }

                if (!_tcp.TryBeginQuery(connection))
                {
                    return; // evicted while the query was arriving: it was idle when a new connection needed its place
                }

                var start = Stopwatch.GetTimestamp();
                var written = Answer(request.AsSpan(2, length), response.AsSpan(2), allowed, out var outcome, out var query);
                if (outcome == QueryOutcome.Forward)
                {
                    Interlocked.Increment(ref _stats.Forwarded);
                    written = await _forwarder!.ForwardAsync(request.AsMemory(2, length), query, response.AsMemory(2, DnsResponseWriter.MaxMessageSize), DnsResponseWriter.MaxMessageSize, overTcp: true, _stopping.Token).ConfigureAwait(false);
                }

                if (written > 0)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(response, (ushort)written);
                    // The deadline covers the write too: a client that never reads cannot hold its slot forever.
                    await client.SendAsync(response.AsMemory(0, written + 2), SocketFlags.None, deadline.Token).ConfigureAwait(false);
                }

                _tcp.EndQuery(connection);
                _latency?.Record(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            _tcp.Remove(connection);
            client.Dispose();
            ArrayPool<byte>.Shared.Return(request);
            ArrayPool<byte>.Shared.Return(response);
        }
    }

    /// <summary>Answers one TCP query from memory; <see cref="QueryOutcome.Forward"/> is left to the caller when the client may recurse.</summary>
    private int Answer(ReadOnlySpan<byte> packet, Span<byte> response, bool allowed, out QueryOutcome outcome, out DnsQuery query)
    {
        outcome = _engine.Answer(packet, response, overTcp: true, allowed, out query, out var length);
        if (outcome == QueryOutcome.Forward && !allowed)
        {
            Interlocked.Increment(ref _stats.ForwardRefused);
            outcome = _engine.Error(packet, response, query, DnsResponseCode.Refused, out length);
        }

        return outcome == QueryOutcome.Answered ? length : 0;
    }

    private static async ValueTask<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                // The client closed: fine between queries, a lie about the length inside one.
                return false;
            }

            read += n;
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "DNS listening on {Endpoints} (UDP with {Workers} SO_REUSEPORT sockets each, and TCP)")]
    private static partial void LogListening(ILogger logger, string endpoints, int workers);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS UDP receive failed: errno {Errno}")]
    private static partial void LogReceiveFailed(ILogger logger, int errno);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DNS UDP send failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, SocketError error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS TCP accept failed: {Error}")]
    private static partial void LogAcceptFailed(ILogger logger, SocketError error);

    [LoggerMessage(Level = LogLevel.Error, Message = "DNS query failed; dropped")]
    private static partial void LogQueryFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DNS forwarded answer not sent from the query's address (errno {Errno})")]
    private static partial void LogForwardSendFailed(ILogger logger, int errno);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DNS forwarding failed")]
    private static partial void LogForwardFailed(ILogger logger, Exception exception);
}
