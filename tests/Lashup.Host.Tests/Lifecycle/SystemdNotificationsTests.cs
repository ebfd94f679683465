using System.Net.Sockets;
using Lashup.Abstractions.Admin;
using Lashup.Host.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using NSubstitute;

namespace Lashup.Host.Tests.Lifecycle;

/// <summary>What the daemon tells systemd, apart from the socket (the real one is in Cli/SystemdNotifyTests).</summary>
public sealed class SystemdNotificationsTests
{
    [Theory]
    [InlineData("30000000", null, 15_000)]
    [InlineData("30000000", "", 15_000)]
    [InlineData("30000000", "4242", 15_000)]
    [InlineData("1000", null, 0.5)]
    public void WatchdogInterval_ForThisProcess_IsHalfOfWatchdogUsec(string usec, string? pid, double expectedMilliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), SystemdNotifications.WatchdogInterval(usec, pid, 4242));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("soon", null)]
    [InlineData("30000000", "17")]
    public void WatchdogInterval_NoneOrForAnotherProcess_IsNull(string? usec, string? pid)
    {
        Assert.Null(SystemdNotifications.WatchdogInterval(usec, pid, 4242));
    }

    [Fact]
    public void Status_NotReady_NamesEveryReason()
    {
        var ready = new ReadyResponse(false, [new("host", "plugins are starting or stopping"), new("core", "no neighbours")]);

        Assert.Equal("not ready: host: plugins are starting or stopping; core: no neighbours", SystemdNotifications.Status(ready));
        Assert.Equal("ready", SystemdNotifications.Status(new ReadyResponse(true, [])));
    }

    [Fact]
    public void Send_SocketKeepsFailing_WarnsOnceNamingTheSocketUntilASendSucceeds()
    {
        var notifier = Substitute.For<ISystemdNotifier>();
        var failing = true;
        notifier.When(n => n.Notify(Arg.Any<ServiceState>())).Do(_ =>
        {
            if (failing)
            {
                // What the runtime throws for a socket path that does not exist (ENOENT on connect).
                throw new SocketException((int)SocketError.AddressNotAvailable);
            }
        });
        var logger = new RecordingLogger();
        using var notifications = new SystemdNotifications(
            notifier, "/run/missing/notify.sock", () => new ReadyResponse(true, []), Substitute.For<IHostApplicationLifetime>(), null, TimeProvider.System, logger);

        for (var i = 0; i < 10; i++)
        {
            notifications.Send("WATCHDOG=1");
        }

        var warning = Assert.Single(logger.Lines);
        Assert.StartsWith("Warning: Cannot notify systemd through /run/missing/notify.sock: no such socket (", warning, StringComparison.Ordinal);

        failing = false;
        notifications.Send("WATCHDOG=1");
        notifications.Send("WATCHDOG=1");
        failing = true;
        notifications.Send("WATCHDOG=1");
        notifications.Send("WATCHDOG=1");

        Assert.Equal(3, logger.Lines.Count);
        Assert.Equal("Information: Notifying systemd through /run/missing/notify.sock works again", logger.Lines[1]);
        Assert.StartsWith("Warning: Cannot notify systemd through /run/missing/notify.sock", logger.Lines[2], StringComparison.Ordinal);
    }

    private sealed class RecordingLogger : ILogger<SystemdNotifications>
    {
        private readonly Lock _lock = new();
        private readonly List<string> _lines = [];

        public List<string> Lines
        {
            get
            {
                lock (_lock)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_lock)
            {
                _lines.Add($"{logLevel}: {formatter(state, exception)}");
            }
        }
    }
}
