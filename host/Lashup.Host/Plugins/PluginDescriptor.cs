namespace Lashup.Host.Plugins;

/// <summary>A plugin found in a plugin folder, read from its metadata without loading it.</summary>
/// <param name="Capability">The declared capability.</param>
/// <param name="Name">The declared name.</param>
/// <param name="Version">The plugin assembly's version.</param>
/// <param name="Folder">The plugin's folder.</param>
/// <param name="AssemblyPath">The plugin's main assembly.</param>
/// <param name="StartupTypeName">The startup type's name as serialized in the attribute.</param>
/// <param name="AbstractionsVersion">The Lashup.Abstractions version it was built against.</param>
public sealed record PluginDescriptor(
    string Capability,
    string Name,
    Version Version,
    string Folder,
    string AssemblyPath,
    string StartupTypeName,
    Version AbstractionsVersion)
{
    /// <summary>The capability's top-level section (<c>loadbalancer</c> for <c>loadbalancer.backend</c>).</summary>
    public string Subsystem => Capability.Split('.')[0];

    /// <summary>The selector key inside the subsystem's section (<c>backend</c>), or null for a subsystem itself.</summary>
    public string? SelectorKey => Capability.Contains('.', StringComparison.Ordinal) ? Capability[(Capability.IndexOf('.', StringComparison.Ordinal) + 1)..] : null;

    /// <summary>The configuration path of the plugin's own options: <c>dns</c> or <c>loadbalancer:userspace</c>.</summary>
    public string ConfigurationPath => SelectorKey is null ? Subsystem : $"{Subsystem}:{Name}";

    /// <inheritdoc/>
    public override string ToString() => $"{Capability}/{Name}";
}
