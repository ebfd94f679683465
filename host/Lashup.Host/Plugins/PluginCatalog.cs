using System.Collections.Immutable;
using Lashup.Abstractions.Plugins;
using Lashup.Host.Configuration;

namespace Lashup.Host.Plugins;

/// <summary>
/// Every plugin found in the configured folders, and every problem with them. A folder <c>X</c> under a plugin directory
/// is a plugin when it holds <c>X.dll</c> carrying <see cref="LashupPluginAttribute"/>.
/// </summary>
public sealed class PluginCatalog
{
    private PluginCatalog(ImmutableArray<PluginDescriptor> plugins, ImmutableArray<PluginProblem> problems, ImmutableArray<string> warnings, ImmutableArray<string> directories)
    {
        Plugins = plugins;
        Problems = problems;
        Warnings = warnings;
        Directories = directories;
    }

    /// <summary>Usable plugins, sorted by capability then name.</summary>
    public ImmutableArray<PluginDescriptor> Plugins { get; }

    /// <summary>One per problem found (refused plugins, missing folders, one plugin twice in configured folders): errors.</summary>
    public ImmutableArray<PluginProblem> Problems { get; }

    /// <summary>
    /// One line per plugin not loaded because an earlier folder has it too (the built-in one shadows a copy in the
    /// vendor or a configured folder): the earlier copy is used, so this is no error.
    /// </summary>
    public ImmutableArray<string> Warnings { get; }

    /// <summary>The folders searched, as absolute paths.</summary>
    public ImmutableArray<string> Directories { get; }

    /// <summary>The major version of Lashup.Abstractions this host implements.</summary>
    public static int HostAbstractionsMajor => typeof(LashupPluginAttribute).Assembly.GetName().Version!.Major;

    /// <summary>Plugins of <paramref name="capability"/>.</summary>
    public IEnumerable<PluginDescriptor> OfCapability(string capability) =>
        Plugins.Where(p => string.Equals(p.Capability, capability, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Scans <paramref name="directories"/> (absolute paths) in order. The first copy of a capability and name is the
    /// one used; a later one is a warning, or, when both are in configured folders (the operator listed both and can
    /// remove one), an error.
    /// </summary>
    public static PluginCatalog Discover(IEnumerable<PluginDirectory> directories)
    {
        var accepted = new List<PluginDescriptor>();
        var firstSource = new Dictionary<(string, string), PluginDirectorySource>();
        var problems = new List<PluginProblem>();
        var warnings = new List<string>();
        var dirs = directories.Select(d => d with { Path = Path.GetFullPath(d.Path) }).ToImmutableArray();
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir.Path))
            {
                problems.Add(new PluginProblem($"plugin directory {dir.Path} does not exist", dir.Source));
                continue;
            }

            foreach (var folder in Directory.EnumerateDirectories(dir.Path).Order(StringComparer.Ordinal))
            {
                var problem = Inspect(folder, out var descriptor);
                if (problem is not null)
                {
                    problems.Add(new PluginProblem(problem, dir.Source));
                    continue;
                }

                if (descriptor is null)
                {
                    continue;
                }

                var key = (descriptor.Capability.ToLowerInvariant(), descriptor.Name.ToLowerInvariant());
                if (!firstSource.TryGetValue(key, out var source))
                {
                    firstSource.Add(key, dir.Source);
                    accepted.Add(descriptor);
                    continue;
                }

                var first = accepted.First(p => (p.Capability.ToLowerInvariant(), p.Name.ToLowerInvariant()) == key);
                if (source == PluginDirectorySource.Config && dir.Source == PluginDirectorySource.Config)
                {
                    problems.Add(new PluginProblem(
                        $"plugins {first.Folder} and {descriptor.Folder} both claim {first.Capability}/{first.Name}; remove one", dir.Source));
                }
                else
                {
                    var which = source switch
                    {
                        PluginDirectorySource.BuiltIn => "the built-in one",
                        PluginDirectorySource.Vendor => "the vendor one",
                        _ => "the one",
                    };
                    warnings.Add($"plugin {descriptor.Capability}/{descriptor.Name} in {descriptor.Folder} is shadowed by {which} in {first.Folder}; it is not loaded");
                }
            }
        }

        accepted.Sort((a, b) => (string.CompareOrdinal(a.Capability, b.Capability), string.CompareOrdinal(a.Name, b.Name)) switch
        {
            (0, var n) => n,
            (var c, _) => c,
        });
        return new PluginCatalog([.. accepted], [.. problems], [.. warnings], [.. dirs.Select(d => d.Path)]);
    }

    private static string? Inspect(string folder, out PluginDescriptor? descriptor)
    {
        descriptor = null;
        var folderName = Path.GetFileName(folder);
        var assemblyPath = Path.Combine(folder, folderName + ".dll");
        if (!File.Exists(assemblyPath))
        {
            return $"plugin folder {folder} has no {folderName}.dll";
        }

        PluginMetadataReader.Result meta;
        try
        {
            meta = PluginMetadataReader.Read(assemblyPath);
        }
        catch (Exception e) when (e is BadImageFormatException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return $"plugin {assemblyPath} cannot be read: {e.Message}";
        }

        if (meta.Capability is null || meta.Name is null || meta.StartupTypeName is null)
        {
            return $"{assemblyPath} is not a Lashup plugin: it has no [assembly: LashupPlugin(...)] attribute";
        }

        var shipped = Directory.EnumerateFiles(folder, "*.dll")
            .Select(Path.GetFileName)
            .Where(f => f is not null && IsSharedAssembly(f))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (shipped.Count > 0)
        {
            return $"plugin {meta.Capability}/{meta.Name} in {folder} ships its own {string.Join(", ", shipped)}; " +
                   "the host provides these (reference Lashup.Abstractions with Private=\"false\" ExcludeAssets=\"runtime\" and import Lashup.Plugin.targets)";
        }

        if (meta.AbstractionsVersion is null)
        {
            return $"plugin {meta.Capability}/{meta.Name} in {folder} does not reference {PluginMetadataReader.AbstractionsAssemblyName}";
        }

        if (meta.AbstractionsVersion.Major != HostAbstractionsMajor)
        {
            return $"plugin {meta.Capability}/{meta.Name} in {folder} was built against {PluginMetadataReader.AbstractionsAssemblyName} " +
                   $"{meta.AbstractionsVersion.Major}.x but this host provides {HostAbstractionsMajor}.x; rebuild the plugin against {HostAbstractionsMajor}.x";
        }

        if (!IsValidName(meta.Name) || !IsValidCapability(meta.Capability))
        {
            return $"plugin in {folder} declares capability \"{meta.Capability}\" and name \"{meta.Name}\"; " +
                   "use lower-case letters, digits and '-' (and one '.' in a capability)";
        }

        descriptor = new PluginDescriptor(meta.Capability, meta.Name, meta.Version, folder, assemblyPath, meta.StartupTypeName, meta.AbstractionsVersion);
        return null;
    }

    internal static bool IsSharedAssembly(string fileName) =>
        fileName.Equals(PluginMetadataReader.AbstractionsAssemblyName + ".dll", StringComparison.OrdinalIgnoreCase)
        || fileName.StartsWith("Microsoft.Extensions.", StringComparison.OrdinalIgnoreCase)
        || fileName.Equals("MessagePack.dll", StringComparison.OrdinalIgnoreCase)
        || fileName.Equals("MessagePack.Annotations.dll", StringComparison.OrdinalIgnoreCase);

    private static bool IsValidName(string s) =>
        s.Length is > 0 and <= 64 && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    private static bool IsValidCapability(string s)
    {
        var parts = s.Split('.');
        return parts.Length <= 2 && parts.All(IsValidName) && parts[0] is not ("node" or "admin" or "plugins" or "logging");
    }
}

/// <summary>A plugin problem (an error) and the kind of folder it was found in, so that it is located in the config only when it came from there.</summary>
/// <param name="Message">What is wrong, one line.</param>
/// <param name="Source">Where the folder came from.</param>
public sealed record PluginProblem(string Message, PluginDirectorySource Source);
