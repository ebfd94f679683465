using System.Net;
using System.Text.RegularExpressions;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Plugins;

/// <summary>
/// The out-of-tree example plugin (examples/static-records) loaded by the real host through its own example TOML,
/// its records served by the real DNS plugin and read with dig. ./test.sh builds the example before these run.
/// </summary>
public sealed partial class ExamplePluginTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly string ExampleDir = Path.Combine(TestEnvironment.RepoRoot, "examples", "static-records");
    private static readonly string ExampleToml = Path.Combine(ExampleDir, "lashup.toml");

    private static void RequireBuiltExample() =>
        Assert.True(File.Exists(Path.Combine(ExampleDir, "artifacts", "plugins", "StaticRecords", "StaticRecords.dll")),
            "the example plugin is not built: dotnet build examples/static-records/static-records.sln (./test.sh does it)");

    [Fact]
    public async Task ConfigCheck_ExampleToml_SelectsTheVendorPluginAsADnsSource()
    {
        RequireBuiltExample();

        var (code, output) = await LashupProcess.RunAsync(Timeout, "config", "check", ExampleToml);

        Assert.True(code == 0, output);
        Assert.Contains("dns.sources/static-records", output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Run_ExampleToml_ServesTheVendorRecordsThroughTheDnsPlugin()
    {
        Dig.SkipIfMissing();
        RequireBuiltExample();
        // The example file as shipped, with only its ports and data folder moved so the test runs beside anything.
        var root = Directory.CreateTempSubdirectory("lashup-example-").FullName;
        try
        {
            var (admin, core, dns) = (TestEnvironment.FreePort(), TestEnvironment.FreePort(), TestEnvironment.FreePort());
            var text = File.ReadAllText(ExampleToml)
                .Replace("127.0.0.1:9471", $"127.0.0.1:{admin}", StringComparison.Ordinal)
                .Replace("127.0.0.1:7471", $"127.0.0.1:{core}", StringComparison.Ordinal)
                .Replace("127.0.0.1:8054", $"127.0.0.1:{dns}", StringComparison.Ordinal)
                .Replace("\"../../artifacts/plugins\", \"artifacts/plugins\"",
                    $"\"{Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins")}\", \"{Path.Combine(ExampleDir, "artifacts", "plugins")}\"", StringComparison.Ordinal);
            text = DataDir().Replace(text, "data_dir = \"data\"");
            var config = Path.Combine(root, "lashup.toml");
            await File.WriteAllTextAsync(config, text);
            using var daemon = LashupProcess.Start("run", "--config", config);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}/"), Timeout = TimeSpan.FromSeconds(5) };

            var deadline = DateTime.UtcNow + Timeout;
            while (DateTime.UtcNow < deadline && !daemon.HasExited && !await IsReadyAsync(http))
            {
                await Task.Delay(200);
            }

            Assert.True(await IsReadyAsync(http), daemon.Output);
            Assert.Equal(["10.0.0.5", "10.0.0.6"], (await Dig.RunAsync(dns, tries: 2, "+short", "db.lashup.directory")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
            Assert.Equal("10 5 5432 db.lashup.directory.", (await Dig.RunAsync(dns, tries: 2, "+short", "_postgres._tcp.db.lashup.directory", "SRV")).Trim());
            Assert.Equal("\"owner=team-data\"", (await Dig.RunAsync(dns, tries: 2, "+short", "db.lashup.directory", "TXT")).Trim());
            Assert.Equal("web.lashup.directory.", (await Dig.RunAsync(dns, tries: 2, "+short", "www.lashup.directory")).Trim());

            daemon.Terminate();
            await daemon.WaitForExitAsync(Timeout);
            Assert.True(daemon.ExitCode == 0, daemon.Output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<bool> IsReadyAsync(HttpClient http)
    {
        try
        {
            return (await http.GetAsync("/ready")).StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    [GeneratedRegex("^data_dir = .*$", RegexOptions.Multiline)]
    private static partial Regex DataDir();
}
