using System.ComponentModel;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Testing.Tests.Configuration;

public sealed class DurationTests
{
    private const string Expected = "expected a duration such as \"500ms\", \"5s\", \"1m30s\" or \"24h\"";

    public static TheoryData<string, TimeSpan> Valid => new()
    {
        { "0", TimeSpan.Zero },
        { "0s", TimeSpan.Zero },
        { "250ms", TimeSpan.FromMilliseconds(250) },
        { "5s", TimeSpan.FromSeconds(5) },
        { "1m30s", TimeSpan.FromSeconds(90) },
        { "90m", TimeSpan.FromMinutes(90) },
        { "24h", TimeSpan.FromHours(24) },
        { "2d", TimeSpan.FromDays(2) },
        { "1.5s", TimeSpan.FromMilliseconds(1500) },
        { "0.25ms", TimeSpan.FromTicks(2500) },
        { "1d2h3m4s5ms", new TimeSpan(1, 2, 3, 4, 5) },
        { "  5s ", TimeSpan.FromSeconds(5) },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parse_ValidText_ReturnsDuration(string text, TimeSpan expected)
    {
        Assert.Equal(expected, Duration.Parse(text).Value);
        Assert.True(Duration.TryParse(text, out var parsed, out var error));
        Assert.Equal(expected, parsed.Value);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("5 parsecs", Expected + ", got \"5 parsecs\"")]
    [InlineData("", Expected + ", got an empty string")]
    [InlineData("   ", Expected + ", got an empty string")]
    [InlineData("1x", "unknown duration unit \"x\" in \"1x\" (use ms, s, m, h or d)")]
    [InlineData("1s2us", "unknown duration unit \"us\" in \"1s2us\" (use ms, s, m, h or d)")]
    [InlineData("-1s", Expected + ", got \"-1s\"")]
    [InlineData("5", Expected + ", got \"5\"")]
    [InlineData("s", Expected + ", got \"s\"")]
    [InlineData("5S", Expected + ", got \"5S\"")]
    [InlineData("1.2.3s", Expected + ", got \"1.2.3s\"")]
    [InlineData("99999999999d", "duration \"99999999999d\" is too long (at most 10648148d)")]
    [InlineData("10000000d10000000d", "duration \"10000000d10000000d\" is too long (at most 10648148d)")]
    public void Parse_InvalidText_ThrowsFormatExceptionSayingWhatWasExpected(string text, string message)
    {
        var e = Assert.Throws<FormatException>(() => Duration.Parse(text));

        Assert.Equal(message, e.Message);
        Assert.False(Duration.TryParse(text, out var parsed, out var error));
        Assert.Equal(message, error);
        Assert.Equal(default, parsed);
    }

    [Fact]
    public void TryParse_Null_FailsAsEmpty()
    {
        Assert.False(Duration.TryParse(null, out _, out var error));
        Assert.Equal(Expected + ", got an empty string", error);
    }

    [Theory]
    [InlineData(0L, "0")]
    [InlineData(250 * TimeSpan.TicksPerMillisecond, "250ms")]
    [InlineData(90 * TimeSpan.TicksPerSecond, "1m30s")]
    [InlineData(1500 * TimeSpan.TicksPerMillisecond, "1s500ms")]
    [InlineData(24 * TimeSpan.TicksPerHour, "1d")]
    [InlineData(2 * TimeSpan.TicksPerDay, "2d")]
    [InlineData(TimeSpan.TicksPerDay + TimeSpan.TicksPerHour + TimeSpan.TicksPerMinute + TimeSpan.TicksPerSecond + TimeSpan.TicksPerMillisecond, "1d1h1m1s1ms")]
    [InlineData(5000L, "0.5ms")]
    public void ToString_Duration_IsShortestUnitText(long ticks, string expected)
    {
        Assert.Equal(expected, new Duration(TimeSpan.FromTicks(ticks)).ToString());
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(1234567L)]
    [InlineData(TimeSpan.TicksPerSecond * 3725)]
    [InlineData(TimeSpan.TicksPerDay * 400 + 1)]
    [InlineData(TimeSpan.TicksPerMillisecond * 86_399_999)]
    public void Parse_ToStringOutput_RoundTrips(long ticks)
    {
        var duration = new Duration(TimeSpan.FromTicks(ticks));

        Assert.Equal(duration, Duration.Parse(duration.ToString()));
    }

    [Fact]
    public void Constructor_NegativeTimeSpan_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Duration(TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void Operators_CompareAndConvert_ByValue()
    {
        var one = Duration.FromSeconds(1);
        var thousand = Duration.FromMilliseconds(1000);
        var two = Duration.FromSeconds(2);

        Assert.Equal(one, thousand);
        Assert.True(one < two && two > one && one <= thousand && one >= thousand);
        Assert.Equal(0, one.CompareTo(thousand));
        TimeSpan span = two;
        Assert.Equal(TimeSpan.FromSeconds(2), span);
    }

    [Fact]
    public void TryParse_NumberBeyondDouble_IsTooLongNotAnException()
    {
        var text = new string('9', 400) + "s";

        Assert.False(Duration.TryParse(text, out _, out var error));
        Assert.Equal($"duration \"{text}\" is too long (at most 10648148d)", error);
    }

    [Fact]
    public void Parse_LongestDuration_IsAccepted()
    {
        Assert.Equal(TimeSpan.FromDays(10_648_148), Duration.Parse("10648148d").Value);
    }

    [Fact]
    public void CompareTo_Object_OrdersDurationsAndRejectsOtherTypes()
    {
        IComparable one = Duration.FromSeconds(1);

        Assert.True(one.CompareTo(Duration.FromSeconds(2)) < 0);
        Assert.Equal(0, one.CompareTo(Duration.FromMilliseconds(1000)));
        Assert.True(one.CompareTo(null) > 0);
        Assert.Throws<ArgumentException>(() => one.CompareTo(TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void RangeAttribute_OnDuration_ComparesParsedBounds()
    {
        var range = new System.ComponentModel.DataAnnotations.RangeAttribute(typeof(Duration), "1s", "1h");

        Assert.True(range.IsValid(Duration.FromSeconds(1)));
        Assert.True(range.IsValid(Duration.FromSeconds(3600)));
        Assert.False(range.IsValid(Duration.FromMilliseconds(999)));
        Assert.False(range.IsValid(Duration.FromSeconds(3601)));
    }

    [Fact]
    public void TypeConverter_ForDuration_ConvertsBothWays()
    {
        var converter = TypeDescriptor.GetConverter(typeof(Duration));

        Assert.IsType<DurationTypeConverter>(converter);
        Assert.Equal(Duration.FromSeconds(90), converter.ConvertFromInvariantString("1m30s"));
        Assert.Equal("1m30s", converter.ConvertToInvariantString(Duration.FromSeconds(90)));
    }

    [Fact]
    public void Bind_OptionsWithDurations_ConvertsThroughTheTypeConverter()
    {
        var configuration = Configuration(new()
        {
            ["timing:interval"] = "1m30s",
            ["timing:timeout"] = "250ms",
            ["timing:backoff:0"] = "1s",
            ["timing:backoff:1"] = "2s",
        });

        var options = configuration.GetSection("timing").Get<TimingOptions>()!;

        Assert.Equal(TimeSpan.FromSeconds(90), options.Interval.Value);
        Assert.Equal(Duration.FromMilliseconds(250), options.Timeout);
        Assert.Equal([Duration.FromSeconds(1), Duration.FromSeconds(2)], options.Backoff);
        Assert.Equal(Duration.FromSeconds(5), options.Unset);
    }

    [Fact]
    public void Bind_InvalidDuration_FailsWithTheParseError()
    {
        var configuration = Configuration(new() { ["timing:interval"] = "5 parsecs" });
        var options = new TimingOptions();

        var e = Assert.Throws<InvalidOperationException>(() => configuration.GetSection("timing").Bind(options));

        Assert.Contains("timing:interval", e.Message, StringComparison.Ordinal);
        Assert.Equal(Expected + ", got \"5 parsecs\"", Assert.IsType<FormatException>(e.InnerException).Message);
    }

    private static IConfigurationRoot Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    public sealed class TimingOptions
    {
        [ConfigurationKeyName("interval")]
        public Duration Interval { get; set; } = Duration.FromSeconds(1);

        [ConfigurationKeyName("timeout")]
        public Duration? Timeout { get; set; }

        [ConfigurationKeyName("backoff")]
        public List<Duration> Backoff { get; set; } = [];

        [ConfigurationKeyName("unset")]
        public Duration Unset { get; set; } = Duration.FromSeconds(5);
    }
}
