using System.Net;
using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Cli;

/// <summary>The real daemon: starts, serves the admin API, runs plugin lifecycles in order, stops on SIGTERM with exit 0.</summary>
public sealed class RunTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Run_WithFixturePlugin_ServesAdminApiAndStopsCleanlyOnSigterm()
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Backend");
        var marker = Path.Combine(setup.Root, "marker.txt");
        var port = TestEnvironment.FreePort();
        var config = setup.WriteConfig($"[fixture]\ngreeting = \"hi\"\ncount = 3\ninterval = \"1m30s\"\nmarker_file = \"{marker}\"\nbackend = \"alpha\"\n", port);
        using var daemon = LashupProcess.Start("run", "--config", config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

        await WaitUntilAsync(async () => (await TryGet(http, "/ready"))?.StatusCode == HttpStatusCode.OK, daemon);

        Assert.Equal("ok\n", await http.GetStringAsync("/health"));
        var status = JsonDocument.Parse(await http.GetStringAsync("/v1/status")).RootElement;
        Assert.Equal("test-node", status.GetProperty("node").GetString());
        Assert.True(status.GetProperty("ready").GetBoolean());
        var plugins = status.GetProperty("plugins").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["good", "alpha"], plugins);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("# TYPE lashup_host_uptime_seconds gauge", metrics, StringComparison.Ordinal);
        Assert.Contains("lashup_host_plugins{capability=\"fixture\",name=\"good\"} 1", metrics, StringComparison.Ordinal);

        var (code, output) = await LashupProcess.RunAsync(Timeout, "status", "--api", $"http://127.0.0.1:{port}");
        Assert.True(code == 0, output);
        Assert.Contains("node test-node (cluster lashup)", output, StringComparison.Ordinal);
        Assert.Contains("fixture.backend  alpha", output, StringComparison.Ordinal);

        daemon.Terminate();
        await daemon.WaitForExitAsync(Timeout);

        Assert.True(daemon.ExitCode == 0, daemon.Output);
        Assert.Equal(["started hi x3 every 1m30s", "stopped"], File.ReadAllLines(marker));
    }

    [Fact]
    public async Task Run_ParticipantFailsToStart_ExitsNonZeroWithItsMessage()
    {
        using var setup = new TempSetup("Fixture.Good");
        var config = setup.WriteConfig("[fixture]\nfail_start = true\n");
        using var daemon = LashupProcess.Start("run", "--config", config);

        await daemon.WaitForExitAsync(Timeout);

        Assert.Equal(1, daemon.ExitCode);
        Assert.Contains("fixture.marker failed to start: told to fail", daemon.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_AdminPortInUse_Exits2NamingThePort()
    {
        using var setup = new TempSetup("Fixture.Good");
        using var squatter = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var config = setup.WriteConfig("[fixture]\n", port);
        using var daemon = LashupProcess.Start("run", "--config", config);

        await daemon.WaitForExitAsync(Timeout);

        Assert.Equal(2, daemon.ExitCode);
        Assert.Contains($"admin.listen: 127.0.0.1:{port} is already in use", daemon.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ListenAddressUsedTwice_Exits2BeforeAnyPluginStarts()
    {
        using var setup = new TempSetup("Fixture.Good");
        var marker = Path.Combine(setup.Root, "marker.txt");
        var port = TestEnvironment.FreePort();
        var config = WriteConfigWithBuiltInPlugins(setup, $"""
            [core]
            listen = "127.0.0.1:{port}"
            [dns]
            listen = ["127.0.0.1:{port}"]
            [fixture]
            marker_file = "{marker}"
            """);
        using var daemon = LashupProcess.Start("run", "--config", config);

        await daemon.WaitForExitAsync(Timeout);

        Assert.True(daemon.ExitCode == 2, daemon.Output);
        Assert.Contains($"error: {config}:13:11: dns.listen[0]: 127.0.0.1:{port} is also core.listen (both bind UDP and TCP there)", daemon.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Lashup.Core", daemon.Output, StringComparison.Ordinal); // the core logs as it starts
        Assert.False(Directory.Exists(Path.Combine(setup.Root, "data", "core")), "the core started");
        Assert.False(File.Exists(marker), "the fixture plugin started");
    }

    [Fact]
    public async Task Run_DataDirCannotBeCreated_Exits2BeforeAnyPluginStarts()
    {
        using var setup = new TempSetup("Fixture.Good");
        var marker = Path.Combine(setup.Root, "marker.txt");
        var file = Path.Combine(setup.Root, "afile");
        File.WriteAllText(file, "not a folder\n");
        var config = WriteConfigWithBuiltInPlugins(setup, $"""
            [core]
            listen = "127.0.0.1:0"
            [fixture]
            marker_file = "{marker}"
            """, dataDir: "afile/sub");
        using var daemon = LashupProcess.Start("run", "--config", config);

        await daemon.WaitForExitAsync(Timeout);

        Assert.True(daemon.ExitCode == 2, daemon.Output);
        Assert.Contains($"error: {config}:3:1: node.data_dir: cannot create {file}/sub: {file} is a file", daemon.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Lashup.Core", daemon.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(marker), "the fixture plugin started");
    }

    [Fact]
    public async Task Status_NoDaemon_Exits1WithClearMessage()
    {
        var port = TestEnvironment.FreePort();

        var (code, output) = await LashupProcess.RunAsync(Timeout, "status", "--api", $"127.0.0.1:{port}");

        Assert.Equal(1, code);
        Assert.Contains($"lashup: no Lashup daemon answers at http://127.0.0.1:{port}/", output, StringComparison.Ordinal);
        Assert.Contains("is `lashup run` running?", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WithToken_RefusesRequestsWithoutIt()
    {
        using var setup = new TempSetup("Fixture.Good");
        var port = TestEnvironment.FreePort();
        var config = setup.WriteConfig("[fixture]\n", port);
        File.AppendAllText(config, "");
        File.WriteAllText(config, File.ReadAllText(config).Replace($"listen = \"127.0.0.1:{port}\"", $"listen = \"127.0.0.1:{port}\"\ntoken = \"s3cret\"", StringComparison.Ordinal));
        using var daemon = LashupProcess.Start("run", "--config", config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

        await WaitUntilAsync(async () => (await TryGet(http, "/health"))?.StatusCode == HttpStatusCode.OK, daemon);

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/status")).StatusCode);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        daemon.Terminate();
        await daemon.WaitForExitAsync(Timeout);
        Assert.Equal(0, daemon.ExitCode);
    }

    /// <summary>A config with the fixture plugins and the built-in ones (core, dns); <paramref name="body"/> starts at line 10.</summary>
    private static string WriteConfigWithBuiltInPlugins(TempSetup setup, string body, string dataDir = "data")
    {
        var builtIn = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins");
        Assert.True(Directory.Exists(Path.Combine(builtIn, "Lashup.Plugins.Core")), $"the built-in plugins are not built in {builtIn}: dotnet build Lashup.sln (./test.sh does it)");
        return setup.WriteConfig($"""
            [node]
            name = "test-node"
            data_dir = "{dataDir}"
            shutdown_timeout = "5s"
            [admin]
            listen = "127.0.0.1:{TestEnvironment.FreePort()}"
            [plugins]
            directories = ["plugins", "{builtIn}"]


            """ + body + "\n", header: false);
    }

    private static async Task<HttpResponseMessage?> TryGet(HttpClient http, string path)
    {
        try
        {
            return await http.GetAsync(path);
        }
        catch (HttpRequestException)
        {
            return null;
        }
        catch (TaskCanceledException)
        {
            return null;
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, LashupProcess daemon)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (daemon.HasExited)
            {
                throw new InvalidOperationException($"lashup exited with {daemon.ExitCode}:\n{daemon.Output}");
            }

            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"condition not met within {Timeout}; output:\n{daemon.Output}");
    }
}
