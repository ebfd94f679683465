using System.Net;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>One upstream as a status endpoint shows it.</summary>
/// <param name="Endpoint">Address and port.</param>
/// <param name="Healthy">Asked with every query; false once <see cref="ForwarderSettings.FailuresBeforeDown"/> failures in a row marked it down.</param>
/// <param name="ConsecutiveFailures">Failures since its last good answer.</param>
/// <param name="LastRoundTrip">The round trip of its last answer, if any.</param>
/// <param name="Queries">Queries sent to it (UDP).</param>
/// <param name="Failures">Timeouts, send errors and refusals, in all.</param>
internal sealed record UpstreamStatus(IPEndPoint Endpoint, bool Healthy, int ConsecutiveFailures, TimeSpan? LastRoundTrip, long Queries, long Failures);

/// <summary>
/// The health of one upstream, updated without locks from receive loops and timeouts: consecutive failures, marked
/// down at a threshold and up again by any good answer. A down upstream is still asked once per retry interval (the
/// first query after the interval claims the probe), and by every query while no upstream is up.
/// </summary>
internal sealed class UpstreamHealth
{
    private readonly int _threshold;
    private readonly long _retryInterval;
    private int _consecutiveFailures;
    private int _down;
    private long _nextRetry;
    private long _lastRoundTripTicks = -1;
    private long _queries;
    private long _failures;

    public UpstreamHealth(int index, IPEndPoint endpoint, int threshold, TimeSpan retryInterval, TimeProvider time)
    {
        Index = index;
        Endpoint = endpoint;
        _threshold = threshold;
        _retryInterval = (long)(retryInterval.TotalSeconds * time.TimestampFrequency);
    }

    public int Index { get; }

    public IPEndPoint Endpoint { get; }

    public bool IsHealthy => Volatile.Read(ref _down) == 0;

    public void CountQuery() => Interlocked.Increment(ref _queries);

    /// <summary>For a down upstream: whether this query should probe it (at most one per interval).</summary>
    public bool TryClaimRetry(long now)
    {
        var due = Interlocked.Read(ref _nextRetry);
        return now >= due && Interlocked.CompareExchange(ref _nextRetry, now + _retryInterval, due) == due;
    }

    /// <summary>A good answer (any rcode but REFUSED, FORMERR and NOTIMP): resets the count; true if it was down.</summary>
    public bool RecordSuccess(TimeSpan roundTrip)
    {
        Interlocked.Exchange(ref _lastRoundTripTicks, roundTrip.Ticks);
        Interlocked.Exchange(ref _consecutiveFailures, 0);
        return Interlocked.Exchange(ref _down, 0) == 1;
    }

    /// <summary>A timeout, send error or refusal; true if this one marked it down.</summary>
    public bool RecordFailure(long now)
    {
        Interlocked.Increment(ref _failures);
        if (Interlocked.Increment(ref _consecutiveFailures) < _threshold)
        {
            return false;
        }

        if (Interlocked.CompareExchange(ref _down, 1, 0) != 0)
        {
            return false;
        }

        Interlocked.Exchange(ref _nextRetry, now + _retryInterval);
        return true;
    }

    public UpstreamStatus Snapshot()
    {
        var rtt = Interlocked.Read(ref _lastRoundTripTicks);
        return new UpstreamStatus(
            Endpoint,
            IsHealthy,
            Volatile.Read(ref _consecutiveFailures),
            rtt < 0 ? null : TimeSpan.FromTicks(rtt),
            Interlocked.Read(ref _queries),
            Interlocked.Read(ref _failures));
    }
}
