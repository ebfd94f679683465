using Microsoft.Extensions.Configuration;

namespace Lashup.Abstractions.Plugins;

/// <summary>What the host tells a plugin when it asks it to register its services.</summary>
public sealed class PluginContext
{
    private readonly Action<string, Type>? _optionsDeclared;

    /// <summary>Creates a context. The host does this; tests of a plugin's registration may too.</summary>
    /// <param name="capability">The capability the plugin was selected for.</param>
    /// <param name="name">The plugin's name.</param>
    /// <param name="configuration">The plugin's own configuration section (e.g. <c>[loadbalancer.userspace]</c>).</param>
    /// <param name="root">The whole configuration, read-only by convention.</param>
    /// <param name="node">This node's identity.</param>
    /// <param name="pluginDirectory">The folder the plugin was loaded from.</param>
    /// <param name="optionsDeclared">Called with (section path, options type) when the plugin declares options, so the host can validate keys.</param>
    public PluginContext(
        string capability,
        string name,
        IConfigurationSection configuration,
        IConfiguration root,
        NodeInfo node,
        string pluginDirectory,
        Action<string, Type>? optionsDeclared = null)
    {
        Capability = capability;
        Name = name;
        Configuration = configuration;
        Root = root;
        Node = node;
        PluginDirectory = pluginDirectory;
        _optionsDeclared = optionsDeclared;
    }

    /// <summary>The capability the plugin was selected for.</summary>
    public string Capability { get; }

    /// <summary>The plugin's name.</summary>
    public string Name { get; }

    /// <summary>The plugin's own configuration section; its path is <see cref="IConfigurationSection.Path"/>.</summary>
    public IConfigurationSection Configuration { get; }

    /// <summary>The whole configuration.</summary>
    public IConfiguration Root { get; }

    /// <summary>This node's identity and directories.</summary>
    public NodeInfo Node { get; }

    /// <summary>The folder the plugin was loaded from (for plugin-local resources).</summary>
    public string PluginDirectory { get; }

    /// <summary>
    /// Tells the host that <paramref name="sectionPath"/> is bound to <paramref name="optionsType"/>, so that keys in it
    /// that match no property (by <see cref="ConfigurationKeyNameAttribute"/> or name) are reported as errors with
    /// their file and line, and values of the wrong type are rejected before anything starts.
    /// </summary>
    public void DeclareOptions(string sectionPath, Type optionsType)
    {
        ArgumentNullException.ThrowIfNull(sectionPath);
        ArgumentNullException.ThrowIfNull(optionsType);
        _optionsDeclared?.Invoke(sectionPath, optionsType);
    }
}
