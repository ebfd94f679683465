using System.Globalization;
using Lashup.Abstractions.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace Lashup.Host.Lifecycle;

/// <summary>
/// Tells systemd (<c>Type=notify</c>, through <c>$NOTIFY_SOCKET</c>) how the daemon is doing: <c>STATUS=starting</c>,
/// <c>READY=1</c> once <c>/ready</c> first answers ready, <c>STATUS=</c> when readiness changes after that,
/// <c>STOPPING=1</c> when a stop begins, and, with <c>WatchdogSec=</c> set, <c>WATCHDOG=1</c> at half its interval
/// from this loop, so a daemon whose timers no longer run is restarted. Registered before the plugins' lifecycle so
/// that it starts first and stops last.
/// </summary>
/// <remarks>
/// The sending is Microsoft.Extensions.Hosting.Systemd's <see cref="SystemdNotifier"/> (abstract socket names included);
/// its <c>UseSystemd()</c> lifetime is not used: it reports ready when the host has started, before the plugins'
/// readiness, and changes the console log format.
/// </remarks>
internal sealed partial class SystemdNotifications(
    ISystemdNotifier notifier,
    Func<ReadyResponse> readiness,
    IHostApplicationLifetime lifetime,
    TimeSpan? watchdogInterval,
    TimeProvider time,
    ILogger<SystemdNotifications> logger) : BackgroundService
{
    /// <summary>How often readiness is looked at.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private volatile bool _stopping;

    /// <summary>
    /// Half the watchdog interval systemd asks for (<c>$WATCHDOG_USEC</c>), or null when it asks for none or asks
    /// another process (<c>$WATCHDOG_PID</c>).
    /// </summary>
    public static TimeSpan? WatchdogInterval(string? usec, string? pid, int processId)
    {
        if (!long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var microseconds) || microseconds <= 0)
        {
            return null;
        }

        if (!string.IsNullOrEmpty(pid) && pid != processId.ToString(CultureInfo.InvariantCulture))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(microseconds / 2.0);
    }

    /// <summary>The <c>STATUS=</c> text for a readiness answer.</summary>
    public static string Status(ReadyResponse ready) => ready.Ready
        ? "ready"
        : "not ready: " + string.Join("; ", ready.NotReady.Select(n => $"{n.Name}: {n.Reason}"));

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Send("STATUS=starting");
        lifetime.ApplicationStopping.Register(() =>
        {
            _stopping = true;
            Send("STOPPING=1\nSTATUS=stopping");
        });
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = watchdogInterval is { } watchdog && watchdog < PollInterval ? watchdog : PollInterval;
        using var timer = new PeriodicTimer(period, time);
        var lastWatchdog = long.MinValue;
        string? lastStatus = null;
        var ready = false;
        try
        {
            do
            {
                if (watchdogInterval is { } interval && (lastWatchdog == long.MinValue || time.GetElapsedTime(lastWatchdog) >= interval - period / 2))
                {
                    lastWatchdog = time.GetTimestamp();
                    Send("WATCHDOG=1");
                }

                // Not before the admin API listens (the web server starts after the hosted services), so that /ready
                // answers what READY=1 said.
                if (_stopping || !lifetime.ApplicationStarted.IsCancellationRequested)
                {
                    continue;
                }

                var answer = readiness();
                var status = Status(answer);
                if (!ready && answer.Ready)
                {
                    ready = true;
                    lastStatus = status;
                    Send("READY=1\nSTATUS=" + status);
                }
                else if (ready && status != lastStatus)
                {
                    lastStatus = status;
                    Send("STATUS=" + status);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Send(string message)
    {
        try
        {
            notifier.Notify(new ServiceState(message));
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
        {
            LogNotifyFailed(e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot notify systemd: {Reason}")]
    private partial void LogNotifyFailed(string reason);
}
