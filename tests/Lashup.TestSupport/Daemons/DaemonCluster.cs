using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>Real <c>lashup</c> daemons on loopback, each with its own config and data folder; all killed on dispose.</summary>
public sealed class DaemonCluster : IDisposable
{
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(30);
    private readonly string _root = Directory.CreateTempSubdirectory("lashup-cluster-").FullName;

    public List<Daemon> Nodes { get; } = [];

    /// <summary>Adds a daemon; <paramref name="extraToml"/> is appended to its config (e.g. a [dns] section).</summary>
    public Daemon Add(string? keyring = null, IEnumerable<Daemon>? seeds = null, string coreAddress = "127.0.0.1", string extraToml = "", string kvSyncInterval = "1s")
    {
        var index = Nodes.Count + 1;
        var daemon = new Daemon($"node-{index}", TestEnvironment.FreePort(), TestEnvironment.FreePort(), Path.Combine(_root, $"node-{index}")) { CoreAddress = coreAddress };
        Directory.CreateDirectory(daemon.Folder);
        var seedList = string.Join(", ", (seeds ?? Nodes.Take(1)).Select(s => $"\"{s.CoreAddress}:{s.CorePort}\""));
        File.WriteAllText(daemon.ConfigPath, TestEnvironment.NodeToml(daemon.Name, "it", $"127.0.0.1:{daemon.AdminPort}", $"{coreAddress}:{daemon.CorePort}") + $"""
            seeds = [{seedList}]
            join_retry_interval = "500ms"
            relink_interval = "3s"
            kv_sync_interval = "{kvSyncInterval}"
            keyring = [{(keyring is null ? "" : $"\"{keyring}\"")}]

            """ + extraToml);
        Nodes.Add(daemon);
        return daemon;
    }

    public void StartAll()
    {
        foreach (var node in Nodes.Where(n => n.Process is null))
        {
            node.Process = LashupProcess.Start("run", "--config", node.ConfigPath);
        }
    }

    /// <summary>Starts <paramref name="node"/> again (after a kill) with the same config and data folder.</summary>
    public void Restart(Daemon node)
    {
        node.Process?.Dispose();
        node.ExpectedExit = false;
        node.Process = LashupProcess.Start("run", "--config", node.ConfigPath);
    }

    /// <summary>Runs <c>lashup members --json</c> against <paramref name="node"/>: name → state.</summary>
    public static async Task<Dictionary<string, string>> MembersAsync(Daemon node)
    {
        var (code, output) = await LashupProcess.RunAsync(CliTimeout, "members", "--json", "--api", $"127.0.0.1:{node.AdminPort}");
        if (code != 0)
        {
            return [];
        }

        var json = output.Split('\n').First(l => l.StartsWith('{'));
        return JsonDocument.Parse(json).RootElement.GetProperty("members").EnumerateArray()
            .ToDictionary(m => m.GetProperty("name").GetString()!, m => m.GetProperty("state").GetString()!);
    }

    public static async Task<string> CliAsync(params string[] args)
    {
        var (code, output) = await LashupProcess.RunAsync(CliTimeout, args);
        Assert.True(code == 0, $"lashup {string.Join(' ', args)} exited {code}: {output}");
        return output;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public async Task<bool> WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var node in Nodes.Where(n => !n.ExpectedExit && n.Process is { HasExited: true }))
            {
                throw new InvalidOperationException($"{node.Name} exited with {node.Process!.ExitCode}:\n{node.Process.Output}");
            }

            if (await condition())
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }

    public string Logs() => string.Join("\n", Nodes.Select(n => $"--- {n.Name}\n{n.Process?.Output}"));

    public void Dispose()
    {
        // Every daemon is killed even if one of them fails to go quietly.
        foreach (var node in Nodes)
        {
            try
            {
                node.Process?.Dispose();
            }
            catch (InvalidOperationException)
            {
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public sealed class Daemon(string name, int corePort, int adminPort, string folder)
    {
        public string Name { get; } = name;

        public int CorePort { get; } = corePort;

        public int AdminPort { get; } = adminPort;

        public string Folder { get; } = folder;

        public string ConfigPath => Path.Combine(Folder, "lashup.toml");

        public string Api => $"127.0.0.1:{AdminPort}";

        public string CoreAddress { get; init; } = "127.0.0.1";

        public LashupProcess? Process { get; set; }

        public bool ExpectedExit { get; set; }
    }
}
