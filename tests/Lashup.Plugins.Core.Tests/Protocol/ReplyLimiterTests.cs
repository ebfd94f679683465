using Lashup.Plugins.Core.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Core.Tests.Protocol;

public class ReplyLimiterTests
{
    private static readonly ReplyLimits Limits = new() { PerDestinationRate = 8, PerDestinationBurst = 32, GlobalRate = 256, GlobalBurst = 512, Destinations = 100 };

    [Fact]
    public void TryAcquire_OneDestination_BurstThenItsRate()
    {
        var time = new FakeTimeProvider();
        var limiter = new ReplyLimiter(time, Limits);

        Assert.Equal(32, Enumerable.Range(0, 1000).Count(_ => limiter.TryAcquire("10.0.0.1:7470")));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(8, Enumerable.Range(0, 1000).Count(_ => limiter.TryAcquire("10.0.0.1:7470")));
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(32, Enumerable.Range(0, 1000).Count(_ => limiter.TryAcquire("10.0.0.1:7470")));
    }

    [Fact]
    public void TryAcquire_ManyDestinations_GlobalBurstThenGlobalRate()
    {
        var time = new FakeTimeProvider();
        var limiter = new ReplyLimiter(time, Limits);

        Assert.Equal(512, Enumerable.Range(0, 5000).Count(i => limiter.TryAcquire($"10.0.{i / 250}.{i % 250}:7470")));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(512, Enumerable.Range(0, 5000).Count(i => limiter.TryAcquire($"10.1.{i / 250}.{i % 250}:7470")));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(256, Enumerable.Range(0, 5000).Count(i => limiter.TryAcquire($"10.2.{i / 250}.{i % 250}:7470")));
    }

    [Fact]
    public void TryAcquire_MoreDestinationsThanTracked_StateBounded()
    {
        var time = new FakeTimeProvider();
        var limiter = new ReplyLimiter(time, Limits);

        for (var i = 0; i < 10_000; i++)
        {
            limiter.TryAcquire($"made-up-{i}:1");
        }

        Assert.Equal(100, limiter.Destinations);
    }

    [Fact]
    public void TryAcquire_DestinationEmpty_DoesNotSpendGlobalTokens()
    {
        var time = new FakeTimeProvider();
        var limiter = new ReplyLimiter(time, Limits with { GlobalBurst = 40, GlobalRate = 0 });

        Assert.Equal(32, Enumerable.Range(0, 100).Count(_ => limiter.TryAcquire("victim:1")));

        Assert.Equal(8, Enumerable.Range(0, 100).Count(i => limiter.TryAcquire($"other-{i}:1")));
    }
}
