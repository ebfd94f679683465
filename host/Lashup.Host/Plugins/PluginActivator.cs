using System.Reflection;
using Lashup.Abstractions.Plugins;
using Lashup.Host.Configuration;
using McMaster.NETCore.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lashup.Host.Plugins;

/// <summary>
/// Loads the selected plugins, each into its own load context that prefers the host's shared types, and lets each
/// register its services. Only selected plugins are ever loaded.
/// </summary>
public static class PluginActivator
{
    /// <summary>Types whose assemblies every plugin must share with the host.</summary>
    private static readonly Type[] SharedTypes =
    [
        typeof(ILashupPlugin), typeof(IServiceCollection), typeof(IConfiguration), typeof(ILogger), typeof(IOptions<>),
        typeof(OptionsBuilder<>), typeof(ConfigurationBinder),
    ];

    /// <summary>A loaded plugin.</summary>
    public sealed record Activated(SelectedPlugin Plugin, Assembly Assembly);

    /// <summary>
    /// Loads every selected plugin and calls its <see cref="ILashupPlugin.ConfigureServices"/>; records the options
    /// sections they declare into <paramref name="declared"/>. Problems are added to <paramref name="errors"/>.
    /// </summary>
    public static List<Activated> Activate(
        LoadedConfiguration config,
        IServiceCollection services,
        List<(string Path, Type Type)> declared,
        List<ConfigException> errors)
    {
        var node = new NodeInfo(config.Node.Name, config.Node.Cluster, config.DataDirectory);
        var activated = new List<Activated>();
        foreach (var selected in config.Selected)
        {
            var d = selected.Descriptor;
            ILashupPlugin startup;
            Assembly assembly;
            try
            {
                var loader = PluginLoader.CreateFromAssemblyFile(d.AssemblyPath, isUnloadable: false, SharedTypes, c => c.PreferSharedTypes = true);
                assembly = loader.LoadDefaultAssembly();
                var attribute = assembly.GetCustomAttribute<LashupPluginAttribute>()
                    ?? throw new InvalidOperationException("its assembly has no LashupPlugin attribute");
                if (!typeof(ILashupPlugin).IsAssignableFrom(attribute.StartupType))
                {
                    var own = attribute.StartupType.GetInterfaces().FirstOrDefault(i => i.FullName == typeof(ILashupPlugin).FullName);
                    throw new InvalidOperationException(own is null
                        ? $"its startup type {attribute.StartupType.FullName} does not implement {typeof(ILashupPlugin).FullName}"
                        : $"its startup type implements a private copy of {typeof(ILashupPlugin).FullName} (from {own.Assembly.Location}); it must use the host's Lashup.Abstractions");
                }

                startup = (ILashupPlugin)(Activator.CreateInstance(attribute.StartupType)
                    ?? throw new InvalidOperationException($"cannot create {attribute.StartupType.FullName}"));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                errors.Add(new ConfigException($"plugin {d} in {d.Folder} cannot be loaded: {Flatten(e)}"));
                continue;
            }

            var context = new PluginContext(
                d.Capability,
                d.Name,
                config.Configuration.GetSection(selected.ConfigurationPath),
                config.Configuration,
                node,
                d.Folder,
                (path, type) => declared.Add((path, type)));
            try
            {
                startup.ConfigureServices(context, services);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                errors.Add(new ConfigException($"plugin {d} failed to register its services: {Flatten(e)}"));
                continue;
            }

            activated.Add(new Activated(selected, assembly));
        }

        return activated;
    }

    /// <summary>
    /// Checks every enabled subsystem section and every selected sub-plugin section against the options their plugins
    /// declared; keys nobody declared are errors.
    /// </summary>
    public static void ValidateSections(LoadedConfiguration config, List<(string Path, Type Type)> declared, List<ConfigException> errors)
    {
        var validator = new OptionsSchemaValidator(config.Configuration, config.Document, errors);
        var subsystemPlugins = config.Selected.Where(s => s.Descriptor.SelectorKey is null).ToList();
        foreach (var subsystem in subsystemPlugins)
        {
            var name = subsystem.Descriptor.Subsystem;
            var extra = new List<string>(ConfigLoader.SubsystemKeys);
            var selectable = new List<string>();
            // Selector keys (backend, sources) and the sections of plugins selectable by them are the host's.
            foreach (var capability in ConfigLoader.BuiltInCapabilities.Concat(config.Catalog.Plugins.Select(p => p.Capability))
                         .Where(c => c.StartsWith(name + ".", StringComparison.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase))
            {
                extra.Add(capability[(name.Length + 1)..]);
                selectable.AddRange(config.Catalog.OfCapability(capability).Select(p => p.Name));
            }

            extra.AddRange(selectable);

            // A table nobody knows here is most likely the section of a backend whose plugin is not installed.
            var tableHint = selectable.Count == 0 ? null
                : $"(no installed plugin of [{name}] is named so: installed are {string.Join(", ", selectable.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal))}; a backend's section needs its plugin in a plugin directory)";

            var own = declared.Where(x => x.Path.Equals(subsystem.ConfigurationPath, StringComparison.OrdinalIgnoreCase)).ToList();
            if (own.Count == 0)
            {
                validator.RejectAll(subsystem.ConfigurationPath, extra, $"in [{name}] (plugin {subsystem.Descriptor} declares no options)", tableHint);
            }

            foreach (var (_, type) in own)
            {
                validator.Validate(subsystem.ConfigurationPath, type, extra, tableHint);
            }
        }

        foreach (var sub in config.Selected.Where(s => s.Descriptor.SelectorKey is not null))
        {
            var own = declared.Where(x => x.Path.Equals(sub.ConfigurationPath, StringComparison.OrdinalIgnoreCase)).ToList();
            if (own.Count == 0)
            {
                validator.RejectAll(sub.ConfigurationPath, [], $"(plugin {sub.Descriptor} declares no options)");
            }

            foreach (var (_, type) in own)
            {
                validator.Validate(sub.ConfigurationPath, type, []);
            }
        }

        // Sections a plugin declared elsewhere (rare, but allowed) are validated as declared.
        foreach (var (path, type) in declared.Where(x => !config.Selected.Any(s => s.ConfigurationPath.Equals(x.Path, StringComparison.OrdinalIgnoreCase))))
        {
            validator.Validate(path, type, []);
        }
    }

    private static string Flatten(Exception e)
    {
        while (e is TargetInvocationException { InnerException: { } inner })
        {
            e = inner;
        }

        return e.Message.ReplaceLineEndings(" ");
    }
}
