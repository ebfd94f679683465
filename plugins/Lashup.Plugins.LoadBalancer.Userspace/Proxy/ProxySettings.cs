namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

/// <summary>The proxy's limits, from <c>[loadbalancer.userspace]</c>.</summary>
/// <param name="ConnectTimeout">How long a backend has to accept a connection before the next one is tried.</param>
/// <param name="IdleTimeout">A TCP connection with no byte either way for this long is closed.</param>
/// <param name="UdpIdleTimeout">A UDP flow with no datagram either way for this long is forgotten.</param>
/// <param name="MaxConnections">Open TCP connections, at most; more are refused.</param>
/// <param name="Workers">Proxy threads (one epoll each).</param>
/// <param name="MaxUdpFlows">Open UDP flows, at most (a budget of their own, so UDP clients cannot lock TCP VIPs out);
/// at the limit a worker forgets its flow quiet longest (<see cref="UdpEvictQuiet"/> at least) to make room.</param>
internal sealed record ProxySettings(TimeSpan ConnectTimeout, TimeSpan IdleTimeout, TimeSpan UdpIdleTimeout, int MaxConnections, int Workers, int MaxUdpFlows = 65_536)
{
    /// <summary>A flow quiet for this long may be forgotten to make room for a new one at <see cref="MaxUdpFlows"/>.</summary>
    public static readonly TimeSpan UdpEvictQuiet = TimeSpan.FromSeconds(1);

    /// <summary>Backends tried for one connection at most (the first and two more after failed connects).</summary>
    public const int MaxAttempts = 3;
}

/// <summary>
/// The proxy's counters. Connections open is shared (it enforces <c>max_connections</c>); the rest are counted by each
/// worker without atomics on its own <see cref="WorkerCounters"/> and summed when read.
/// </summary>
internal sealed class ProxyStats
{
    private readonly List<WorkerCounters> _workers = [];
    private int _open;
    private int _udpOpen;
    private long _udpFlows;
    private long _udpDropped;
    private long _udpEvicted;

    /// <summary>TCP connections and UDP flows open now.</summary>
    public int Open => Volatile.Read(ref _open) + Volatile.Read(ref _udpOpen);

    /// <summary>TCP connections open now (counted against max_connections).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <summary>UDP flows open now (counted against max_udp_flows).</summary>
    public int OpenUdpFlows => Volatile.Read(ref _udpOpen);

    /// <summary>UDP flows forgotten to make room for a new one at max_udp_flows.</summary>
    public long UdpEvicted => Volatile.Read(ref _udpEvicted);

    public long UdpFlowsOpened => Volatile.Read(ref _udpFlows);

    public long UdpDropped => Volatile.Read(ref _udpDropped);

    /// <summary>Takes one TCP connection of <paramref name="max"/>.</summary>
    public bool TryAcquire(int max) => TryAcquire(ref _open, max);

    public void Release() => Interlocked.Decrement(ref _open);

    /// <summary>Takes one UDP flow of <paramref name="max"/>.</summary>
    public bool TryAcquireFlow(int max) => TryAcquire(ref _udpOpen, max);

    public void ReleaseFlow() => Interlocked.Decrement(ref _udpOpen);

    public void UdpEvictedOne() => Interlocked.Increment(ref _udpEvicted);

    private static bool TryAcquire(ref int counter, int max)
    {
        while (true)
        {
            var open = Volatile.Read(ref counter);
            if (open >= max)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter, open + 1, open) == open)
            {
                return true;
            }
        }
    }

    public void UdpFlowOpened() => Interlocked.Increment(ref _udpFlows);

    public void UdpDroppedOne() => Interlocked.Increment(ref _udpDropped);

    public WorkerCounters NewWorker()
    {
        var counters = new WorkerCounters();
        lock (_workers)
        {
            _workers.Add(counters);
        }

        return counters;
    }

    /// <summary>The sum of one counter over the workers.</summary>
    public long Sum(Func<WorkerCounters, long> counter)
    {
        lock (_workers)
        {
            return _workers.Sum(counter);
        }
    }
}

/// <summary>One worker's counters: written by its thread only, read (torn-free on 64-bit) by the metrics.</summary>
internal sealed class WorkerCounters
{
    public long Accepted;
    public long Refused;
    public long NoBackend;
    public long ConnectFailures;

    /// <summary>Connects that failed for this host's want (descriptors, ports, buffers): no backend is ejected for them.</summary>
    public long LocalConnectErrors;
    public long Retries;
    public long ConnectTimeouts;
    public long IdleTimeouts;
    public long Resets;
    public long AcceptErrors;
    public long BytesToBackends;
    public long BytesToClients;
}
