using System.ComponentModel;
using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Configuration;

/// <summary>
/// A duration written the way operators write them in TOML: <c>"250ms"</c>, <c>"5s"</c>, <c>"1m30s"</c>, <c>"24h"</c>,
/// <c>"2d"</c>. Units: <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c>, <c>d</c>; a bare <c>"0"</c> is zero. Options properties of
/// this type bind from configuration strings through its <see cref="TypeConverter"/>.
/// </summary>
[TypeConverter(typeof(DurationTypeConverter))]
public readonly record struct Duration : IComparable<Duration>, IComparable
{
    /// <summary>The longest duration <see cref="Parse"/> accepts, a little under <see cref="TimeSpan.MaxValue"/> (exact in a double).</summary>
    private const long MaxTicks = 9_200_000_000_000_000_000;

    /// <summary>Creates a duration from a <see cref="TimeSpan"/>; negative values are rejected.</summary>
    public Duration(TimeSpan value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
        Value = value;
    }

    /// <summary>The duration.</summary>
    public TimeSpan Value { get; }

    /// <summary>A duration of <paramref name="ms"/> milliseconds.</summary>
    public static Duration FromMilliseconds(double ms) => new(TimeSpan.FromMilliseconds(ms));

    /// <summary>A duration of <paramref name="s"/> seconds.</summary>
    public static Duration FromSeconds(double s) => new(TimeSpan.FromSeconds(s));

    /// <summary>The duration as a <see cref="TimeSpan"/>.</summary>
    public static implicit operator TimeSpan(Duration d) => d.Value;

    /// <summary>Parses <c>"1m30s"</c> style text.</summary>
    /// <exception cref="FormatException">The text is not a duration; the message says what was expected.</exception>
    public static Duration Parse(string text)
    {
        if (TryParse(text, out var d, out var error))
        {
            return d;
        }

        throw new FormatException(error);
    }

    /// <summary>Parses <c>"1m30s"</c> style text.</summary>
    public static bool TryParse(string? text, out Duration duration, out string? error)
    {
        duration = default;
        error = null;
        var s = text?.Trim() ?? string.Empty;
        if (s == "0")
        {
            return true;
        }

        if (s.Length == 0)
        {
            error = "expected a duration such as \"500ms\", \"5s\", \"1m30s\" or \"24h\", got an empty string";
            return false;
        }

        var total = TimeSpan.Zero;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetterLower(s[i]))
            {
                i++;
            }

            if (start == unitStart || unitStart == i
                || !double.TryParse(s.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n))
            {
                error = $"expected a duration such as \"500ms\", \"5s\", \"1m30s\" or \"24h\", got \"{text}\"";
                return false;
            }

            double unit;
            switch (s.AsSpan(unitStart, i - unitStart))
            {
                case "ms": unit = TimeSpan.TicksPerMillisecond; break;
                case "s": unit = TimeSpan.TicksPerSecond; break;
                case "m": unit = TimeSpan.TicksPerMinute; break;
                case "h": unit = TimeSpan.TicksPerHour; break;
                case "d": unit = TimeSpan.TicksPerDay; break;
                default:
                    error = $"unknown duration unit \"{s.Substring(unitStart, i - unitStart)}\" in \"{text}\" (use ms, s, m, h or d)";
                    return false;
            }

            // TimeSpan.FromDays and + throw past TimeSpan.MaxValue (about 29,000 years): too long is an answer, not a crash.
            var ticks = Math.Truncate(n * unit);
            if (!(ticks <= MaxTicks) || total.Ticks > MaxTicks - (long)ticks)
            {
                error = $"duration \"{text}\" is too long (at most {MaxTicks / TimeSpan.TicksPerDay}d)";
                return false;
            }

            total += TimeSpan.FromTicks((long)ticks);
        }

        duration = new Duration(total);
        return true;
    }

    /// <summary>Formats as the shortest <c>"1h2m3s"</c> style text that parses back to the same value.</summary>
    public override string ToString()
    {
        if (Value == TimeSpan.Zero)
        {
            return "0";
        }

        var sb = new StringBuilder();
        var rest = Value;
        Append(ref rest, TimeSpan.FromDays(1), "d");
        Append(ref rest, TimeSpan.FromHours(1), "h");
        Append(ref rest, TimeSpan.FromMinutes(1), "m");
        Append(ref rest, TimeSpan.FromSeconds(1), "s");
        if (rest > TimeSpan.Zero)
        {
            sb.Append(rest.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)).Append("ms");
        }

        return sb.ToString();

        void Append(ref TimeSpan r, TimeSpan unit, string suffix)
        {
            var n = r.Ticks / unit.Ticks;
            if (n > 0)
            {
                sb.Append(n.ToString(CultureInfo.InvariantCulture)).Append(suffix);
                r -= TimeSpan.FromTicks(n * unit.Ticks);
            }
        }
    }

    /// <inheritdoc/>
    public int CompareTo(Duration other) => Value.CompareTo(other.Value);

    /// <summary>Compares with another <see cref="Duration"/> (what <c>[Range(typeof(Duration), "1s", "1h")]</c> needs); null sorts first.</summary>
    /// <exception cref="ArgumentException"><paramref name="obj"/> is not a <see cref="Duration"/>.</exception>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        Duration other => CompareTo(other),
        _ => throw new ArgumentException($"expected a {nameof(Duration)}, got a {obj.GetType().Name}", nameof(obj)),
    };

    /// <summary>Compares durations.</summary>
    public static bool operator <(Duration left, Duration right) => left.CompareTo(right) < 0;

    /// <summary>Compares durations.</summary>
    public static bool operator >(Duration left, Duration right) => left.CompareTo(right) > 0;

    /// <summary>Compares durations.</summary>
    public static bool operator <=(Duration left, Duration right) => left.CompareTo(right) <= 0;

    /// <summary>Compares durations.</summary>
    public static bool operator >=(Duration left, Duration right) => left.CompareTo(right) >= 0;
}

/// <summary>Converts configuration strings to <see cref="Duration"/>.</summary>
public sealed class DurationTypeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string s ? Duration.Parse(s) : base.ConvertFrom(context, culture, value);

    /// <inheritdoc/>
    public override bool CanConvertTo(ITypeDescriptorContext? context, Type? destinationType) =>
        destinationType == typeof(string) || base.CanConvertTo(context, destinationType);

    /// <inheritdoc/>
    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        destinationType == typeof(string) && value is Duration d ? d.ToString() : base.ConvertTo(context, culture, value, destinationType);
}
