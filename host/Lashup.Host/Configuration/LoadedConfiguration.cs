using System.Collections.Immutable;
using Lashup.Host.Plugins;
using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Configuration;

/// <summary>A plugin chosen by configuration.</summary>
/// <param name="Descriptor">The plugin.</param>
/// <param name="ConfigurationPath">Its options section, e.g. <c>loadbalancer:userspace</c>.</param>
public sealed record SelectedPlugin(PluginDescriptor Descriptor, string ConfigurationPath);

/// <summary>Everything read from the config file, validated, before any plugin code runs.</summary>
public sealed class LoadedConfiguration
{
    /// <summary>The parsed TOML with its source map.</summary>
    public required TomlDocument Document { get; init; }

    /// <summary>The configuration built from it.</summary>
    public required IConfigurationRoot Configuration { get; init; }

    /// <summary>What to call the file in messages.</summary>
    public required string DisplayName { get; init; }

    /// <summary>How the file was chosen: "--config", "$LASHUP_CONFIG", the system path or "embedded default".</summary>
    public required string Source { get; init; }

    /// <summary>The folder relative paths are resolved against.</summary>
    public required string BaseDirectory { get; init; }

    /// <summary><c>[node]</c>.</summary>
    public required NodeOptions Node { get; init; }

    /// <summary><c>[admin]</c>.</summary>
    public required AdminOptions Admin { get; init; }

    /// <summary><c>[plugins]</c> with directories made absolute.</summary>
    public required PluginsOptions Plugins { get; init; }

    /// <summary>The folders searched for plugins: the built-in and vendor ones, then <c>[plugins] directories</c>.</summary>
    public required ImmutableArray<PluginDirectory> PluginDirectories { get; init; }

    /// <summary><c>[logging]</c>.</summary>
    public required LoggingOptions Logging { get; init; }

    /// <summary>Every plugin found.</summary>
    public required PluginCatalog Catalog { get; init; }

    /// <summary>What is worth a look but no error (a plugin shadowed by an earlier folder's copy), one line each.</summary>
    public ImmutableArray<string> Warnings { get; init; } = [];

    /// <summary>The plugins selected to run, subsystems before their sub-capabilities.</summary>
    public required ImmutableArray<SelectedPlugin> Selected { get; init; }

    /// <summary>The data directory made absolute.</summary>
    public string DataDirectory => Path.GetFullPath(Node.DataDir, BaseDirectory);
}
