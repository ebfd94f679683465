using Lashup.Abstractions.Configuration;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests;

/// <summary><c>[loadbalancer.userspace]</c> checks: each failure names its key and range.</summary>
public sealed class UserspaceOptionsValidatorTests
{
    [Fact]
    public void Defaults_Valid() => Assert.True(new UserspaceOptionsValidator().Validate(null, new UserspaceOptions()).Succeeded);

    [Theory]
    [InlineData(100, false)]   // shorter than the 250 ms sweep that enforces it
    [InlineData(249, false)]
    [InlineData(250, true)]
    [InlineData(60_000, true)]
    [InlineData(60_001, false)]
    public void ConnectTimeout_250msTo1m(int ms, bool valid)
    {
        var result = new UserspaceOptionsValidator().Validate(null, new UserspaceOptions { ConnectTimeout = Duration.FromMilliseconds(ms) });

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("loadbalancer.userspace.connect_timeout: must be between 250ms and 1m", result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(1_048_576, true)]
    [InlineData(1_048_577, false)]
    public void MaxUdpFlows_1To1048576(int flows, bool valid)
    {
        var result = new UserspaceOptionsValidator().Validate(null, new UserspaceOptions { MaxUdpFlows = flows });

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("loadbalancer.userspace.max_udp_flows: must be 1 to 1048576", result.FailureMessage, StringComparison.Ordinal);
        }
    }
}
