using System.Collections.Immutable;
using System.Reflection;
using Lashup.Abstractions.Plugins;
using Lashup.Host.Admin;
using Lashup.Host.Plugins;
using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Configuration;

/// <summary>
/// Reads the TOML file, validates the host's own sections, discovers plugins and selects the ones configuration asks
/// for. Collects every error (one line each, with file:line:column) instead of stopping at the first.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Host-owned top-level sections and their options types.</summary>
    internal static readonly IReadOnlyDictionary<string, Type> HostSections = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
    {
        ["node"] = typeof(NodeOptions),
        ["admin"] = typeof(AdminOptions),
        ["plugins"] = typeof(PluginsOptions),
        ["logging"] = typeof(LoggingOptions),
    };

    /// <summary>Capabilities the host knows even when no plugin for them is installed.</summary>
    internal static readonly string[] BuiltInCapabilities =
    [
        Capabilities.Core, Capabilities.Dns, Capabilities.DnsSources, Capabilities.LoadBalancer,
        Capabilities.LoadBalancerBackend, Capabilities.Overlay, Capabilities.OverlayBackend,
    ];

    /// <summary>
    /// Capabilities chosen inside their subsystem by exactly one name (a data plane has one backend): none, or a list
    /// of two, is an error naming the known ones.
    /// </summary>
    internal static readonly string[] SingleSelectionCapabilities = [Capabilities.LoadBalancerBackend, Capabilities.OverlayBackend];

    /// <summary>Keys every subsystem section has besides its plugin's options.</summary>
    internal static readonly string[] SubsystemKeys = ["enabled", "provider"];

    /// <summary>
    /// Loads <paramref name="path"/>, else the file <c>$LASHUP_CONFIG</c> names, else the system file when it exists,
    /// else the embedded default (see <see cref="InstallLayout.ChooseConfig"/>); <paramref name="layout"/> is this
    /// process's unless given.
    /// </summary>
    public static LoadedConfiguration Load(string? path, List<ConfigException> errors, InstallLayout? layout = null)
    {
        layout ??= InstallLayout.Current;
        var choice = layout.ChooseConfig(path);
        var document = ReadDocument(choice, layout, out var display, out var baseDirectory);
        var configuration = new ConfigurationBuilder().AddTomlDocument(document).Build();
        var validator = new OptionsSchemaValidator(configuration, document, errors);

        var node = BindHostSection<NodeOptions>(configuration, validator, "node", errors);
        var admin = BindHostSection<AdminOptions>(configuration, validator, "admin", errors);
        var plugins = BindHostSection<PluginsOptions>(configuration, validator, "plugins", errors);
        var logging = BindHostSection<LoggingOptions>(configuration, validator, "logging", errors);
        plugins.Directories = [.. plugins.Directories.Select(d => Path.GetFullPath(d, baseDirectory))];
        var pluginDirectories = layout.PluginDirectories(plugins.Directories);
        var catalog = PluginCatalog.Discover(pluginDirectories);
        var directoriesLocation = document.Find("plugins:directories")?.Location;
        // Located at [plugins] directories only when that is where the folder came from: a broken built-in or vendor
        // plugin is no line of the config.
        errors.AddRange(catalog.Problems.Select(p => p.Source == PluginDirectorySource.Config
            ? new ConfigException(p.Message, directoriesLocation, "plugins.directories")
            : new ConfigException(p.Message)));

        ValidateNode(node, document, errors);
        ValidateAdmin(admin, document, errors);

        var capabilities = BuiltInCapabilities.Concat(catalog.Plugins.Select(p => p.Capability))
            .Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var subsystems = capabilities.Select(c => c.Split('.')[0]).Distinct(StringComparer.OrdinalIgnoreCase).ToList();

        // Top-level names from the configuration and from the document (an empty table has no configuration entry).
        var sections = configuration.GetChildren().Select(c => c.Key)
            .Concat(document.Entries.Keys.Where(k => !k.Contains(':', StringComparison.Ordinal)))
            .Distinct(StringComparer.OrdinalIgnoreCase);
        foreach (var name in sections)
        {
            if (HostSections.ContainsKey(name) || subsystems.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }

            var suggestion = OptionsSchemaValidator.Suggest(name, [.. HostSections.Keys, .. subsystems]);
            errors.Add(new ConfigException(
                $"unknown section [{name}]; known sections: {string.Join(", ", HostSections.Keys.Concat(subsystems).Order(StringComparer.Ordinal))}" +
                (suggestion is null ? string.Empty : $"; did you mean [{suggestion}]?"),
                document.Find(name)?.Location,
                name));
        }

        var selected = Select(configuration, document, catalog, capabilities, subsystems, errors);
        return new LoadedConfiguration
        {
            Document = document,
            Configuration = configuration,
            DisplayName = display,
            Source = choice.Source,
            BaseDirectory = baseDirectory,
            Node = node,
            Admin = admin,
            Plugins = plugins,
            PluginDirectories = pluginDirectories,
            Logging = logging,
            Catalog = catalog,
            Warnings = catalog.Warnings,
            Selected = selected,
        };
    }

    /// <summary>
    /// Whether the subsystem <paramref name="name"/> is switched on: its section is written (an empty <c>[core]</c>
    /// counts: it has no configuration entry, so the document is asked) and <c>enabled</c> is not false.
    /// </summary>
    public static bool IsEnabled(IConfiguration configuration, TomlDocument document, string name)
    {
        var section = configuration.GetSection(name);
        return (section.Exists() || document.Find(name) is { Kind: TomlValueKind.Table })
            && !string.Equals(section["enabled"], "false", StringComparison.OrdinalIgnoreCase);
    }

    private static TomlDocument ReadDocument(ConfigChoice choice, InstallLayout layout, out string display, out string baseDirectory)
    {
        if (choice.Path is { } path)
        {
            if (choice.Source == "$" + InstallLayout.ConfigVariable && !File.Exists(path))
            {
                throw new ConfigException(Directory.Exists(path)
                    ? $"{path}: is a directory, not a file (${InstallLayout.ConfigVariable} names it)"
                    : $"{path}: no such file (${InstallLayout.ConfigVariable} names it)");
            }

            var document = TomlDocument.Load(path);
            display = path;
            baseDirectory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            return document;
        }

        // The embedded default is config/lashup.toml as built. With no file to be relative to, its relative paths (the
        // data_dir) are relative to the working directory: the checkout from `dotnet run`, wherever `lashup run` is
        // started otherwise; never the host's own folder, which an install makes read-only.
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Lashup.Host.default.toml")
            ?? throw new InvalidOperationException("the embedded default configuration is missing from this build");
        using var reader = new StreamReader(stream);
        display = "(embedded default config)";
        baseDirectory = Path.GetFullPath(layout.WorkingDirectory);
        return TomlDocument.Parse(reader.ReadToEnd(), display);
    }

    private static T BindHostSection<T>(IConfiguration configuration, OptionsSchemaValidator validator, string name, List<ConfigException> errors)
        where T : new()
    {
        var before = errors.Count;
        validator.Validate(name, typeof(T), []);
        var options = new T();
        if (errors.Count == before)
        {
            configuration.GetSection(name).Bind(options);
        }

        return options;
    }

    private static void ValidateNode(NodeOptions node, TomlDocument document, List<ConfigException> errors)
    {
        if (string.IsNullOrWhiteSpace(node.Name) || node.Name.Length > 253 || node.Name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_')))
        {
            errors.Add(new ConfigException(
                $"node.name: \"{node.Name}\" is not a valid node name (1-253 characters: letters, digits, '-', '.', '_')",
                document.Find("node:name")?.Location, "node:name"));
        }

        if (string.IsNullOrWhiteSpace(node.Cluster))
        {
            errors.Add(new ConfigException("node.cluster: must not be empty", document.Find("node:cluster")?.Location, "node:cluster"));
        }
    }

    private static void ValidateAdmin(AdminOptions admin, TomlDocument document, List<ConfigException> errors)
    {
        var location = document.Find("admin:listen")?.Location;
        if (!AdminEndpoint.TryParse(admin.Listen, out var endpoint))
        {
            errors.Add(new ConfigException($"admin.listen: expected \"address:port\" such as \"127.0.0.1:9470\", got \"{admin.Listen}\"", location, "admin:listen"));
            return;
        }

        if (!System.Net.IPAddress.IsLoopback(endpoint.Address) && string.IsNullOrEmpty(admin.Token))
        {
            errors.Add(new ConfigException(
                $"admin.listen: {admin.Listen} is not a loopback address, so admin.token must be set (the admin API can change cluster state)",
                location, "admin:listen"));
        }
    }

    private static ImmutableArray<SelectedPlugin> Select(
        IConfigurationRoot configuration,
        TomlDocument document,
        PluginCatalog catalog,
        List<string> capabilities,
        List<string> subsystems,
        List<ConfigException> errors)
    {
        var selected = new List<SelectedPlugin>();
        foreach (var subsystem in subsystems)
        {
            var section = configuration.GetSection(subsystem);
            if (section["enabled"] is { } enabledText && !bool.TryParse(enabledText, out _))
            {
                errors.Add(new ConfigException($"{subsystem}.enabled: expected true or false, got \"{enabledText}\"",
                    document.Find($"{subsystem}:enabled")?.Location, $"{subsystem}:enabled"));
                continue;
            }

            if (!IsEnabled(configuration, document, subsystem))
            {
                continue;
            }

            var providers = catalog.OfCapability(subsystem).ToList();
            var providerName = section["provider"];
            PluginDescriptor? provider;
            if (providerName is not null)
            {
                provider = providers.FirstOrDefault(p => p.Name.Equals(providerName, StringComparison.OrdinalIgnoreCase));
                if (provider is null)
                {
                    errors.Add(UnknownName($"{subsystem}.provider", providerName, providers, document.Find($"{subsystem}:provider")?.Location, catalog));
                    continue;
                }
            }
            else
            {
                provider = providers.FirstOrDefault(p => p.Name == "lashup") ?? (providers.Count == 1 ? providers[0] : null);
                if (provider is null)
                {
                    errors.Add(new ConfigException(
                        providers.Count == 0
                            ? $"[{subsystem}] is enabled but no plugin provides capability \"{subsystem}\" in {string.Join(", ", catalog.Directories)}; install one or set enabled = false"
                            : $"[{subsystem}] has several providers ({string.Join(", ", providers.Select(p => p.Name))}); choose one with provider = \"...\"",
                        document.Find(subsystem)?.Location, subsystem));
                    continue;
                }
            }

            selected.Add(new SelectedPlugin(provider, provider.ConfigurationPath));

            foreach (var capability in capabilities.Where(c => c.StartsWith(subsystem + ".", StringComparison.OrdinalIgnoreCase)))
            {
                var key = capability[(subsystem.Length + 1)..];
                var candidates = catalog.OfCapability(capability).ToList();
                var names = SelectorValues(section.GetSection(key)).ToList();
                if (SingleSelectionCapabilities.Contains(capability, StringComparer.OrdinalIgnoreCase) && names.Count != 1)
                {
                    var known = candidates.Count == 0
                        ? $"no plugin of this kind was found in {string.Join(", ", catalog.Directories)}"
                        : "known: " + string.Join(", ", candidates.Select(p => p.Name).Order(StringComparer.Ordinal));
                    var path = $"{subsystem}:{key}";
                    errors.Add(new ConfigException(
                        names.Count == 0
                            ? $"{ConfigPaths.Display(path)}: [{subsystem}] needs one {key}, e.g. {key} = \"{candidates.Select(p => p.Name).Order(StringComparer.Ordinal).FirstOrDefault() ?? "name"}\"; {known}"
                            : $"{ConfigPaths.Display(path)}: one {key} only, got {names.Count} ({string.Join(", ", names.Select(n => $"\"{n.Name}\""))}); {known}",
                        document.Find(path)?.Location ?? document.Find(subsystem)?.Location,
                        path));
                    continue;
                }

                foreach (var (name, path) in names)
                {
                    var plugin = candidates.FirstOrDefault(p => p.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
                    if (plugin is null)
                    {
                        errors.Add(UnknownName($"{ConfigPaths.Display(path)}", name, candidates, document.Find(path)?.Location, catalog));
                        continue;
                    }

                    selected.Add(new SelectedPlugin(plugin, plugin.ConfigurationPath));
                }
            }
        }

        return [.. selected];
    }

    private static IEnumerable<(string Name, string Path)> SelectorValues(IConfigurationSection section)
    {
        if (section.Value is { } single)
        {
            return string.IsNullOrEmpty(single) ? [] : [(single, section.Path)];
        }

        return section.GetChildren().Where(c => c.Value is { Length: > 0 }).Select(c => (c.Value!, c.Path));
    }

    private static ConfigException UnknownName(string key, string name, List<PluginDescriptor> candidates, ConfigLocation? location, PluginCatalog catalog) =>
        new(candidates.Count == 0
                ? $"{key}: unknown plugin \"{name}\"; no plugin of this kind was found in {string.Join(", ", catalog.Directories)}"
                : $"{key}: unknown plugin \"{name}\"; known: {string.Join(", ", candidates.Select(p => p.Name).Order(StringComparer.Ordinal))}",
            location, key);
}
