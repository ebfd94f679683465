using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Host.Configuration;

namespace Lashup.Host.Cli;

/// <summary><c>lashup plugins</c>: what is installed and what the config selects.</summary>
internal static class PluginsCommand
{
    public sealed record Row(string Capability, string Name, string Version, bool Selected, string Folder);

    public sealed record Output(IReadOnlyList<Row> Plugins, IReadOnlyList<string> Problems);

    public static int Run(string? configPath, bool json, TextWriter stdout, TextWriter stderr)
    {
        var errors = new List<ConfigException>();
        LoadedConfiguration config;
        try
        {
            config = ConfigLoader.Load(configPath, errors);
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
            stdout.WriteLine(JsonSerializer.Serialize(new Output(rows, problems), AdminJson.Options));
        }
        else
        {
            stdout.WriteLine($"plugin directories: {string.Join(", ", config.Catalog.Directories)}");
            Table.Write(stdout, ["CAPABILITY", "NAME", "VERSION", "SELECTED", "FOLDER"],
                rows.Select(r => (IReadOnlyList<string>)[r.Capability, r.Name, r.Version, r.Selected ? "yes" : "no", r.Folder]));
            foreach (var p in problems)
            {
                stderr.WriteLine($"error: {p}");
            }
        }

        return problems.Count == 0 ? 0 : Daemon.ExitBadInput;
    }
}
