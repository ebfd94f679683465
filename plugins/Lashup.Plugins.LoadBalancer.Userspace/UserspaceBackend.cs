using System.Globalization;
using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary>
/// The <c>userspace</c> load-balancer backend: every VIP of the table gets a socket of its own in this process (a TCP
/// listener, or a UDP socket), served by the proxy's worker threads. What it owns is its sockets, so "the kernel" it
/// reconciles against is them: a reconcile rebinds a VIP whose socket failed to bind or was lost, closes sockets of VIPs
/// no longer wanted, and resets backends that differ. VIP addresses are made local by the load balancer (this backend
/// needs them local, unless <c>listen_address</c> is set).
/// </summary>
internal sealed partial class UserspaceBackend : ILoadBalancerBackend, IReadinessCheck, IDisposable
{
    private readonly ProxyEngine _engine;
    private readonly IPAddress? _listenAddress;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<VipKey, ProxyVip> _vips = [];

    public UserspaceBackend(ProxyEngine engine, IPAddress? listenAddress, ILogger<UserspaceBackend> logger)
    {
        _engine = engine;
        _listenAddress = listenAddress;
        _logger = logger;
    }

    public string Name => "userspace";

    string IReadinessCheck.Name => "loadbalancer.userspace";

    /// <summary>Not ready once a proxy worker's thread has failed: the VIPs it served are served no more.</summary>
    public Readiness Check() => _engine.Failure is { } failure
        ? Readiness.NotReady("a userspace proxy worker failed: " + failure)
        : Readiness.Ready;

    public bool NeedsLocalAddresses => _listenAddress is null;

    /// <summary>The VIPs served now (for metrics).</summary>
    public IReadOnlyList<ProxyVip> Vips
    {
        get
        {
            lock (_lock)
            {
                return [.. _vips.Values];
            }
        }
    }

    public ValueTask EnsureSupportedAsync(CancellationToken cancellationToken) =>
        Native.IsSupported
            ? ValueTask.CompletedTask
            : throw new InvalidOperationException("the userspace load-balancer backend needs Linux on x64 or arm64 (its proxy loop is built on epoll)");

    public async ValueTask ApplyAsync(LoadBalancerDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        foreach (var key in delta.Removed.IsDefault ? [] : delta.Removed)
        {
            await RemoveAsync(key).ConfigureAwait(false);
        }

        foreach (var entry in delta.Upserted.IsDefault ? [] : delta.Upserted)
        {
            await UpsertAsync(entry).ConfigureAwait(false);
        }
    }

    public async ValueTask<int> ReconcileAsync(LoadBalancerTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var repairs = 0;
        List<VipKey> stale;
        lock (_lock)
        {
            stale = [.. _vips.Keys.Where(k => !desired.Vips.ContainsKey(k))];
        }

        foreach (var key in stale)
        {
            await RemoveAsync(key).ConfigureAwait(false);
            repairs++;
        }

        foreach (var entry in desired.Vips.Values)
        {
            ProxyVip? vip;
            lock (_lock)
            {
                _vips.TryGetValue(entry.Vip, out vip);
            }

            if (vip is null)
            {
                await UpsertAsync(entry).ConfigureAwait(false);
                repairs++;
                continue;
            }

            if (vip.IsServing && !vip.IsHealthy)
            {
                // The socket went away under us: bind it again.
                LogRebinding(_logger, entry.Vip.ToString());
                await vip.StopAsync(_engine).ConfigureAwait(false);
                await vip.StartAsync(_engine).ConfigureAwait(false);
                repairs++;
            }
            else if (!vip.IsServing)
            {
                await vip.StartAsync(_engine).ConfigureAwait(false);
                repairs += vip.IsServing ? 1 : 0;
            }

            if (await vip.SetBackendsAsync(entry.Backends).ConfigureAwait(false))
            {
                repairs++;
            }
        }

        return repairs;
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        List<VipKey> all;
        lock (_lock)
        {
            all = [.. _vips.Keys];
        }

        foreach (var key in all)
        {
            await RemoveAsync(key).ConfigureAwait(false);
        }
    }

    public VipProgramStatus? Describe(VipKey vip)
    {
        ProxyVip? proxy;
        lock (_lock)
        {
            _vips.TryGetValue(vip, out proxy);
        }

        if (proxy is null)
        {
            return null;
        }

        if (!proxy.IsServing)
        {
            return VipProgramStatus.NotProgrammed(proxy.Error!);
        }

        if (proxy is UdpVip { Worker.Failure: { } failure })
        {
            // Until a reconcile moves it to a worker that runs.
            return VipProgramStatus.NotProgrammed("its proxy worker failed: " + failure);
        }

        var now = Environment.TickCount64;
        return new VipProgramStatus(true, null, [.. proxy.Pool.Slots.Select(s => new BackendProgramStatus(
            s.Endpoint,
            s.Weight > 0 && !s.IsEjected(now),
            s.Weight == 0 ? "draining: open connections go on, no new ones"
                : s.IsEjected(now) ? string.Create(CultureInfo.InvariantCulture, $"ejected for {(s.EjectedUntil - now) / 1000.0:0.#}s more after {s.Failures} failed connect(s) in a row")
                : null,
            s.Active))]);
    }

    /// <summary>
    /// Stops the workers, then closes every VIP's socket (the host disposes the backend at shutdown; with keep_on_stop
    /// nothing else would close the listeners, and connections would queue in a backlog no one serves).
    /// </summary>
    public void Dispose()
    {
        _engine.Dispose();
        List<ProxyVip> vips;
        lock (_lock)
        {
            vips = [.. _vips.Values];
            _vips.Clear();
        }

        foreach (var vip in vips)
        {
            vip.Close();
        }
    }

    private async Task UpsertAsync(VipEntry entry)
    {
        ProxyVip? vip;
        bool created;
        lock (_lock)
        {
            created = !_vips.TryGetValue(entry.Vip, out vip);
            if (vip is null)
            {
                var bind = new IPEndPoint(_listenAddress ?? entry.Vip.Address, entry.Vip.Port);
                vip = entry.Vip.Protocol == TransportProtocol.Tcp ? new TcpVip(entry.Vip, bind) : new UdpVip(entry.Vip, bind);
                _vips[entry.Vip] = vip;
            }
        }

        await vip.SetBackendsAsync(entry.Backends).ConfigureAwait(false);
        if (created || !vip.IsServing)
        {
            await vip.StartAsync(_engine).ConfigureAwait(false);
            if (!vip.IsServing)
            {
                LogNotServed(_logger, entry.Vip.ToString(), vip.Error!);
            }
        }
    }

    private async Task RemoveAsync(VipKey key)
    {
        ProxyVip? vip;
        lock (_lock)
        {
            if (_vips.Remove(key, out vip) is false)
            {
                return;
            }
        }

        await vip!.StopAsync(_engine).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Userspace proxy: VIP {Vip} is not served: {Reason}")]
    private static partial void LogNotServed(ILogger logger, string vip, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Userspace proxy: the socket of VIP {Vip} was lost; binding it again")]
    private static partial void LogRebinding(ILogger logger, string vip);
}
