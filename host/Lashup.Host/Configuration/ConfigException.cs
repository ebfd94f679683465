namespace Lashup.Host.Configuration;

/// <summary>
/// A configuration error an operator must fix. <see cref="Exception.Message"/> is a single line,
/// <c>file:line:column: message</c> when the location is known, otherwise just the message.
/// </summary>
public sealed class ConfigException : Exception
{
    /// <summary>Creates a configuration error.</summary>
    /// <param name="message">What is wrong, without the location prefix.</param>
    /// <param name="location">Where in the file, when known.</param>
    /// <param name="key">The configuration path (<c>a:b:c</c>) the error concerns, when known.</param>
    public ConfigException(string message, ConfigLocation? location = null, string? key = null)
        : this(message, location, key, innerException: null)
    {
    }

    internal ConfigException(string message, ConfigLocation? location, string? key, Exception? innerException)
        : base(Format(message, location), innerException)
    {
        Location = location;
        Key = key;
    }

    /// <summary>Where in the file the error is, when known.</summary>
    public ConfigLocation? Location { get; }

    /// <summary>The configuration path (<c>a:b:c</c>) the error concerns, when known.</summary>
    public string? Key { get; }

    private static string Format(string message, ConfigLocation? location)
    {
        ArgumentNullException.ThrowIfNull(message);
        var oneLine = OneLine(message);
        return location is null ? oneLine : $"{location}: {oneLine}";
    }

    /// <summary>Folds line breaks and tabs into single spaces so the text fits on one line.</summary>
    internal static string OneLine(string text)
    {
        if (text.AsSpan().IndexOfAny('\r', '\n', '\t') < 0)
        {
            return text.Trim();
        }

        return string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
