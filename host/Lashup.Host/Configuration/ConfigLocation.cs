namespace Lashup.Host.Configuration;

/// <summary>A position in a configuration file; <paramref name="Line"/> and <paramref name="Column"/> are 1-based.</summary>
/// <param name="File">The file path, as it was given to the loader.</param>
/// <param name="Line">The 1-based line.</param>
/// <param name="Column">The 1-based column, counted in Unicode code points.</param>
public sealed record ConfigLocation(string File, int Line, int Column)
{
    /// <summary>Formats the location as <c>file:line:column</c>.</summary>
    public override string ToString() => $"{File}:{Line}:{Column}";
}
