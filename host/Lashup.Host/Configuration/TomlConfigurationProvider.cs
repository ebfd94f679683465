using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Configuration;

/// <summary>A configuration source backed by an already parsed <see cref="TomlDocument"/>.</summary>
public sealed class TomlConfigurationSource : IConfigurationSource
{
    /// <summary>Creates a source for <paramref name="document"/>.</summary>
    public TomlConfigurationSource(TomlDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        Document = document;
    }

    /// <summary>The parsed document this source serves.</summary>
    public TomlDocument Document { get; }

    /// <summary>Builds the provider for <see cref="Document"/>.</summary>
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new TomlConfigurationProvider(Document);
}

/// <summary>Serves the flattened values of a <see cref="TomlDocument"/> as configuration.</summary>
public sealed class TomlConfigurationProvider : ConfigurationProvider
{
    private readonly TomlDocument _document;

    /// <summary>Creates a provider for <paramref name="document"/>.</summary>
    public TomlConfigurationProvider(TomlDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        _document = document;
    }

    /// <summary>Copies the document's values into <see cref="ConfigurationProvider.Data"/>.</summary>
    public override void Load() =>
        Data = new Dictionary<string, string?>(_document.Data, StringComparer.OrdinalIgnoreCase);

    /// <summary>Names the provider and its file, for configuration debug views.</summary>
    public override string ToString() => $"{nameof(TomlConfigurationProvider)} for '{_document.FilePath}'";
}

/// <summary>Registers TOML documents with a configuration builder.</summary>
public static class TomlConfigurationExtensions
{
    /// <summary>Adds the values of an already parsed <paramref name="document"/>.</summary>
    public static IConfigurationBuilder AddTomlDocument(this IConfigurationBuilder builder, TomlDocument document)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new TomlConfigurationSource(document));
    }
}
