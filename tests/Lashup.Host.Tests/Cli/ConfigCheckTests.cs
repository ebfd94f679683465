using System.Net;
using System.Net.Sockets;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Cli;

/// <summary>
/// <c>lashup config check</c> on each kind of bad input: one clear line naming file:line:column or the key, exit 2.
/// Runs the command's code in-process (the same code path as the CLI); one test runs the real binary.
/// </summary>
public sealed class ConfigCheckTests
{
    public static TheoryData<string, string, string> BadConfigs => new()
    {
        {
            "malformed TOML",
            "[fixture\ngreeting = \"hi\"\n",
            "lashup.toml:11:"
        },
        {
            "unknown top-level section, nearest suggested",
            "[fixtur]\ngreeting = \"hi\"\n",
            "lashup.toml:11:1: unknown section [fixtur]; known sections: admin, core, dns, fixture, loadbalancer, logging, node, overlay, plugins; did you mean [fixture]?"
        },
        {
            "unknown key in a host section, nearest suggested",
            "[logging]\nlevle = \"debug\"\n",
            "lashup.toml:12:1: logging.levle: unknown key \"levle\"; did you mean \"level\"?"
        },
        {
            "unknown key in a plugin section, nearest suggested",
            "[fixture]\ngreetng = \"hi\"\n",
            "lashup.toml:12:1: fixture.greetng: unknown key \"greetng\"; did you mean \"greeting\"?"
        },
        {
            "wrong type",
            "[fixture]\ncount = \"x\"\n",
            "lashup.toml:12:1: fixture.count: expected an integer (-2147483648..2147483647), got \"x\""
        },
        {
            "wrong type in a host section",
            "[logging]\nlevel = 3\n",
            "lashup.toml:12:1: logging.level: expected one of \"trace\", \"debug\", \"information\", \"warning\", \"error\", got \"3\""
        },
        {
            "bad duration",
            "[fixture]\ninterval = \"5 parsecs\"\n",
            "lashup.toml:12:1: fixture.interval: "
        },
        {
            "unknown backend name lists the known ones",
            "[fixture]\nbackend = \"beta\"\n",
            "lashup.toml:12:1: fixture.backend: unknown plugin \"beta\"; known: alpha"
        },
        {
            "unknown key in a backend's section",
            "[fixture]\nbackend = \"alpha\"\n[fixture.alpha]\ndept = 4\n",
            "lashup.toml:14:1: fixture.alpha.dept: unknown key \"dept\"; did you mean \"depth\"?"
        },
        {
            "enabled that is not a boolean",
            "[fixture]\nenabled = \"yes\"\n",
            "lashup.toml:12:1: fixture.enabled: expected true or false, got \"yes\""
        },
        {
            "an enabled subsystem with no plugin installed",
            "[dns]\nenabled = true\n",
            "lashup.toml:11:1: [dns] is enabled but no plugin provides capability \"dns\""
        },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Check_BadConfig_PrintsOneLocatedLineAndExits2(string what, string body, string expected)
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Backend");
        var path = setup.WriteConfig(body);

        var (code, stdout, stderr) = Check(path);

        Assert.True(code == 2, $"{what}: exit {code}, stderr: {stderr}");
        Assert.Equal(string.Empty, stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 1, what);
        Assert.Contains(lines, l => l.StartsWith("error: ", StringComparison.Ordinal) && l.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Check_MemoryTrimIntervalOverADay_LocatedError()
    {
        using var setup = new TempSetup("Fixture.Good");
        var path = setup.WriteConfig($"""
            [node]
            name = "test-node"
            memory_trim_interval = "2d"

            [admin]
            listen = "127.0.0.1:{TestEnvironment.FreePort()}"

            [plugins]
            directories = ["plugins"]
            """, header: false);

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains("lashup.toml:3:1: node.memory_trim_interval: at most 24h (0 turns it off), got \"2d\"", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DuplicatePlugins_NamesBothFolders()
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Duplicate");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("both claim fixture/good; remove one", stderr, StringComparison.Ordinal);
        Assert.Contains($"plugins {Path.Combine(setup.PluginsDir, "Fixture.Duplicate")} and {Path.Combine(setup.PluginsDir, "Fixture.Good")} both claim", stderr, StringComparison.Ordinal);
        Assert.Contains("lashup.toml:10:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_PluginBuiltAgainstOtherMajor_IsRefused()
    {
        using var setup = new TempSetup("Fixture.WrongMajor");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("plugin fixture/wrong-major in ", stderr, StringComparison.Ordinal);
        Assert.Contains("was built against Lashup.Abstractions 2.x but this host provides 1.x", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_PluginShippingItsOwnAbstractions_IsRefused()
    {
        using var setup = new TempSetup("Fixture.ShipsAbstractions");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("ships its own Lashup.Abstractions.dll, Microsoft.Extensions.", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingPluginFolder_NamesIt()
    {
        using var setup = new TempSetup();
        var path = setup.WriteConfig("", header: false);
        File.WriteAllText(path, "[plugins]\ndirectories = [\"nowhere\"]\n");

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains($"lashup.toml:2:1: plugin directory {Path.Combine(setup.Root, "nowhere")} does not exist", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingFile_SaysSo()
    {
        var (code, _, stderr) = Check("/nonexistent/lashup.toml");

        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/lashup.toml", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AdminPortInUse_SaysWhich()
    {
        using var setup = new TempSetup("Fixture.Good");
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var port = ((IPEndPoint)squatter.LocalEndPoint!).Port;

        var (code, _, stderr) = Check(setup.WriteConfig("[fixture]\n", port));

        Assert.Equal(2, code);
        Assert.Contains($"lashup.toml:7:1: admin.listen: 127.0.0.1:{port} is already in use by another process", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AdminOffLoopbackWithoutToken_IsRefused()
    {
        using var setup = new TempSetup();
        var path = setup.WriteConfig("", header: false);
        File.WriteAllText(path, "[admin]\nlisten = \"0.0.0.0:9470\"\n[plugins]\ndirectories = [\"plugins\"]\n");

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains("admin.listen: 0.0.0.0:9470 is not a loopback address, so admin.token must be set", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_GoodConfig_SaysOkAndListsSelection()
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Backend");
        var (code, stdout, stderr) = Check(setup.WriteConfig("[fixture]\ngreeting = \"hi\"\nbackend = \"alpha\"\n[fixture.alpha]\ndepth = 5\n"));

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (2 plugin(s) selected: fixture/good, fixture.backend/alpha)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DisabledSubsystem_SelectsNothing()
    {
        using var setup = new TempSetup("Fixture.Good");
        var (code, stdout, stderr) = Check(setup.WriteConfig("[fixture]\nenabled = false\n"));

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (0 plugin(s) selected)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ShippedReferenceConfig_IsValid()
    {
        var (code, stdout, stderr) = Check(Path.Combine(TestEnvironment.RepoRoot, "config", "lashup.toml"));

        Assert.True(code == 0, stderr);
        Assert.Contains("ok", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_RealBinary_BadInputExits2WithLocatedError()
    {
        using var setup = new TempSetup("Fixture.Good");
        var path = setup.WriteConfig("[fixture]\ncount = \"x\"\n");

        var (code, output) = await LashupProcess.RunAsync(TimeSpan.FromSeconds(60), "config", "check", path);

        Assert.Equal(2, code);
        Assert.Contains($"error: {path}:12:1: fixture.count: expected an integer", output, StringComparison.Ordinal);
    }

    private static (int Code, string Stdout, string Stderr) Check(string path)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = Daemon.Check(path, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
