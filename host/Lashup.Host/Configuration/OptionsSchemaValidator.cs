using System.Collections;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Configuration;

/// <summary>
/// Checks a configuration section against the options type it binds to, before anything binds or starts: every key
/// must match a property (by <see cref="ConfigurationKeyNameAttribute"/> or name, ignoring case), every value must
/// convert to the property's type, and lie in the property's <see cref="RangeAttribute"/> if it has one. A
/// <see cref="Duration"/> without one is at most <see cref="MaxTimerPeriod"/>, the longest period .NET timers accept.
/// ConfigurationBinder reports none of this with a file and line, so this does it with the TOML source map, and
/// suggests the nearest known key for typos.
/// </summary>
internal sealed partial class OptionsSchemaValidator(IConfiguration configuration, TomlDocument document, List<ConfigException> errors)
{
    /// <summary>The longest period <see cref="System.Threading.Timer"/> (and so every .NET timer and delay) accepts: 2^32 - 2 ms, about 49.7 days.</summary>
    public static readonly Duration MaxTimerPeriod = Duration.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Validates <paramref name="path"/> against <paramref name="optionsType"/>; <paramref name="extraKeys"/> are keys owned by someone else (e.g. <c>enabled</c>).
    /// <paramref name="tableHint"/>, if given, is added to the error for an unknown key that is a table (e.g. the section of
    /// a backend whose plugin is not installed).</summary>
    public void Validate(string path, Type optionsType, IReadOnlyCollection<string> extraKeys, string? tableHint = null)
    {
        var section = configuration.GetSection(path);
        ValidateObject(section, optionsType, extraKeys, tableHint);
    }

    /// <summary>Reports every key of <paramref name="path"/> as unknown (a section nobody declared).</summary>
    public void RejectAll(string path, IReadOnlyCollection<string> allowedKeys, string why, string? tableHint = null)
    {
        foreach (var child in configuration.GetSection(path).GetChildren())
        {
            if (!allowedKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                Unknown(child, allowedKeys, IsTable(child) && tableHint is not null ? tableHint : why);
            }
        }
    }

    private bool IsTable(IConfigurationSection section) => document.Find(section.Path) is { Kind: TomlValueKind.Table };

    private void ValidateObject(IConfigurationSection section, Type type, IReadOnlyCollection<string> extraKeys, string? tableHint = null)
    {
        var properties = Properties(type);
        foreach (var child in section.GetChildren())
        {
            if (extraKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!properties.TryGetValue(child.Key, out var property))
            {
                Unknown(child, [.. properties.Keys, .. extraKeys], IsTable(child) ? tableHint : null);
                continue;
            }

            ValidateValue(child, property.PropertyType, property);
        }
    }

    private void ValidateValue(IConfigurationSection section, Type type, PropertyInfo? property = null)
    {
        var entry = document.Find(section.Path);
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (IsScalar(type))
        {
            if (entry is { Kind: TomlValueKind.Table or TomlValueKind.Array })
            {
                Error(section, $"expected {Describe(type)}, got {(entry.Kind == TomlValueKind.Table ? "a table" : "an array")}");
                return;
            }

            var problem = CheckScalar(section.Value, type);
            if (problem is null)
            {
                problem = RangeProblem(section.Value ?? string.Empty, type, property);
            }
            else if (type == typeof(Duration) && IsDurationText(section.Value))
            {
                // Written as a duration, but too long even for a TimeSpan: the range says what is allowed.
                problem = RangeProblem(section.Value!, type, property) ?? problem;
            }

            if (problem is not null)
            {
                Error(section, problem);
            }

            return;
        }

        if (ElementType(type) is { } element)
        {
            if (entry is not null && entry.Kind != TomlValueKind.Array)
            {
                Error(section, $"expected an array of {Plural(element)}, got {entry.RawText ?? entry.Kind.ToString().ToLowerInvariant()}");
                return;
            }

            foreach (var item in section.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    Error(item, "expected an array element");
                    continue;
                }

                ValidateValue(item, element);
            }

            return;
        }

        if (DictionaryValueType(type) is { } value)
        {
            foreach (var item in section.GetChildren())
            {
                ValidateValue(item, value);
            }

            return;
        }

        if (entry is not null && entry.Kind != TomlValueKind.Table)
        {
            Error(section, $"expected a table, got {entry.RawText}");
            return;
        }

        ValidateObject(section, type, []);
    }

    private static string? CheckScalar(string? value, Type type)
    {
        value ??= string.Empty;
        if (type == typeof(string))
        {
            return null;
        }

        if (type == typeof(Duration))
        {
            return Duration.TryParse(value, out _, out var error) ? null : error;
        }

        if (type.IsEnum)
        {
            var names = Enum.GetNames(type);
            return names.Any(n => n.Equals(value, StringComparison.OrdinalIgnoreCase))
                ? null
                : $"expected one of {string.Join(", ", names.Select(n => $"\"{n.ToLowerInvariant()}\""))}, got \"{value}\"";
        }

        if (type == typeof(bool))
        {
            return bool.TryParse(value, out _) ? null : $"expected true or false, got \"{value}\"";
        }

        try
        {
            var converter = TypeDescriptor.GetConverter(type);
            _ = converter.ConvertFromInvariantString(value);
            return null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException || e.InnerException is FormatException or OverflowException)
        {
            return $"expected {Describe(type)}, got \"{value}\"";
        }
    }

    /// <summary>
    /// Why <paramref name="value"/> (already known to convert, or a duration too long to) is outside the range of
    /// <paramref name="property"/>, or null.
    /// </summary>
    private static string? RangeProblem(string value, Type type, PropertyInfo? property)
    {
        var range = property?.GetCustomAttribute<RangeAttribute>();
        var note = string.Empty;
        if (range is null && type == typeof(Duration))
        {
            range = new RangeAttribute(typeof(Duration), "0", MaxTimerPeriod.ToString());
            note = " (the longest period a timer accepts)";
        }

        if (range is null)
        {
            return null;
        }

        bool valid;
        try
        {
            if (type == typeof(Duration))
            {
                // A duration too long to parse is outside every range.
                valid = Duration.TryParse(value, out var duration, out _) && range.IsValid(duration);
            }
            else
            {
                valid = range.IsValid(TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value));
            }
        }
        catch (OverflowException)
        {
            valid = false;
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidCastException or FormatException or NotSupportedException or ArgumentException)
        {
            // The plugin's own attribute is wrong (bounds that do not convert, a type that cannot be compared).
            return $"the options property {property!.DeclaringType?.Name}.{property.Name} has an unusable [Range] ({e.Message})";
        }

        if (valid)
        {
            return null;
        }

        var shown = type == typeof(string) || type == typeof(Duration) ? $"\"{value}\"" : value;
        return FormattableString.Invariant($"must be between {range.Minimum} and {range.Maximum}{note}, got {shown}");
    }

    /// <summary>Whether <paramref name="value"/> is written as a duration (numbers with units), whatever its size.</summary>
    private static bool IsDurationText(string? value) => value is not null && DurationText().IsMatch(value);

    [GeneratedRegex(@"^\s*(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ms|s|m|h|d))+\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex DurationText();

    private void Unknown(IConfigurationSection child, IEnumerable<string> known, string? why)
    {
        var suggestion = Suggest(child.Key, known);
        var message = $"unknown key \"{child.Key}\"{(why is null ? string.Empty : " " + why)}";
        if (suggestion is not null)
        {
            message += $"; did you mean \"{suggestion}\"?";
        }

        Error(child, message);
    }

    private void Error(IConfigurationSection section, string message)
    {
        var location = document.Find(section.Path)?.Location;
        errors.Add(new ConfigException($"{ConfigPaths.Display(section.Path)}: {message}", location, section.Path));
    }

    internal static string? Suggest(string key, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var d = Levenshtein(key.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                (best, bestDistance) = (candidate, d);
            }
        }

        return best is not null && bestDistance <= Math.Max(2, key.Length / 3) ? best : null;
    }

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private static Dictionary<string, PropertyInfo> Properties(Type type)
    {
        var result = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || (p.SetMethod is not { IsPublic: true } && !IsCollection(p.PropertyType)))
            {
                continue;
            }

            result[p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? p.Name] = p;
        }

        return result;
    }

    private static bool IsCollection(Type t) => ElementType(t) is not null || DictionaryValueType(t) is not null;

    private static bool IsScalar(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(Duration)
        || t == typeof(TimeSpan) || t == typeof(Uri) || t == typeof(System.Net.IPAddress) || t == typeof(Guid)
        || t == typeof(DateTimeOffset) || t == typeof(DateTime);

    private static Type? ElementType(Type t)
    {
        if (t.IsArray)
        {
            return t.GetElementType();
        }

        if (t.IsGenericType && t.GetGenericArguments().Length == 1 && typeof(IEnumerable).IsAssignableFrom(t) && t != typeof(string))
        {
            return t.GetGenericArguments()[0];
        }

        return t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IEnumerable<>) ? t.GetGenericArguments()[0] : null;
    }

    private static Type? DictionaryValueType(Type t) =>
        t.IsGenericType && t.GetGenericArguments() is [var k, var v] && k == typeof(string)
        && (t.GetGenericTypeDefinition() == typeof(Dictionary<,>) || t.GetGenericTypeDefinition() == typeof(IDictionary<,>)
            || t.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
            ? v
            : null;

    private static string Describe(Type t) => t switch
    {
        _ when t == typeof(bool) => "true or false",
        _ when t == typeof(string) => "a string",
        _ when t == typeof(Duration) || t == typeof(TimeSpan) => "a duration such as \"5s\"",
        _ when t == typeof(int) || t == typeof(long) || t == typeof(short) || t == typeof(uint) || t == typeof(ulong)
               || t == typeof(ushort) || t == typeof(byte) || t == typeof(sbyte) => $"an integer ({Range(t)})",
        _ when t == typeof(double) || t == typeof(float) || t == typeof(decimal) => "a number",
        _ when t == typeof(System.Net.IPAddress) => "an IP address",
        _ => $"a {t.Name}",
    };

    private static string Plural(Type t) => t == typeof(string) ? "strings" : Describe(t);

    private static string Range(Type t)
    {
        var min = t.GetField("MinValue")?.GetValue(null);
        var max = t.GetField("MaxValue")?.GetValue(null);
        return FormattableString.Invariant($"{min}..{max}");
    }
}

/// <summary>Turns configuration paths into what operators wrote.</summary>
internal static class ConfigPaths
{
    /// <summary><c>dns:upstreams:0</c> → <c>dns.upstreams[0]</c>.</summary>
    public static string Display(string path)
    {
        var parts = path.Split(':');
        var sb = new System.Text.StringBuilder();
        foreach (var part in parts)
        {
            if (part.Length > 0 && part.All(char.IsAsciiDigit) && sb.Length > 0)
            {
                sb.Append('[').Append(part).Append(']');
            }
            else
            {
                if (sb.Length > 0)
                {
                    sb.Append('.');
                }

                sb.Append(part);
            }
        }

        return sb.ToString();
    }
}
