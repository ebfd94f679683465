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

    /// <summary>
    /// The environment variable that replaces <see cref="DefaultVendorPluginDirectory"/>, as
    /// <see cref="SystemConfigVariable"/> does the system file: unset or empty means the default; to search no vendor
    /// folder, name one that does not exist (tests do, so that a machine's vendor plugins never load into them).
    /// </summary>
    public const string VendorPluginsVariable = "LASHUP_VENDOR_PLUGINS";

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
        VendorPluginDirectory = Environment.GetEnvironmentVariable(VendorPluginsVariable) is { Length: > 0 } vendor ? vendor : DefaultVendorPluginDirectory,
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
    /// The folders to search, in order and each once: the built-in folder and the vendor folder when they exist, then
    /// <paramref name="configured"/> (absolute), which are searched (and reported missing) as listed. "Once" is by the
    /// real path (<see cref="RealPath"/>): the host's own folder is its real path (the apphost and dotnet resolve
    /// symlinks), so a config listing it through a symlink (<c>/opt/lashup/current/plugins</c>) names the same folder.
    /// The first naming is kept, as written.
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
        return [.. all.DistinctBy(d => RealPath(d.Path), StringComparer.Ordinal)];
    }

    /// <summary>
    /// <paramref name="path"/> made absolute with every symbolic link in it resolved, the folder itself and each parent
    /// (as realpath(3), without P/Invoke); the part from the first component that does not exist is kept as written.
    /// </summary>
    public static string RealPath(string path) => Resolve(Path.GetFullPath(path), links: 0);

    private static string Resolve(string full, int links)
    {
        var root = Path.GetPathRoot(full) ?? "/";
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var current = root;
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                if (!Path.Exists(next))
                {
                    return Path.TrimEndingDirectorySeparator(Path.Combine([next, .. parts[(i + 1)..]]));
                }

                current = next;
                continue;
            }

            // 40 links, as Linux allows before ELOOP: past that (a loop) the path stays as written from here on.
            if (links >= 40)
            {
                return Path.TrimEndingDirectorySeparator(Path.Combine([next, .. parts[(i + 1)..]]));
            }

            // A relative target is relative to the link's folder, already real; the target's own components may be links.
            current = Resolve(Path.GetFullPath(target, current), links + 1);
        }

        return Path.TrimEndingDirectorySeparator(current);
    }
}
