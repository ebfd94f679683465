namespace Lashup.Abstractions.Plugins;

/// <summary>
/// Declares that an assembly is a Lashup plugin: which capability it provides, under which name, and which type the
/// host instantiates to let it register its services. The host reads this attribute before it runs any plugin code.
/// </summary>
/// <example>
/// <code>[assembly: LashupPlugin(Capabilities.Dns, "lashup", typeof(DnsPluginStartup))]</code>
/// </example>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false, Inherited = false)]
public sealed class LashupPluginAttribute : Attribute
{
    /// <summary>Declares a plugin.</summary>
    /// <param name="capability">What the plugin provides, e.g. <see cref="Capabilities.Dns"/> or <see cref="Capabilities.LoadBalancerBackend"/>.</param>
    /// <param name="name">The name operators select it by in TOML, e.g. <c>userspace</c>. Lower case, digits and '-'.</param>
    /// <param name="startupType">A public type with a parameterless constructor implementing <see cref="ILashupPlugin"/>.</param>
    public LashupPluginAttribute(string capability, string name, Type startupType)
    {
        Capability = capability;
        Name = name;
        StartupType = startupType;
    }

    /// <summary>The capability provided, e.g. <c>dns</c>.</summary>
    public string Capability { get; }

    /// <summary>The name the plugin is selected by within its capability.</summary>
    public string Name { get; }

    /// <summary>The startup type implementing <see cref="ILashupPlugin"/>.</summary>
    public Type StartupType { get; }
}
