namespace Lashup.Abstractions.Plugins;

[AttributeUsage(AttributeTargets.Assembly)]
public sealed class LashupPluginAttribute(string capability, string name, Type startupType) : Attribute
{
    public string Capability { get; } = capability;

    public string Name { get; } = name;

    public Type StartupType { get; } = startupType;
}

public interface ILashupPlugin;
