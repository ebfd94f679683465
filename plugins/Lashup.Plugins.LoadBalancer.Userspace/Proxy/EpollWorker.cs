using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using static Lashup.Plugins.LoadBalancer.Userspace.Proxy.Native;

namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

/// <summary>A VIP's listening socket as a worker registers it, and the VIP's backends now.</summary>
internal sealed class TcpListenerHandle(int fd, TcpVip vip)
{
    public int Fd { get; } = fd;

    public TcpVip Vip { get; } = vip;
}

/// <summary>One direction of a proxied connection: what was read from one side and not yet written to the other.</summary>
internal sealed class Flow
{
    /// <summary>Bytes read but not yet accepted by the destination (its send buffer was full), from the pool.</summary>
    public byte[]? Pending;
    public int Offset;
    public int Length;

    /// <summary>The source sent FIN (read returned 0); the destination has been shut down for writing.</summary>
    public bool Ended;

    /// <summary>The source reported RDHUP/HUP: read until EOF, not just until a short read.</summary>
    public bool HangUpSeen;

    /// <summary>The source became readable while the backend was still connecting (its edge was consumed then).</summary>
    public bool ReadablePending;

    public void Reset()
    {
        if (Pending is not null)
        {
            ArrayPool<byte>.Shared.Return(Pending);
            Pending = null;
        }

        Offset = Length = 0;
        Ended = HangUpSeen = ReadablePending = false;
    }
}

/// <summary>A client connection and its backend connection. Pooled per worker: reused after close.</summary>
internal sealed class TcpConnection
{
    public int Slot;
    public uint Generation;
    public int ClientFd = -1;
    public int BackendFd = -1;
    public bool Connecting;
    public TcpVip? Vip;
    public BackendSlot? Backend;
    public BackendSlot? Tried1;
    public BackendSlot? Tried2;
    public int Attempts;
    public long Deadline;
    public long LastActivity;
    public readonly Flow Up = new();
    public readonly Flow Down = new();
}

/// <summary>
/// One proxy thread: an epoll set of listening sockets (shared with the other workers, EPOLLEXCLUSIVE so one worker
/// takes each new connection) and of the connections it accepted, both sides edge-triggered. A readable side is read
/// into one 64 KiB buffer and written straight to the other side; only bytes the other side cannot take yet are kept
/// (pooled buffer), and the side is not read again until they are written (backpressure). FIN is passed on as a
/// half-close; a reset as a reset. Failed connects go to the next backend (at most three tries); every 250 ms the
/// worker closes connections idle past idle_timeout and connects past connect_timeout. Everything runs on its
/// thread; other threads hand it work through <see cref="Post"/>.
/// </summary>
internal sealed unsafe partial class EpollWorker : IDisposable
{
    private const int MaxEvents = 256;
    private const int ScratchSize = 64 * 1024;
    private const int SweepMs = 250;
    private const int AcceptBatch = 64;
    private const long ListenerPauseMs = 100;
    private const ulong KindClient = 0;
    private const ulong KindBackend = 1;
    private const ulong KindListener = 2;
    private const ulong KindWake = 3;
    private const ulong KindUdpVip = 4;
    private const ulong KindUdpFlow = 5;
    private const int UdpBatch = 64;
    private const uint ConnectionEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly byte* _events;
    private readonly byte* _scratch;
    private readonly ProxySettings _settings;
    private readonly ProxyStats _stats;
    private readonly WorkerCounters _counters;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<(Action Command, TaskCompletionSource? Done)> _commands = new();

    /// <summary>Guards <see cref="_wake"/> against being written after it is closed (its number may belong to another socket by then).</summary>
    private readonly Lock _wakeLock = new();
    private bool _wakeClosed;
    private volatile string? _failure;
    private volatile bool _exited;
    private readonly Stack<TcpConnection> _spare = new();
    private readonly Stack<int> _freeSlots = new();
    private readonly Stack<int> _freeListenerSlots = new();
    private readonly List<(TcpListenerHandle Listener, long Until)> _paused = [];
    private readonly Random _random = new();
    private readonly Thread _thread;
    private TcpConnection?[] _connections = new TcpConnection?[256];
    private TcpListenerHandle?[] _listeners = new TcpListenerHandle?[16];
    private UdpVip?[] _udpVips = new UdpVip?[16];
    private UdpFlow?[] _flows = new UdpFlow?[64];
    private readonly Stack<int> _freeFlowSlots = new();
    private readonly Stack<int> _freeUdpSlots = new();
    private readonly Stack<UdpFlow> _spareFlows = new();
    private int _nextFlowSlot;
    private int _nextUdpSlot;
    private int _nextSlot;
    private int _nextListenerSlot;
    private uint _generation;
    private long _now;
    private long _nextSweep;
    private volatile bool _stopping;

    public EpollWorker(int index, ProxySettings settings, ProxyStats stats, ILogger logger)
    {
        _settings = settings;
        _stats = stats;
        _counters = stats.NewWorker();
        _logger = logger;
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        _wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (_epoll < 0 || _wake < 0)
        {
            var errno = Errno;
            Close();
            throw new InvalidOperationException($"the userspace proxy cannot create its epoll set (errno {errno})");
        }

        _ = Control(_epoll, EPOLL_CTL_ADD, _wake, EPOLLIN, KindWake << 24);
        _events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EventSize));
        _scratch = (byte*)NativeMemory.Alloc(ScratchSize);
        _thread = new Thread(Run) { IsBackground = true, Name = $"lashup-lb-{index}" };
        _thread.Start();
    }

    /// <summary>Connections this worker holds open (for tests and status; read from other threads).</summary>
    public int Connections { get; private set; }

    /// <summary>Why the worker's thread stopped on its own (its connections are closed, it serves nothing), or null.</summary>
    public string? Failure => _failure;

    /// <summary>Whether the worker's thread has ended (stopped or failed).</summary>
    public bool HasExited => _exited;

    /// <summary>
    /// Runs <paramref name="command"/> on the worker's thread. Once the thread has ended the command is dropped: its
    /// state is gone, and its eventfd is closed (never written after that).
    /// </summary>
    public void Post(Action command) => TryPost(command, null);

    /// <summary>
    /// Runs <paramref name="command"/> on the worker's thread and waits for it. Once the worker was stopped (disposed)
    /// the task completes at once; once it failed the task fails with <see cref="WorkerFailedException"/>.
    /// </summary>
    public Task RunAsync(Action command)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!TryPost(
            () =>
            {
                try
                {
                    command();
                    done.TrySetResult();
                }
                catch (Exception e)
                {
                    done.TrySetException(e);
                }
            },
            done))
        {
            Abandon(done);
        }

        return done.Task;
    }

    private bool TryPost(Action command, TaskCompletionSource? done)
    {
        lock (_wakeLock)
        {
            if (_wakeClosed)
            {
                return false;
            }

            _commands.Enqueue((command, done));
            var one = 1UL;
            _ = write(_wake, &one, sizeof(ulong));
            return true;
        }
    }

    /// <summary>Ends the task of a command that will not run: done if the worker was stopped, failed if it failed.</summary>
    private void Abandon(TaskCompletionSource? done)
    {
        if (done is null)
        {
            return;
        }

        if (_failure is { } failure)
        {
            done.TrySetException(new WorkerFailedException(failure));
        }
        else
        {
            done.TrySetResult();
        }
    }

    /// <summary>Starts taking connections from <paramref name="listener"/> (on the worker's thread).</summary>
    public void AddListener(TcpListenerHandle listener)
    {
        var slot = _freeListenerSlots.Count > 0 ? _freeListenerSlots.Pop() : _nextListenerSlot++;
        if (slot >= _listeners.Length)
        {
            Array.Resize(ref _listeners, _listeners.Length * 2);
        }

        _listeners[slot] = listener;
        _ = Control(_epoll, EPOLL_CTL_ADD, listener.Fd, EPOLLIN | EPOLLEXCLUSIVE, (KindListener << 24) | (uint)slot);
    }

    /// <summary>Stops taking connections from <paramref name="listener"/>; its open connections go on (on the worker's thread).</summary>
    public void RemoveListener(TcpListenerHandle listener)
    {
        _paused.RemoveAll(p => ReferenceEquals(p.Listener, listener));
        for (var slot = 0; slot < _nextListenerSlot; slot++)
        {
            if (ReferenceEquals(_listeners[slot], listener))
            {
                _ = Control(_epoll, EPOLL_CTL_DEL, listener.Fd, 0, 0);
                _listeners[slot] = null;
                _freeListenerSlots.Push(slot);
            }
        }
    }

    public void Dispose()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        lock (_wakeLock)
        {
            if (!_wakeClosed)
            {
                var one = 1UL;
                _ = write(_wake, &one, sizeof(ulong));
            }
        }

        if (Thread.CurrentThread != _thread)
        {
            _thread.Join(TimeSpan.FromSeconds(10));
        }
    }

    private void Run()
    {
        _now = Environment.TickCount64;
        _nextSweep = _now + SweepMs;
        try
        {
            while (!_stopping)
            {
                var n = epoll_wait(_epoll, _events, MaxEvents, SweepMs);
                _now = Environment.TickCount64;
                if (n < 0)
                {
                    if (Errno == EINTR)
                    {
                        continue;
                    }

                    var errno = Errno;
                    LogEpollFailed(_logger, errno);
                    _failure = $"worker {_thread.Name} stopped: epoll_wait failed (errno {errno})";
                    break;
                }

                for (var i = 0; i < n; i++)
                {
                    Dispatch(EventsAt(_events, i), DataAt(_events, i));
                }

                if (_now >= _nextSweep)
                {
                    Sweep();
                    _nextSweep = _now + SweepMs;
                }
            }
        }
        catch (Exception e)
        {
            LogWorkerFailed(_logger, e);
            _failure = $"worker {_thread.Name} stopped: {e.GetType().Name}: {e.Message}";
        }
        finally
        {
            if (!_stopping)
            {
                _failure ??= $"worker {_thread.Name} stopped";
            }

            // No post enqueues or writes from here on; the eventfd is closed under the same lock that writes it.
            lock (_wakeLock)
            {
                _wakeClosed = true;
            }

            CloseAll();
            Close();
            _exited = true;
        }
    }

    private void Dispatch(uint events, ulong data)
    {
        var kind = (data >> 24) & 7;
        var slot = (int)(data & 0xFFFFFF);
        switch (kind)
        {
            case KindWake:
                ulong value;
                _ = read(_wake, &value, sizeof(ulong));
                while (_commands.TryDequeue(out var item))
                {
                    item.Command();
                }

                break;
            case KindListener:
                if (_listeners[slot] is { } listener)
                {
                    Accept(listener);
                }

                break;
            case KindUdpVip:
                if (_udpVips[slot] is { } udp)
                {
                    ReceiveFromClients(udp);
                }

                break;
            case KindUdpFlow:
                var flow = _flows[slot];
                if (flow is not null && flow.Generation == (uint)(data >> 32))
                {
                    ReceiveFromBackend(flow);
                }

                break;
            default:
                var connection = _connections[slot];
                if (connection is not null && connection.Generation == (uint)(data >> 32))
                {
                    OnEvent(connection, kind == KindBackend, events);
                }

                break;
        }
    }

    // ---- accepting and connecting ----

    private void Accept(TcpListenerHandle listener)
    {
        for (var i = 0; i < AcceptBatch; i++)
        {
            var fd = accept4(listener.Fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
            {
                var errno = Errno;
                if (errno is EMFILE or ENFILE or ENOBUFS or ENOMEM)
                {
                    // Out of descriptors or memory: stop taking connections for a moment instead of spinning on a
                    // listener that stays readable; they wait in the backlog.
                    _counters.AcceptErrors++;
                    _ = Control(_epoll, EPOLL_CTL_DEL, listener.Fd, 0, 0);
                    _paused.Add((listener, _now + ListenerPauseMs));
                    return;
                }

                if (errno is EINTR or ECONNABORTED)
                {
                    continue;
                }

                return;
            }

            if (!_stats.TryAcquire(_settings.MaxConnections))
            {
                _counters.Refused++;
                Reset(fd);
                continue;
            }

            // TCP_NODELAY comes from the listening socket: Linux copies it into each accepted socket.
            _counters.Accepted++;
            var connection = NewConnection(fd, listener.Vip);
            if (!Connect(connection))
            {
                Fail(connection);
            }
        }
    }

    private TcpConnection NewConnection(int clientFd, TcpVip vip)
    {
        var slot = _freeSlots.Count > 0 ? _freeSlots.Pop() : _nextSlot++;
        if (slot >= _connections.Length)
        {
            Array.Resize(ref _connections, _connections.Length * 2);
        }

        var connection = _spare.Count > 0 ? _spare.Pop() : new TcpConnection();
        connection.Slot = slot;
        connection.Generation = ++_generation == 0 ? ++_generation : _generation;
        connection.ClientFd = clientFd;
        connection.BackendFd = -1;
        connection.Vip = vip;
        connection.LastActivity = _now;
        _connections[slot] = connection;
        Connections++;
        _ = Control(_epoll, EPOLL_CTL_ADD, clientFd, ConnectionEvents, Data(connection, KindClient));
        return connection;
    }

    /// <summary>Starts a connect to the next backend; false when none is left to try.</summary>
    private bool Connect(TcpConnection connection)
    {
        var pool = connection.Vip!.Pool;
        while (connection.Attempts < ProxySettings.MaxAttempts)
        {
            var backend = pool.Pick(_random, _now, connection.Tried1, connection.Tried2);
            if (backend is null)
            {
                if (connection.Attempts == 0)
                {
                    _counters.NoBackend++;
                }

                return false;
            }

            connection.Attempts++;
            var fd = socket(backend.Family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0)
            {
                _counters.AcceptErrors++;
                return false;
            }

            NoDelay(fd);
            int result;
            fixed (byte* address = backend.SockAddr)
            {
                result = connect(fd, address, (uint)backend.SockAddr.Length);
            }

            var errno = result == 0 ? 0 : Errno;
            if (result == 0 || errno == EINPROGRESS)
            {
                backend.Acquire();
                connection.Backend = backend;
                connection.BackendFd = fd;
                connection.Connecting = true;
                connection.Deadline = _now + (long)_settings.ConnectTimeout.TotalMilliseconds;
                _ = Control(_epoll, EPOLL_CTL_ADD, fd, ConnectionEvents, Data(connection, KindBackend));
                if (result == 0)
                {
                    Connected(connection, 0);
                }

                return true;
            }

            // Refused or unreachable at once (a local route, no listener on a local address): the backend's fault. Out
            // of local ports or buffers (EADDRNOTAVAIL, EAGAIN, ENOBUFS): this host's, which ejects no backend.
            _ = close(fd);
            RecordConnectError(backend, errno);
            Remember(connection, backend);
        }

        return false;
    }

    /// <summary>
    /// The backend accepted: forward what the client sent meanwhile (if it sent anything: its edge came while
    /// connecting) and what the backend sent with its accept (a banner: the event that said connected said readable).
    /// </summary>
    private void Connected(TcpConnection connection, uint events)
    {
        connection.Connecting = false;
        connection.Backend!.RecordSuccess();
        connection.LastActivity = _now;

        // The event that said connected may also say the backend already ended its side (a banner and FIN at once):
        // edge-triggered, no later event repeats it, so its side must be read to the end, not to a short read.
        connection.Down.HangUpSeen |= (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
        if (connection.Up.ReadablePending && !Pump(connection, connection.Up))
        {
            return;
        }

        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0)
        {
            Pump(connection, connection.Down);
        }
    }

    /// <summary>The backend did not take the connection: mark it, try the next one, or give up on the client.</summary>
    private void ConnectFailed(TcpConnection connection, bool timedOut)
    {
        var backend = connection.Backend!;
        var error = timedOut ? ETIMEDOUT : SocketError(connection.BackendFd);
        RecordConnectError(backend, error == 0 ? ECONNREFUSED : error);
        backend.Release();
        if (timedOut)
        {
            _counters.ConnectTimeouts++;
        }

        _ = close(connection.BackendFd);
        connection.BackendFd = -1;
        connection.Backend = null;
        Remember(connection, backend);
        if (connection.Attempts < ProxySettings.MaxAttempts)
        {
            _counters.Retries++;
            if (Connect(connection))
            {
                return;
            }
        }

        Fail(connection);
    }

    /// <summary>Counts a failed connect; only the backend's faults (<see cref="IsBackendFault"/>) eject it.</summary>
    private void RecordConnectError(BackendSlot backend, int errno)
    {
        if (IsBackendFault(errno))
        {
            backend.RecordFailure(_now);
            _counters.ConnectFailures++;
        }
        else
        {
            _counters.LocalConnectErrors++;
        }
    }

    private static void Remember(TcpConnection connection, BackendSlot backend)
    {
        if (connection.Tried1 is null)
        {
            connection.Tried1 = backend;
        }
        else
        {
            connection.Tried2 = backend;
        }
    }

    /// <summary>No backend took the connection: the client gets a reset (a clear failure, not a hang).</summary>
    private void Fail(TcpConnection connection) => Finish(connection, reset: true);

    // ---- moving bytes ----

    private void OnEvent(TcpConnection connection, bool backendSide, uint events)
    {
        if (connection.Connecting)
        {
            if (backendSide)
            {
                if ((events & (EPOLLERR | EPOLLHUP)) != 0)
                {
                    ConnectFailed(connection, timedOut: false);
                }
                else if ((events & EPOLLOUT) != 0)
                {
                    Connected(connection, events);
                }
            }
            else if ((events & EPOLLERR) != 0)
            {
                Finish(connection, reset: true);
            }
            else
            {
                connection.Up.ReadablePending |= (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0;
                connection.Up.HangUpSeen |= (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
            }

            return;
        }

        if ((events & EPOLLERR) != 0)
        {
            // This side was reset (or failed): reset the other side too, as a plain TCP path would.
            Finish(connection, reset: true);
            return;
        }

        var source = backendSide ? connection.Down : connection.Up;
        var sink = backendSide ? connection.Up : connection.Down;
        if ((events & (EPOLLRDHUP | EPOLLHUP)) != 0)
        {
            source.HangUpSeen = true;
        }

        if ((events & EPOLLOUT) != 0 && sink.Pending is not null)
        {
            // This side can take bytes again: write what waited, then read the other side where it stopped.
            var generation = connection.Generation;
            if (Flush(connection, sink))
            {
                if (!Pump(connection, sink))
                {
                    return;
                }
            }
            else if (connection.Generation != generation)
            {
                return;
            }
        }

        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0)
        {
            Pump(connection, source);
        }
    }

    /// <summary>
    /// Reads <paramref name="flow"/>'s source and writes to its destination until the source has nothing more, the
    /// destination is full, or the source ended. False when the connection was closed.
    /// </summary>
    /// <param name="connection">The connection.</param>
    /// <param name="flow">Which way: <see cref="TcpConnection.Up"/> (client to backend) or <see cref="TcpConnection.Down"/>.</param>
    /// <remarks>
    /// A read shorter than the buffer means the source had nothing more at that moment (TCP hands over all it holds, up
    /// to the length asked): bytes that come later bring a new edge, so there is no read until EAGAIN, except after a
    /// hang-up, when the FIN may wait behind the bytes.
    /// </remarks>
    private bool Pump(TcpConnection connection, Flow flow)
    {
        if (flow.Pending is not null || flow.Ended)
        {
            return true;
        }

        var up = ReferenceEquals(flow, connection.Up);
        var source = up ? connection.ClientFd : connection.BackendFd;
        var sink = up ? connection.BackendFd : connection.ClientFd;
        while (true)
        {
            var n = recv(source, _scratch, ScratchSize, 0);
            if (n > 0)
            {
                connection.LastActivity = _now;
                if (up)
                {
                    _counters.BytesToBackends += n;
                }
                else
                {
                    _counters.BytesToClients += n;
                }

                var sent = send(sink, _scratch, n, MSG_NOSIGNAL);
                if (sent == n)
                {
                    if (n < ScratchSize && !flow.HangUpSeen)
                    {
                        return true;
                    }

                    continue;
                }

                if (sent < 0)
                {
                    if (Errno != EAGAIN)
                    {
                        Finish(connection, reset: true);
                        return false;
                    }

                    sent = 0;
                }

                // The destination is full: keep the rest and stop reading this source until it drains (EPOLLOUT).
                var rest = (int)(n - sent);
                flow.Pending = ArrayPool<byte>.Shared.Rent(rest);
                new ReadOnlySpan<byte>(_scratch + sent, rest).CopyTo(flow.Pending);
                flow.Offset = 0;
                flow.Length = rest;
                return true;
            }

            if (n == 0)
            {
                flow.Ended = true;
                if (connection.Up.Ended && connection.Down.Ended)
                {
                    // Both sides sent FIN: closing sends the last one.
                    Finish(connection, reset: false);
                    return false;
                }

                // Half-close: pass the FIN on; the other way goes on until it ends too.
                _ = shutdown(sink, SHUT_WR);
                return true;
            }

            var errno = Errno;
            if (errno == EAGAIN)
            {
                return true;
            }

            if (errno != EINTR)
            {
                Finish(connection, reset: true);
                return false;
            }
        }
    }

    /// <summary>Writes what <paramref name="flow"/> kept; true once all of it is written.</summary>
    private bool Flush(TcpConnection connection, Flow flow)
    {
        var sink = ReferenceEquals(flow, connection.Up) ? connection.BackendFd : connection.ClientFd;
        nint sent;
        fixed (byte* pending = flow.Pending)
        {
            sent = send(sink, pending + flow.Offset, flow.Length, MSG_NOSIGNAL);
        }

        if (sent < 0)
        {
            if (Errno != EAGAIN)
            {
                Finish(connection, reset: true);
            }

            return false;
        }

        connection.LastActivity = _now;
        flow.Offset += (int)sent;
        flow.Length -= (int)sent;
        if (flow.Length > 0)
        {
            return false;
        }

        ArrayPool<byte>.Shared.Return(flow.Pending!);
        flow.Pending = null;
        return true;
    }

    /// <summary>Closes both sides (with a reset when <paramref name="reset"/>) and returns the connection to the pool.</summary>
    private void Finish(TcpConnection connection, bool reset)
    {
        if (reset)
        {
            _counters.Resets++;
            Native.Reset(connection.ClientFd);
            Native.Reset(connection.BackendFd);
        }
        else
        {
            _ = close(connection.ClientFd);
            if (connection.BackendFd >= 0)
            {
                _ = close(connection.BackendFd);
            }
        }

        connection.Backend?.Release();
        _stats.Release();
        _connections[connection.Slot] = null;
        _freeSlots.Push(connection.Slot);
        Connections--;
        connection.ClientFd = connection.BackendFd = -1;
        connection.Generation = 0;
        connection.Connecting = false;
        connection.Vip = null;
        connection.Backend = connection.Tried1 = connection.Tried2 = null;
        connection.Attempts = 0;
        connection.Up.Reset();
        connection.Down.Reset();
        _spare.Push(connection);
    }

    // ---- UDP ----

    /// <summary>Starts serving a UDP VIP (on the worker's thread).</summary>
    public void AddUdpVip(UdpVip vip)
    {
        var slot = _freeUdpSlots.Count > 0 ? _freeUdpSlots.Pop() : _nextUdpSlot++;
        if (slot >= _udpVips.Length)
        {
            Array.Resize(ref _udpVips, _udpVips.Length * 2);
        }

        _udpVips[slot] = vip;
        _ = Control(_epoll, EPOLL_CTL_ADD, vip.Fd, EPOLLIN, (KindUdpVip << 24) | (uint)slot);
    }

    /// <summary>Stops serving a UDP VIP and forgets its flows (on the worker's thread).</summary>
    public void RemoveUdpVip(UdpVip vip)
    {
        for (var slot = 0; slot < _nextUdpSlot; slot++)
        {
            if (ReferenceEquals(_udpVips[slot], vip))
            {
                _ = Control(_epoll, EPOLL_CTL_DEL, vip.Fd, 0, 0);
                _udpVips[slot] = null;
                _freeUdpSlots.Push(slot);
            }
        }

        foreach (var flow in vip.Flows.Values.ToList())
        {
            CloseFlow(flow);
        }
    }

    /// <summary>Forgets the flows of <paramref name="vip"/> to <paramref name="backends"/> (removed from it; on the worker's thread).</summary>
    public void CloseFlowsTo(UdpVip vip, IReadOnlyList<BackendSlot> backends)
    {
        foreach (var flow in vip.Flows.Values.Where(f => backends.Contains(f.Backend!)).ToList())
        {
            CloseFlow(flow);
        }
    }

    /// <summary>Datagrams from clients: each goes to its flow's backend (a new flow picks one).</summary>
    private void ReceiveFromClients(UdpVip vip)
    {
        var address = stackalloc byte[28];
        for (var i = 0; i < UdpBatch; i++)
        {
            var length = 28u;
            var n = recvfrom(vip.Fd, _scratch, ScratchSize, 0, address, &length);
            if (n < 0)
            {
                return;
            }

            var key = KeyOf(address);
            if (!vip.Flows.TryGetValue(key, out var flow) && (flow = OpenFlow(vip, key, address, length, null)) is null)
            {
                _stats.UdpDroppedOne();
                continue;
            }

            flow.LastActivity = _now;
            _counters.BytesToBackends += n;
            if (send(flow.Fd, _scratch, n, MSG_NOSIGNAL) < 0 && Errno == ECONNREFUSED)
            {
                // An earlier datagram drew ICMP port unreachable: the backend is down. Move the client to another.
                var failed = flow.Backend!;
                failed.RecordFailure(_now);
                _counters.ConnectFailures++;
                CloseFlow(flow);
                if ((flow = OpenFlow(vip, key, address, length, failed)) is not null)
                {
                    _counters.Retries++;
                    _ = send(flow.Fd, _scratch, n, MSG_NOSIGNAL);
                }
            }
        }
    }

    /// <summary>Replies from a flow's backend go back to its client, from the VIP's address.</summary>
    private void ReceiveFromBackend(UdpFlow flow)
    {
        var vip = flow.Vip!;
        for (var i = 0; i < UdpBatch; i++)
        {
            var n = recv(flow.Fd, _scratch, ScratchSize, 0);
            if (n < 0)
            {
                if (Errno == ECONNREFUSED)
                {
                    flow.Backend!.RecordFailure(_now);
                    _counters.ConnectFailures++;
                    CloseFlow(flow);
                }

                return;
            }

            flow.LastActivity = _now;
            flow.Backend!.RecordSuccess();
            _counters.BytesToClients += n;
            fixed (byte* client = flow.Client)
            {
                _ = sendto(vip.Fd, _scratch, n, MSG_NOSIGNAL, client, flow.ClientLength);
            }
        }
    }

    private UdpFlow? OpenFlow(UdpVip vip, UdpClientKey key, byte* address, uint length, BackendSlot? exclude)
    {
        var backend = vip.Pool.Pick(_random, _now, exclude);
        if (backend is null)
        {
            _counters.NoBackend++;
            return null;
        }

        if (!_stats.TryAcquireFlow(_settings.MaxUdpFlows) && !(EvictQuietestFlow() && _stats.TryAcquireFlow(_settings.MaxUdpFlows)))
        {
            _counters.Refused++;
            return null;
        }

        var fd = socket(backend.Family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        var errno = fd < 0 ? Errno : 0;
        var connected = -1;
        if (fd >= 0)
        {
            fixed (byte* target = backend.SockAddr)
            {
                connected = connect(fd, target, (uint)backend.SockAddr.Length);
            }

            errno = connected < 0 ? Errno : 0;
        }

        if (connected < 0)
        {
            if (fd >= 0)
            {
                _ = close(fd);
            }

            // No socket (EMFILE, ENFILE, ENOBUFS) is this host's trouble; an unreachable backend is the backend's.
            _stats.ReleaseFlow();
            RecordConnectError(backend, errno);
            return null;
        }

        var slot = _freeFlowSlots.Count > 0 ? _freeFlowSlots.Pop() : _nextFlowSlot++;
        if (slot >= _flows.Length)
        {
            Array.Resize(ref _flows, _flows.Length * 2);
        }

        var flow = _spareFlows.Count > 0 ? _spareFlows.Pop() : new UdpFlow();
        flow.Slot = slot;
        flow.Generation = ++_generation == 0 ? ++_generation : _generation;
        flow.Fd = fd;
        flow.Vip = vip;
        flow.Key = key;
        flow.Backend = backend;
        flow.LastActivity = _now;
        new ReadOnlySpan<byte>(address, (int)length).CopyTo(flow.Client);
        flow.ClientLength = length;
        backend.Acquire();
        _stats.UdpFlowOpened();
        _flows[slot] = flow;
        vip.Flows[key] = flow;
        _ = Control(_epoll, EPOLL_CTL_ADD, fd, EPOLLIN, ((ulong)flow.Generation << 32) | (KindUdpFlow << 24) | (uint)slot);
        return flow;
    }

    /// <summary>
    /// At max_udp_flows: forgets this worker's flow quiet longest, if it has been quiet for
    /// <see cref="ProxySettings.UdpEvictQuiet"/> at least (flows in use are not churned); whether one was.
    /// </summary>
    private bool EvictQuietestFlow()
    {
        UdpFlow? quietest = null;
        for (var slot = 0; slot < _nextFlowSlot; slot++)
        {
            if (_flows[slot] is { } flow && (quietest is null || flow.LastActivity < quietest.LastActivity))
            {
                quietest = flow;
            }
        }

        if (quietest is null || _now - quietest.LastActivity < (long)ProxySettings.UdpEvictQuiet.TotalMilliseconds)
        {
            return false;
        }

        _stats.UdpEvictedOne();
        CloseFlow(quietest);
        return true;
    }

    private void CloseFlow(UdpFlow flow)
    {
        _ = close(flow.Fd);
        flow.Backend?.Release();
        _stats.ReleaseFlow();
        flow.Vip?.Flows.Remove(flow.Key);
        _flows[flow.Slot] = null;
        _freeFlowSlots.Push(flow.Slot);
        flow.Fd = -1;
        flow.Generation = 0;
        flow.Vip = null;
        flow.Backend = null;
        _spareFlows.Push(flow);
    }

    private static UdpClientKey KeyOf(byte* address)
    {
        var port = (ushort)((address[2] << 8) | address[3]);
        if (*(ushort*)address == AF_INET6)
        {
            return new UdpClientKey(new UInt128(
                System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(address + 8, 8)),
                System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(new ReadOnlySpan<byte>(address + 16, 8))), port);
        }

        return new UdpClientKey(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(new ReadOnlySpan<byte>(address + 4, 4)), port);
    }

    // ---- timers ----

    private void Sweep()
    {
        var idle = (long)_settings.IdleTimeout.TotalMilliseconds;
        for (var slot = 0; slot < _nextSlot; slot++)
        {
            var connection = _connections[slot];
            if (connection is null)
            {
                continue;
            }

            if (connection.Connecting)
            {
                if (_now >= connection.Deadline)
                {
                    ConnectFailed(connection, timedOut: true);
                }
            }
            else if (_now - connection.LastActivity >= idle)
            {
                _counters.IdleTimeouts++;
                Finish(connection, reset: false);
            }
        }

        var udpIdle = (long)_settings.UdpIdleTimeout.TotalMilliseconds;
        for (var slot = 0; slot < _nextFlowSlot; slot++)
        {
            if (_flows[slot] is { } flow && _now - flow.LastActivity >= udpIdle)
            {
                _counters.IdleTimeouts++;
                CloseFlow(flow);
            }
        }

        for (var i = _paused.Count - 1; i >= 0; i--)
        {
            var (listener, until) = _paused[i];
            if (_now >= until)
            {
                _paused.RemoveAt(i);
                for (var slot = 0; slot < _nextListenerSlot; slot++)
                {
                    if (ReferenceEquals(_listeners[slot], listener))
                    {
                        _ = Control(_epoll, EPOLL_CTL_ADD, listener.Fd, EPOLLIN | EPOLLEXCLUSIVE, (KindListener << 24) | (uint)slot);
                    }
                }
            }
        }
    }

    private static ulong Data(TcpConnection connection, ulong kind) =>
        ((ulong)connection.Generation << 32) | (kind << 24) | (uint)connection.Slot;

    private void CloseAll()
    {
        for (var slot = 0; slot < _nextFlowSlot; slot++)
        {
            if (_flows[slot] is { } flow)
            {
                CloseFlow(flow);
            }
        }

        for (var slot = 0; slot < _nextSlot; slot++)
        {
            if (_connections[slot] is { } connection)
            {
                Finish(connection, reset: true);
            }
        }

        // Commands posted before the thread ended: on a stop they still run (removing a VIP, say); on a failure they
        // do not (the worker serves nothing any more) and their tasks fail with the reason.
        while (_commands.TryDequeue(out var item))
        {
            if (_failure is not null)
            {
                Abandon(item.Done);
                continue;
            }

            try
            {
                item.Command();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogWorkerFailed(_logger, e);
            }

            Abandon(item.Done);
        }
    }

    private void Close()
    {
        if (_epoll >= 0)
        {
            _ = close(_epoll);
        }

        if (_wake >= 0)
        {
            lock (_wakeLock)
            {
                _wakeClosed = true;
                _ = close(_wake);
            }
        }

        if (_events is not null)
        {
            NativeMemory.Free(_events);
        }

        if (_scratch is not null)
        {
            NativeMemory.Free(_scratch);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Userspace proxy: epoll_wait failed (errno {Errno}); the worker stops")]
    private static partial void LogEpollFailed(ILogger logger, int errno);

    [LoggerMessage(Level = LogLevel.Error, Message = "Userspace proxy: a worker failed; its connections are closed")]
    private static partial void LogWorkerFailed(ILogger logger, Exception exception);
}

/// <summary>A command was handed to a worker whose thread had failed (it serves nothing any more).</summary>
internal sealed class WorkerFailedException(string reason) : InvalidOperationException(reason);
