using Lashup.Abstractions.Admin;
using Lashup.Host.Lifecycle;

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
}
