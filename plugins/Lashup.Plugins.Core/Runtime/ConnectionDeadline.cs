namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// The one deadline of an inbound connection, reused for every wait (header, body, idle): one timer and one token
/// source per connection, none per frame (each frame used to create two timers and four token sources). Moving the
/// deadline later (progress) is a write of a timestamp; the timer, when it fires early, re-arms itself for the current
/// deadline. Only moving it earlier re-arms the timer at once. When the deadline passes, <see cref="Token"/> is
/// cancelled for good (the connection closes); it is also cancelled at shutdown.
/// </summary>
internal sealed class ConnectionDeadline : IDisposable
{
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _cancel;
    private readonly ITimer _timer;
    private readonly Lock _lock = new();
    private long _deadline = long.MaxValue;
    private long _armedFor = long.MaxValue;

    public ConnectionDeadline(TimeProvider time, CancellationToken stopping)
    {
        _time = time;
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _timer = time.CreateTimer(static state => ((ConnectionDeadline)state!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancelled once the deadline has passed (or at shutdown).</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>The current time of the connection's clock (a timestamp).</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>The deadline is <paramref name="timeout"/> from now (earlier or later than it was).</summary>
    public void Set(TimeSpan timeout) => SetAt(Now + (long)(timeout.TotalSeconds * _time.TimestampFrequency));

    /// <summary>The deadline is the timestamp <paramref name="at"/>.</summary>
    public void SetAt(long at)
    {
        // The timer is always armed for a time no later than the deadline (or the token is cancelled): a later
        // deadline keeps that true by itself, an earlier one re-arms it.
        if (at < Interlocked.Exchange(ref _deadline, at))
        {
            lock (_lock)
            {
                ArmLocked();
            }
        }
    }

    /// <summary>Ends the connection now (it was closed to make room for another).</summary>
    public void Expire()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // It closed by itself meanwhile.
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _cancel.Dispose();
    }

    private void Fire()
    {
        lock (_lock)
        {
            _armedFor = long.MaxValue;
            if (Now < Volatile.Read(ref _deadline))
            {
                // Progress moved the deadline since the timer was armed: wait for the new one.
                ArmLocked();
                return;
            }
        }

        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void ArmLocked()
    {
        var at = Volatile.Read(ref _deadline);
        if (at >= _armedFor)
        {
            return;
        }

        _armedFor = at;
        var due = TimeSpan.FromSeconds(Math.Max(0, at - Now) / (double)_time.TimestampFrequency);
        try
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
