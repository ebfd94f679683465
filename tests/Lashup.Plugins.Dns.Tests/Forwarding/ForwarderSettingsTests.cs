using System.Net;
using Lashup.Plugins.Dns.Forwarding;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

public sealed class ForwarderSettingsTests
{
    private static readonly IPEndPoint _upstream = IPEndPoint.Parse("127.0.0.1:5353");

    [Fact]
    public void Defaults_AreValidAndDocumented()
    {
        var settings = new ForwarderSettings([_upstream]);

        settings.Validate();
        Assert.Equal(TimeSpan.FromSeconds(2), settings.Timeout);
        Assert.Equal(10_000, settings.CacheEntries);
        Assert.Equal(TimeSpan.FromHours(1), settings.MaxCacheTtl);
        Assert.Equal(TimeSpan.FromMinutes(5), settings.NegativeTtlCap);
        Assert.Equal(1024, settings.MaxInFlight);
        Assert.Equal(3, settings.FailuresBeforeDown);
    }

    private static readonly Dictionary<string, Func<ForwarderSettings, ForwarderSettings>> _changes = new()
    {
        ["no upstream"] = s => s with { Upstreams = [] },
        ["port 0"] = s => s with { Upstreams = [new IPEndPoint(IPAddress.Loopback, 0)] },
        ["twice"] = s => s with { Upstreams = [_upstream, IPEndPoint.Parse("127.0.0.1:5353")] },
        ["timeout 0"] = s => s with { Timeout = TimeSpan.Zero },
        ["negative cache size"] = s => s with { CacheEntries = -1 },
        ["no in-flight room"] = s => s with { MaxInFlight = 0 },
        ["no sockets"] = s => s with { UdpSocketsPerFamily = 0 },
        ["small payload"] = s => s with { UpstreamPayloadSize = 511 },
    };

    [Theory]
    [InlineData("no upstream", "the forwarder needs at least one upstream")]
    [InlineData("port 0", "every upstream needs an address and a port other than 0")]
    [InlineData("twice", "an upstream is listed twice")]
    [InlineData("timeout 0", "forwarder setting Timeout must be between 0 and 1 minute")]
    [InlineData("negative cache size", "forwarder setting CacheEntries must be 0 (off) or more")]
    [InlineData("no in-flight room", "forwarder setting MaxInFlight must be positive")]
    [InlineData("no sockets", "forwarder setting UdpSocketsPerFamily must be between 1 and 256")]
    [InlineData("small payload", "forwarder setting UpstreamPayloadSize must be at least 512")]
    public void Validate_OutOfRange_ErrorNamesSetting(string change, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => _changes[change](new ForwarderSettings([_upstream])).Validate());

        Assert.True(error.Message.StartsWith(expected, StringComparison.Ordinal), $"{change}: {error.Message}");
    }
}
