using System.Collections.Immutable;

namespace Lashup.Host.Configuration;

/// <summary>Where a plugin folder came from, shown by <c>lashup plugins</c>.</summary>
public enum PluginDirectorySource
{
    /// <summary>The host's own <c>plugins/</c> folder: the built-in plugins.</summary>
    BuiltIn,

    /// <summary>The default folder for plugins installed by other packages (<see cref="InstallLayout.VendorPluginDirectory"/>).</summary>
    Vendor,

    /// <summary>Listed in <c>[plugins] directories</c>.</summary>
    Config,
}

/// <summary>A folder searched for plugins, absolute, and why it is searched.</summary>
public sealed record PluginDirectory(string Path, PluginDirectorySource Source)
{
    /// <summary>How <c>lashup plugins</c> names the source.</summary>
    public string SourceName => Source switch
    {
        PluginDirectorySource.BuiltIn => "built-in",
        PluginDirectorySource.Vendor => "vendor",
        _ => "config",
    };
}

/// <summary>Where a config file was found (or that there is none and the embedded default is used).</summary>
/// <param name="Path">The file, or null for the embedded default.</param>
/// <param name="Source">How it was found: "--config", "$LASHUP_CONFIG", the system path, or "embedded default".</param>
public sealed record ConfigChoice(string? Path, string Source);

/// <summary>
/// The machine's side of the host's layout: the folder the host runs from (its built-in plugins are found relative to
/// it), the system config file, the vendor plugin folder and the environment. <see cref="Current"/> is this process's;
/// tests construct their own instead of depending on the real /etc or on where the test runner lives.
/// </summary>
public sealed record InstallLayout
{
    /// <summary>The system-wide config file, used when neither --config nor $LASHUP_CONFIG names one and it exists.</summary>
    public const string DefaultSystemConfigPath = "/etc/lashup/lashup.toml";

    /// <summary>
    /// The folder other packages install plugins into (one sub-folder per plugin), searched when it exists. Beside the
    /// host's own <c>/usr/lib/lashup/plugins</c> of a package install, but owned by no package in particular.
    /// </summary>
    public const string DefaultVendorPluginDirectory = "/usr/lib/lashup/plugins.d";

    /// <summary>The environment variable naming the config file when --config is not given.</summary>
    public const string ConfigVariable = "LASHUP_CONFIG";

    /// <summary>
    /// The environment variable that replaces <see cref="DefaultSystemConfigPath"/>: for tests (a package test may
    /// install the real /etc/lashup/lashup.toml while they run) and for unusual installs.
    /// </summary>
    public const string SystemConfigVariable = "LASHUP_SYSTEM_CONFIG";

    /// <summary>The folder holding the host's assemblies (<see cref="AppContext.BaseDirectory"/> for the real host).</summary>
    public required string BaseDirectory { get; init; }

    /// <summary>The system-wide config file.</summary>
    public string SystemConfigPath { get; init; } = DefaultSystemConfigPath;

    /// <summary>The vendor plugin folder.</summary>
    public string VendorPluginDirectory { get; init; } = DefaultVendorPluginDirectory;

    /// <summary>The value of $LASHUP_CONFIG (null or empty: not set).</summary>
    public string? ConfigFromEnvironment { get; init; }

    /// <summary>What relative paths of the embedded default config (there is no file) are relative to.</summary>
    public required string WorkingDirectory { get; init; }

    /// <summary>This process's layout.</summary>
    public static InstallLayout Current => new()
    {
        BaseDirectory = AppContext.BaseDirectory,
        SystemConfigPath = Environment.GetEnvironmentVariable(SystemConfigVariable) is { Length: > 0 } system ? system : DefaultSystemConfigPath,
        ConfigFromEnvironment = Environment.GetEnvironmentVariable(ConfigVariable),
        WorkingDirectory = Directory.GetCurrentDirectory(),
    };

    /// <summary>
    /// The host's own plugin folder: <c>plugins/</c> beside the host (a published or installed layout), else the
    /// source checkout's <c>artifacts/plugins/</c>, two levels above <c>artifacts/bin/lashup/</c>; null when neither exists.
    /// </summary>
    public string? BuiltInPluginDirectory
    {
        get
        {
            var installed = Path.GetFullPath(Path.Combine(BaseDirectory, "plugins"));
            if (Directory.Exists(installed))
            {
                return installed;
            }

            var checkout = Path.GetFullPath(Path.Combine(BaseDirectory, "..", "..", "plugins"));
            return Directory.Exists(checkout) ? checkout : null;
        }
    }

    /// <summary>The config to use: <paramref name="explicitPath"/>, else $LASHUP_CONFIG, else the system file when it exists, else none.</summary>
    public ConfigChoice ChooseConfig(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return new ConfigChoice(explicitPath, "--config");
        }

        if (!string.IsNullOrEmpty(ConfigFromEnvironment))
        {
            return new ConfigChoice(ConfigFromEnvironment, "$" + ConfigVariable);
        }

        return File.Exists(SystemConfigPath)
            ? new ConfigChoice(SystemConfigPath, SystemConfigPath)
            : new ConfigChoice(null, "embedded default");
    }

    /// <summary>
    /// The folders to search, in order and each once (by full path): the built-in folder and the vendor folder when they
    /// exist, then <paramref name="configured"/> (absolute), which are searched (and reported missing) as listed.
    /// </summary>
    public ImmutableArray<PluginDirectory> PluginDirectories(IEnumerable<string> configured)
    {
        var all = new List<PluginDirectory>();
        if (BuiltInPluginDirectory is { } builtIn)
        {
            all.Add(new PluginDirectory(builtIn, PluginDirectorySource.BuiltIn));
        }

        if (Directory.Exists(VendorPluginDirectory))
        {
            all.Add(new PluginDirectory(Path.GetFullPath(VendorPluginDirectory), PluginDirectorySource.Vendor));
        }

        all.AddRange(configured.Select(d => new PluginDirectory(Path.GetFullPath(d), PluginDirectorySource.Config)));
        return [.. all.DistinctBy(d => Path.TrimEndingDirectorySeparator(d.Path), StringComparer.Ordinal)];
    }
}
