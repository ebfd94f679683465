using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Host.Configuration;

namespace Lashup.Host.Cli;

/// <summary><c>lashup plugins</c>: what is installed and what the config selects.</summary>
internal static class PluginsCommand
{
    public sealed record Row(string Capability, string Name, string Version, bool Selected, string Folder);

    public sealed record Directory(string Path, string Source);

    public sealed record Output(string Config, IReadOnlyList<Directory> Directories, IReadOnlyList<Row> Plugins, IReadOnlyList<string> Problems, IReadOnlyList<string> Warnings);

    public static int Run(string? configPath, bool json, TextWriter stdout, TextWriter stderr, InstallLayout? layout = null)
    {
        var errors = new List<ConfigException>();
        LoadedConfiguration config;
        try
        {
            config = ConfigLoader.Load(configPath, errors, layout);
        }
        catch (ConfigException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Daemon.ExitBadInput;
        }

        var rows = config.Catalog.Plugins
            .Select(p => new Row(p.Capability, p.Name, p.Version.ToString(3), config.Selected.Any(s => s.Descriptor == p), p.Folder))
            .ToList();
        var problems = errors.Select(e => e.Message).ToList();
        if (json)
        {
            var directories = config.PluginDirectories.Select(d => new Directory(d.Path, d.SourceName)).ToList();
            stdout.WriteLine(JsonSerializer.Serialize(new Output(config.DisplayName, directories, rows, problems, config.Warnings), AdminJson.Options));
        }
        else
        {
            stdout.WriteLine(config.Source == config.DisplayName || config.Source == "embedded default"
                ? $"config: {config.DisplayName}"
                : $"config: {config.DisplayName} (from {config.Source})");
            stdout.WriteLine($"plugin directories: {string.Join(", ", config.PluginDirectories.Select(d => $"{d.Path} ({d.SourceName})"))}");
            Table.Write(stdout, ["CAPABILITY", "NAME", "VERSION", "SELECTED", "FOLDER"],
                rows.Select(r => (IReadOnlyList<string>)[r.Capability, r.Name, r.Version, r.Selected ? "yes" : "no", r.Folder]));
            foreach (var w in config.Warnings)
            {
                stderr.WriteLine($"warning: {w}");
            }

            foreach (var p in problems)
            {
                stderr.WriteLine($"error: {p}");
            }
        }

        return problems.Count == 0 ? 0 : Daemon.ExitBadInput;
    }
}
