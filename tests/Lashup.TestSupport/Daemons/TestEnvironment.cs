using System.Net;
using System.Net.Sockets;

namespace Lashup.Host.Tests.Support;

/// <summary>Paths of the build and helpers shared by tests.</summary>
public static class TestEnvironment
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string HostDll => Path.Combine(RepoRoot, "artifacts", "bin", "lashup", "lashup.dll");

    /// <summary>What <c>LASHUP_SYSTEM_CONFIG</c> is set to for tests: no file, so no machine's /etc/lashup/lashup.toml is read.</summary>
    public const string NoSystemConfig = "/nonexistent/lashup-tests/lashup.toml";

    /// <summary>What <c>LASHUP_VENDOR_PLUGINS</c> is set to for tests: no folder, so no machine's vendor plugins load.</summary>
    public const string NoVendorPlugins = "/nonexistent/lashup-tests/plugins.d";

    /// <summary>
    /// Points this test process's own <c>LASHUP_SYSTEM_CONFIG</c> and <c>LASHUP_VENDOR_PLUGINS</c> away from the
    /// machine, for in-process calls that use <c>InstallLayout.Current</c> (<c>Daemon.Check(path, ...)</c>,
    /// <c>ConfigLoader.Load(path, errors)</c>); a test project calls it from a module initializer.
    /// </summary>
    public static void IsolateFromMachine()
    {
        Environment.SetEnvironmentVariable("LASHUP_SYSTEM_CONFIG", NoSystemConfig);
        Environment.SetEnvironmentVariable("LASHUP_VENDOR_PLUGINS", NoVendorPlugins);
    }

    public static string FixturePlugin(string name) => Path.Combine(RepoRoot, "artifacts", "test-plugins", name);

    /// <summary>
    /// The start of a daemon's config that the daemon tests share: <c>[node]</c> (data in <c>data</c>, a 5 s shutdown),
    /// <c>[admin]</c> on <paramref name="admin"/>, <c>[plugins]</c> from the repository's build, and <c>[core]</c>
    /// listening on <paramref name="core"/>; the caller appends more <c>[core]</c> keys, then its own sections.
    /// </summary>
    public static string NodeToml(string name, string cluster, string admin, string core) => $"""
        [node]
        name = "{name}"
        cluster = "{cluster}"
        data_dir = "data"
        shutdown_timeout = "5s"

        [admin]
        listen = "{admin}"

        [plugins]
        directories = ["{Path.Combine(RepoRoot, "artifacts", "plugins")}"]

        [core]
        listen = "{core}"


        """;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="command"/> is an executable on the PATH.</summary>
    public static bool HasCommand(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, command)));

    /// <summary>
    /// A port free on 127.0.0.1 for TCP and UDP right now, from below Linux's ephemeral range (32768-60999): a port the
    /// kernel handed out for <c>bind(0)</c> is also what any process's next outgoing connection may take as its local
    /// port before the daemon that was given it binds it (seen: "admin.listen ... is already in use" while other test
    /// assemblies ran). Each test process walks 20000-32767 from a random start and never hands a port out twice.
    /// </summary>
    public static int FreePort()
    {
        lock (PortGate)
        {
            for (var tries = 0; tries < PortRangeEnd - PortRangeStart; tries++)
            {
                var port = PortRangeStart + (_nextPort++ - PortRangeStart) % (PortRangeEnd - PortRangeStart);
                if (CanBind(port))
                {
                    return port;
                }
            }

            throw new InvalidOperationException($"no free port on 127.0.0.1 in {PortRangeStart}-{PortRangeEnd - 1}");
        }
    }

    private const int PortRangeStart = 20000;
    private const int PortRangeEnd = 32768;
    private static readonly Lock PortGate = new();
    private static int _nextPort = PortRangeStart + Random.Shared.Next(PortRangeEnd - PortRangeStart);

    private static bool CanBind(int port)
    {
        try
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lashup.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find Lashup.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A temporary folder with a plugins/ sub-folder assembled from fixtures, and a config file. Deleted on dispose.</summary>
public sealed class TempSetup : IDisposable
{
    public TempSetup(params string[] fixtures)
    {
        Root = Directory.CreateTempSubdirectory("lashup-test-").FullName;
        PluginsDir = Path.Combine(Root, "plugins");
        Directory.CreateDirectory(PluginsDir);
        foreach (var fixture in fixtures)
        {
            AddPlugin(fixture);
        }
    }

    public string Root { get; }

    public string PluginsDir { get; }

    public string ConfigPath => Path.Combine(Root, "lashup.toml");

    /// <summary>Copies a built fixture into plugins/<paramref name="folderName"/> (default: the fixture's own name).</summary>
    public void AddPlugin(string fixture, string? folderName = null)
    {
        var source = TestEnvironment.FixturePlugin(fixture);
        if (!Directory.Exists(source))
        {
            throw new InvalidOperationException($"fixture {fixture} is not built at {source}");
        }

        var target = Path.Combine(PluginsDir, folderName ?? fixture);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
        {
            var name = Path.GetFileName(file);
            if (folderName is not null && name.StartsWith(fixture + ".", StringComparison.Ordinal))
            {
                name = folderName + name[fixture.Length..];
            }

            File.Copy(file, Path.Combine(target, name));
        }
    }

    /// <summary>Writes the config: a [node], [admin] and [plugins] header pointing at this setup, then <paramref name="body"/>.</summary>
    public string WriteConfig(string body, int? adminPort = null, bool header = true)
    {
        var text = header
            ? $"""
              [node]
              name = "test-node"
              data_dir = "data"
              shutdown_timeout = "5s"

              [admin]
              listen = "127.0.0.1:{adminPort ?? TestEnvironment.FreePort()}"

              [plugins]
              directories = ["plugins"]

              """ + body
            : body;
        File.WriteAllText(ConfigPath, text);
        return ConfigPath;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
