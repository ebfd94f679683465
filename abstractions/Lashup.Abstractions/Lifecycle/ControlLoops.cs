using Microsoft.Extensions.Logging;

namespace Lashup.Abstractions.Lifecycle;

/// <summary>
/// The background loops of a plugin's controller (its watches, its apply loop, its timers) and the wake-up they share:
/// each loop runs until the controller stops and is started again a second after it fails or returns (a watch that
/// broke or completed, a bug), followed by a <see cref="Signal"/>,
/// so that one failure never stops the controller; <see cref="Signal"/> wakes the apply loop, coalescing (many signals
/// before it runs are one pass). The load balancer, the overlay and the DNS indexer use it; so may a vendor's plugin.
/// </summary>
public sealed partial class ControlLoops : IAsyncDisposable
{
    private static readonly TimeSpan RestartDelay = TimeSpan.FromSeconds(1);

    private readonly string _owner;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _lock = new();
    private readonly List<Task> _loops = [];

    /// <summary>Creates the loops of <paramref name="owner"/> (named in the log when a loop fails).</summary>
    /// <param name="owner">The controller, e.g. <c>Load balancer</c>.</param>
    /// <param name="logger">Where failures are logged.</param>
    /// <param name="time">The clock of the restart delay and of <see cref="SignalAfter"/>; the system's by default.</param>
    public ControlLoops(string owner, ILogger logger, TimeProvider? time = null)
    {
        _owner = owner;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Cancelled when the loops stop.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Starts <paramref name="loop"/>, supervised: restarted a second after it fails, until the loops stop.</summary>
    /// <param name="what">What it is, for the log (e.g. <c>the apply loop</c>).</param>
    /// <param name="loop">The loop; it ends when its token is cancelled.</param>
    public void Start(string what, Func<CancellationToken, Task> loop)
    {
        ArgumentNullException.ThrowIfNull(loop);
        lock (_lock)
        {
            _loops.Add(SuperviseAsync(what, loop));
        }
    }

    /// <summary>Starts a timer that calls <paramref name="tick"/> every <paramref name="period"/> until the loops stop.</summary>
    /// <param name="what">What it is, for the log.</param>
    /// <param name="period">The period.</param>
    /// <param name="tick">What to do on each tick (quick: set a flag, <see cref="Signal"/>).</param>
    public void StartTimer(string what, TimeSpan period, Action tick)
    {
        ArgumentNullException.ThrowIfNull(tick);
        Start(what, async cancellationToken =>
        {
            using var timer = new PeriodicTimer(period, _time);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                tick();
            }
        });
    }

    /// <summary>Wakes <see cref="WaitForSignalAsync"/>; signals before it runs coalesce into one.</summary>
    public void Signal()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already signalled, or stopping.
        }
    }

    /// <summary>Signals after <paramref name="delay"/> (on the loops' clock), unless the loops stop first.</summary>
    /// <param name="delay">How long from now.</param>
    public void SignalAfter(TimeSpan delay) => _ = SignalLaterAsync(delay);

    /// <summary>Waits for the next signal.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>When signalled.</returns>
    public Task WaitForSignalAsync(CancellationToken cancellationToken) => _wake.WaitAsync(cancellationToken);

    /// <summary>Stops every loop and waits for them to end.</summary>
    /// <param name="cancellationToken">Gives up waiting.</param>
    /// <returns>When they ended.</returns>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!_stopping.IsCancellationRequested)
        {
            await _stopping.CancelAsync().ConfigureAwait(false);
        }

        Task[] loops;
        lock (_lock)
        {
            loops = [.. _loops];
        }

        await Task.WhenAll(loops).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops the loops (if not yet) and releases what they hold.</summary>
    /// <returns>When done.</returns>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
        _wake.Dispose();
    }

    private async Task SignalLaterAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
            Signal();
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task SuperviseAsync(string what, Func<CancellationToken, Task> loop)
    {
        await Task.Yield();
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await loop(token).ConfigureAwait(false);
                if (token.IsCancellationRequested)
                {
                    return;
                }

                // A loop ends only when the loops stop: one that returned (a watch that completed) would leave the
                // controller on stale state, so it is started again like one that failed.
                LogLoopEnded(_logger, _owner, what);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopFailed(_logger, e, _owner, what);
            }

            try
            {
                await Task.Delay(RestartDelay, _time, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            // The wake-up the loop may have taken before it failed is not lost: the next pass looks again.
            Signal();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Owner}: {What} ended while running; restarting it")]
    private static partial void LogLoopEnded(ILogger logger, string owner, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Owner}: {What} failed; restarting it")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception, string owner, string what);
}
