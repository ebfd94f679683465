using Lashup.Abstractions.Configuration;

namespace Lashup.Plugins.Core.Tests;

/// <summary>The core's option checks that relate keys of the store (pruning, value and frame sizes).</summary>
public sealed class CoreOptionsValidatorTests
{
    [Theory]
    [InlineData("6h", "12h", "core.prune_marker_ttl: must be at least twice expire_after (1d), got 6h")]
    [InlineData("23h", "12h", "core.prune_marker_ttl: must be at least twice expire_after (1d), got 23h")]
    [InlineData("0s", "10s", "core.prune_marker_ttl: must be at least twice expire_after (20s), got 0")]
    public void Validate_PruneMarkerTtlShorterThanExpireAfter_NamesKeyAndBound(string ttl, string expire, string error)
    {
        var options = new CoreOptions { PruneMarkerTtl = Duration.Parse(ttl), ExpireAfter = Duration.Parse(expire) };

        var result = new CoreOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(error, result.Failures!);
    }

    [Theory]
    [InlineData(1_048_576, 524_289, "core.max_value_size: must be at most half of max_stream_frame_size (524288), got 524289")]
    [InlineData(65_536, 1_048_576, "core.max_value_size: must be at most half of max_stream_frame_size (32768), got 1048576")]
    public void Validate_MaxValueSizeOverHalfTheStreamFrame_NamesKeyAndBound(int frame, int value, string error)
    {
        var options = new CoreOptions { MaxStreamFrameSize = frame, MaxValueSize = value };

        var result = new CoreOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(error, result.Failures!);
    }

    [Fact]
    public void Validate_Defaults_PruneMarkerTtlTwiceExpireAfterAccepted()
    {
        var options = new CoreOptions();

        var result = new CoreOptionsValidator().Validate(null, options);

        Assert.Equal(2 * options.ExpireAfter.Value, options.PruneMarkerTtl.Value);
        Assert.False(result.Failed, string.Join("\n", result.Failures ?? []));
    }
}
