using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

/// <summary>
/// One VIP served by the proxy: its socket (a TCP listener shared by every worker, or a UDP socket served by one
/// worker) and its backends. Changes to the backends replace <see cref="Pool"/> (the same slots, so open-connection
/// counts and health carry over); workers read it for each new connection or flow.
/// </summary>
internal abstract class ProxyVip(VipKey key, IPEndPoint bind)
{
    private readonly Dictionary<IPEndPoint, BackendSlot> _slots = [];
    private volatile BackendPool _pool = BackendPool.Empty;

    public VipKey Key { get; } = key;

    /// <summary>Where the socket is bound: the VIP, or <c>listen_address</c> with the VIP's port.</summary>
    public IPEndPoint Bind { get; } = bind;

    public BackendPool Pool => _pool;

    /// <summary>Why the VIP is not served (its socket could not be bound), or null.</summary>
    public string? Error { get; protected set; }

    public bool IsServing => Error is null;

    /// <summary>The backends as last set.</summary>
    public ImmutableArray<VipBackend> Backends { get; private set; } = [];

    /// <summary>
    /// Sets the backends; returns whether anything changed. TCP connections to removed backends go on until they end;
    /// UDP flows to removed backends, which have no end to wait for, are forgotten (their clients' next datagrams pick
    /// a backend again); those to backends that drain (weight 0) go on, as connections do.
    /// </summary>
    public async Task<bool> SetBackendsAsync(ImmutableArray<VipBackend> backends)
    {
        var (changed, gone) = Update(backends);
        if (gone.Count > 0)
        {
            await ForgetAsync(gone).ConfigureAwait(false);
        }

        return changed;
    }

    /// <summary>What the VIP does about backends that left it (after <see cref="Pool"/> no longer has them).</summary>
    protected virtual Task ForgetAsync(IReadOnlyList<BackendSlot> gone) => Task.CompletedTask;

    private (bool Changed, List<BackendSlot> Gone) Update(ImmutableArray<VipBackend> backends)
    {
        var changed = backends.Length != Backends.Length || !new VipEntry(Key, backends).Equals(new VipEntry(Key, Backends));
        var slots = new List<BackendSlot>(backends.Length);
        foreach (var backend in backends)
        {
            if (_slots.TryGetValue(backend.Endpoint, out var slot))
            {
                slot.Weight = backend.Weight;
                slot.Node = backend.Node;
            }
            else
            {
                slot = new BackendSlot(backend.Endpoint, backend.Weight, backend.Node);
                _slots[backend.Endpoint] = slot;
            }

            slots.Add(slot);
        }

        var gone = new List<BackendSlot>();
        foreach (var endpoint in _slots.Keys.Where(e => !backends.Any(b => b.Endpoint.Equals(e))).ToList())
        {
            _slots.Remove(endpoint, out var slot);
            gone.Add(slot!);
        }

        Backends = backends;
        _pool = new BackendPool([.. slots]);
        return (changed, gone);
    }

    /// <summary>Binds the socket and hands it to the workers; on failure sets <see cref="Error"/>.</summary>
    public abstract Task StartAsync(ProxyEngine engine);

    /// <summary>Takes the socket from the workers and closes it; open TCP connections go on until they end or idle out.</summary>
    public abstract Task StopAsync(ProxyEngine engine);

    /// <summary>Whether the socket is still what it was bound as (for reconcile: a closed or lost socket is drift).</summary>
    public abstract bool IsHealthy { get; }

    /// <summary>Closes the socket without telling the workers (they have stopped: the engine is disposed).</summary>
    public abstract void Close();

    protected static Socket NewSocket(IPEndPoint bind, TransportProtocol protocol)
    {
        var socket = protocol == TransportProtocol.Tcp
            ? new Socket(bind.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (bind.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = false;
            }

            // TCP: a restart rebinds at once even with connections of the previous run in TIME_WAIT. Not for UDP, where
            // it would let two sockets (two daemons on one host, say) bind one address and port and split its clients.
            if (protocol == TransportProtocol.Tcp)
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }

            socket.Bind(bind);
            socket.Blocking = false;
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    protected static string Describe(SocketException e, IPEndPoint bind) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => $"{bind} is in use by another socket",
        SocketError.AddressNotAvailable => $"{bind.Address} is not an address of this host",
        SocketError.AccessDenied => $"binding {bind} needs privileges (a port under 1024 needs root or CAP_NET_BIND_SERVICE)",
        _ => $"binding {bind} failed: {e.Message}",
    };
}

/// <summary>A TCP VIP: one listening socket in every worker's epoll (EPOLLEXCLUSIVE: one worker takes each connection).</summary>
internal sealed class TcpVip(VipKey key, IPEndPoint bind) : ProxyVip(key, bind)
{
    private Socket? _socket;
    private TcpListenerHandle? _handle;

    public override bool IsHealthy => _socket is { } s && s.SafeHandle is { IsClosed: false, IsInvalid: false };

    public override async Task StartAsync(ProxyEngine engine)
    {
        try
        {
            _socket = NewSocket(Bind, TransportProtocol.Tcp);
            _socket.NoDelay = true;
            _socket.Listen(4096);
        }
        catch (SocketException e)
        {
            _socket?.Dispose();
            _socket = null;
            Error = Describe(e, Bind);
            return;
        }

        Error = null;
        _handle = new TcpListenerHandle((int)_socket.SafeHandle.DangerousGetHandle(), this);
        var handle = _handle;
        try
        {
            await Task.WhenAll(engine.Workers.Select(w => w.RunAsync(() => w.AddListener(handle)))).ConfigureAwait(false);
        }
        catch (WorkerFailedException e)
        {
            await StopAsync(engine).ConfigureAwait(false);
            Error = e.Message;
        }
    }

    public override async Task StopAsync(ProxyEngine engine)
    {
        try
        {
            if (_handle is { } handle)
            {
                await Task.WhenAll(engine.Workers.Select(w => w.RunAsync(() => w.RemoveListener(handle)))).ConfigureAwait(false);
            }
        }
        catch (WorkerFailedException)
        {
            // A failed worker holds nothing any more.
        }
        finally
        {
            Close();
        }
    }

    public override void Close()
    {
        _handle = null;
        _socket?.Dispose();
        _socket = null;
    }
}

/// <summary>
/// A UDP VIP: one socket, served by one worker, which keeps a flow per client address and port: a socket connected to
/// the backend chosen for it, whose replies go back to the client from the VIP's socket.
/// </summary>
internal sealed class UdpVip(VipKey key, IPEndPoint bind) : ProxyVip(key, bind)
{
    private Socket? _socket;

    public EpollWorker? Worker { get; private set; }

    /// <summary>The socket's descriptor (valid while started).</summary>
    public int Fd { get; private set; } = -1;

    /// <summary>Flows by client address and port; touched only by <see cref="Worker"/>'s thread.</summary>
    public Dictionary<UdpClientKey, UdpFlow> Flows { get; } = [];

    /// <summary>Its socket is open and its worker runs (a reconcile moves a VIP off a worker that failed).</summary>
    public override bool IsHealthy => _socket is { } s && s.SafeHandle is { IsClosed: false, IsInvalid: false } && Worker is not { HasExited: true };

    public override async Task StartAsync(ProxyEngine engine)
    {
        try
        {
            _socket = NewSocket(Bind, TransportProtocol.Udp);
        }
        catch (SocketException e)
        {
            _socket = null;
            Error = Describe(e, Bind);
            return;
        }

        Error = null;
        Fd = (int)_socket.SafeHandle.DangerousGetHandle();
        var worker = engine.NextWorker();
        Worker = worker;
        try
        {
            await worker.RunAsync(() => worker.AddUdpVip(this)).ConfigureAwait(false);
        }
        catch (WorkerFailedException e)
        {
            await StopAsync(engine).ConfigureAwait(false);
            Error = e.Message;
        }
    }

    protected override async Task ForgetAsync(IReadOnlyList<BackendSlot> gone)
    {
        if (Worker is { } worker)
        {
            try
            {
                await worker.RunAsync(() => worker.CloseFlowsTo(this, gone)).ConfigureAwait(false);
            }
            catch (WorkerFailedException)
            {
                // A failed worker holds no flows any more.
            }
        }
    }

    public override async Task StopAsync(ProxyEngine engine)
    {
        try
        {
            if (Worker is { } worker)
            {
                await worker.RunAsync(() => worker.RemoveUdpVip(this)).ConfigureAwait(false);
            }
        }
        catch (WorkerFailedException)
        {
            // A failed worker holds nothing any more.
        }
        finally
        {
            Close();
        }
    }

    public override void Close()
    {
        Worker = null;
        Fd = -1;
        _socket?.Dispose();
        _socket = null;
    }
}

/// <summary>A client of a UDP VIP: its address (IPv4 mapped into 128 bits) and port.</summary>
internal readonly record struct UdpClientKey(UInt128 Address, ushort Port);

/// <summary>One client's flow through a UDP VIP.</summary>
internal sealed class UdpFlow
{
    public int Slot;
    public uint Generation;
    public int Fd = -1;
    public UdpVip? Vip;
    public UdpClientKey Key;
    public BackendSlot? Backend;

    /// <summary>The client's native sockaddr (replies are sent to it).</summary>
    public readonly byte[] Client = new byte[28];
    public uint ClientLength;
    public long LastActivity;
}
