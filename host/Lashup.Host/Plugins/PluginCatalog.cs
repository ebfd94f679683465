using System.Collections.Immutable;
using Lashup.Abstractions.Plugins;

namespace Lashup.Host.Plugins;

/// <summary>
/// Every plugin found in the configured folders, and every problem with them. A folder <c>X</c> under a plugin directory
/// is a plugin when it holds <c>X.dll</c> carrying <see cref="LashupPluginAttribute"/>.
/// </summary>
public sealed class PluginCatalog
{
    private PluginCatalog(ImmutableArray<PluginDescriptor> plugins, ImmutableArray<string> problems, ImmutableArray<string> directories)
    {
        Plugins = plugins;
        Problems = problems;
        Directories = directories;
    }

    /// <summary>Usable plugins, sorted by capability then name.</summary>
    public ImmutableArray<PluginDescriptor> Plugins { get; }

    /// <summary>One line per problem found (refused plugins, missing folders, duplicates).</summary>
    public ImmutableArray<string> Problems { get; }

    /// <summary>The folders searched, as absolute paths.</summary>
    public ImmutableArray<string> Directories { get; }

    /// <summary>The major version of Lashup.Abstractions this host implements.</summary>
    public static int HostAbstractionsMajor => typeof(LashupPluginAttribute).Assembly.GetName().Version!.Major;

    /// <summary>Plugins of <paramref name="capability"/>.</summary>
    public IEnumerable<PluginDescriptor> OfCapability(string capability) =>
        Plugins.Where(p => string.Equals(p.Capability, capability, StringComparison.OrdinalIgnoreCase));

    /// <summary>Scans <paramref name="directories"/> (absolute paths).</summary>
    public static PluginCatalog Discover(IEnumerable<string> directories)
    {
        var plugins = new List<PluginDescriptor>();
        var problems = new List<string>();
        var dirs = directories.Select(Path.GetFullPath).ToImmutableArray();
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir))
            {
                problems.Add($"plugin directory {dir} does not exist");
                continue;
            }

            foreach (var folder in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal))
            {
                var problem = Inspect(folder, out var descriptor);
                if (problem is not null)
                {
                    problems.Add(problem);
                }
                else if (descriptor is not null)
                {
                    plugins.Add(descriptor);
                }
            }
        }

        var accepted = new List<PluginDescriptor>();
        foreach (var group in plugins.GroupBy(p => (p.Capability.ToLowerInvariant(), p.Name.ToLowerInvariant())))
        {
            var all = group.ToList();
            if (all.Count > 1)
            {
                problems.Add($"plugins {string.Join(" and ", all.Select(p => p.Folder))} both claim {all[0].Capability}/{all[0].Name}; remove one");
                continue;
            }

            accepted.Add(all[0]);
        }

        accepted.Sort((a, b) => (string.CompareOrdinal(a.Capability, b.Capability), string.CompareOrdinal(a.Name, b.Name)) switch
        {
            (0, var n) => n,
            (var c, _) => c,
        });
        return new PluginCatalog([.. accepted], [.. problems], dirs);
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
