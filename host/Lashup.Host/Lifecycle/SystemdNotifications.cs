using System.Globalization;
using Lashup.Abstractions.Admin;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace Lashup.Host.Lifecycle;

/// <summary>
/// Tells systemd (<c>Type=notify</c>, through <c>$NOTIFY_SOCKET</c>) how the daemon is doing: <c>STATUS=starting</c>,
/// <c>READY=1</c> once the host has started every plugin and the admin API listens (the service is up: a node whose
/// seeds do not answer yet is up, not failed, and must not be killed by <c>TimeoutStartSec=</c>), with
/// <c>STATUS=ready</c> or <c>STATUS=not ready: reasons</c> from <c>/ready</c> then and on every change of it after,
/// <c>STOPPING=1</c> when a stop begins, and, with <c>WatchdogSec=</c> set, <c>WATCHDOG=1</c> at half its interval
/// from this loop, so a daemon whose timers no longer run is restarted. Registered before the plugins' lifecycle so
/// that it starts first and stops last. A failing socket is logged once, then again only after a send got through.
/// </summary>
/// <remarks>
/// The sending is Microsoft.Extensions.Hosting.Systemd's <see cref="SystemdNotifier"/> (abstract socket names included);
/// its <c>UseSystemd()</c> lifetime is not used: it changes the console log format.
/// </remarks>
internal sealed partial class SystemdNotifications(
    ISystemdNotifier notifier,
    string socket,
    Func<ReadyResponse> readiness,
    IHostApplicationLifetime lifetime,
    TimeSpan? watchdogInterval,
    TimeProvider time,
    ILogger<SystemdNotifications> logger) : BackgroundService
{
    /// <summary>How often readiness is looked at.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly Lock _sendLock = new();
    private volatile bool _stopping;
    private bool _failing;

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

                // Not before every plugin has started and the admin API listens (the web server starts after the
                // hosted services, then ApplicationStarted fires): READY=1 says the service is up, /ready answers.
                if (_stopping || !lifetime.ApplicationStarted.IsCancellationRequested)
                {
                    continue;
                }

                var status = Status(readiness());
                if (!ready)
                {
                    ready = true;
                    lastStatus = status;
                    Send("READY=1\nSTATUS=" + status);
                }
                else if (status != lastStatus)
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

    /// <summary>
    /// Sends <paramref name="message"/>; a failure is logged when the previous send succeeded (a missing socket is
    /// named as such: the runtime calls it "Cannot assign requested address"), so that a watchdog tick every few
    /// seconds does not repeat it forever.
    /// </summary>
    internal void Send(string message)
    {
        lock (_sendLock)
        {
            try
            {
                notifier.Notify(new ServiceState(message));
                if (_failing)
                {
                    _failing = false;
                    LogNotifyRecovered(socket);
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
            {
                if (!_failing)
                {
                    _failing = true;
                    LogNotifyFailed(socket, Reason(e));
                }
            }
        }
    }

    private string Reason(Exception e) =>
        !socket.StartsWith('@') && !File.Exists(socket) && !Directory.Exists(socket)
            ? $"no such socket ({e.Message})"
            : e.Message;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot notify systemd through {Socket}: {Reason}; not logged again until a notification gets through")]
    private partial void LogNotifyFailed(string socket, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Notifying systemd through {Socket} works again")]
    private partial void LogNotifyRecovered(string socket);
}
