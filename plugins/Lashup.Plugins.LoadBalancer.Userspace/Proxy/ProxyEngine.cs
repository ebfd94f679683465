using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

/// <summary>The proxy's worker threads, started on first use and stopped on dispose.</summary>
internal sealed class ProxyEngine(ProxySettings settings, ProxyStats stats, ILogger logger) : IDisposable
{
    private readonly Lock _lock = new();
    private EpollWorker[]? _workers;
    private int _next;

    public ProxySettings Settings { get; } = settings;

    public ProxyStats Stats { get; } = stats;

    /// <summary>The workers (started on first access).</summary>
    public IReadOnlyList<EpollWorker> Workers
    {
        get
        {
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _workers ??= [.. Enumerable.Range(0, Settings.Workers).Select(i => new EpollWorker(i, Settings, Stats, logger))];
            }
        }
    }

    /// <summary>The worker to give the next UDP VIP to (round robin over those whose thread runs, if any does).</summary>
    public EpollWorker NextWorker()
    {
        var workers = Workers;
        for (var i = 0; i < workers.Count; i++)
        {
            var worker = workers[(int)((uint)Interlocked.Increment(ref _next) % (uint)workers.Count)];
            if (!worker.HasExited)
            {
                return worker;
            }
        }

        return workers[0];
    }

    /// <summary>Connections (TCP) held open by the workers now.</summary>
    public int Connections
    {
        get
        {
            lock (_lock)
            {
                return _workers?.Sum(w => w.Connections) ?? 0;
            }
        }
    }

    private bool _disposed;

    /// <summary>Why a worker thread stopped on its own (the proxy then serves only part of its VIPs, or none), or null.</summary>
    public string? Failure
    {
        get
        {
            lock (_lock)
            {
                return _workers?.Select(w => w.Failure).FirstOrDefault(f => f is not null);
            }
        }
    }

    public void Dispose()
    {
        EpollWorker[]? workers;
        lock (_lock)
        {
            _disposed = true;
            workers = _workers;
            _workers = null;
        }

        foreach (var worker in workers ?? [])
        {
            worker.Dispose();
        }
    }
}
