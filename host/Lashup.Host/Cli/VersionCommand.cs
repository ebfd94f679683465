using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using Lashup.Host.Plugins;

namespace Lashup.Host.Cli;

/// <summary>
/// <c>lashup --version</c> and <c>lashup version</c>: the host's version and the plugin contract (the major of
/// Lashup.Abstractions) its plugins must be built against.
/// </summary>
internal static class VersionCommand
{
    /// <summary>The host's version, e.g. <c>0.1.0</c>: the informational version without its build metadata (the commit).</summary>
    public static string Version { get; } = Describe(typeof(VersionCommand).Assembly);

    /// <summary>What <c>lashup --version</c> prints, e.g. <c>lashup 0.1.0 (plugin contract 1)</c>.</summary>
    public static string Line => $"lashup {Version} (plugin contract {PluginCatalog.HostAbstractionsMajor})";

    /// <summary>Adds the <c>version</c> command and makes the root's built-in <c>--version</c> print <see cref="Line"/>.</summary>
    public static void AddTo(RootCommand root)
    {
        var action = new PrintAction();
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = action;
        }

        var command = new Command("version", "Show this lashup's version and plugin contract");
        command.SetAction(parse => action.Invoke(parse));
        root.Subcommands.Add(command);
    }

    internal static string Describe(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return informational is { Length: > 0 }
            ? informational.Split('+')[0]
            : assembly.GetName().Version?.ToString(3) ?? "0.0.0";
    }

    private sealed class PrintAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine(Line);
            return 0;
        }
    }
}
