using System.Diagnostics;
using System.Net;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Plugins;

/// <summary>
/// A vendor plugin built against the contract as shipped (abstractions/Lashup.Abstractions/shipped/, 1.0) keeps
/// loading into the current host: the example plugin's sources are compiled in a project outside the repository, as a
/// vendor's would be, against that reference assembly and the pinned Microsoft.Extensions packages, then served by
/// the current daemon and read with dig. The build itself compares the contract with the same assembly (ApiCompat,
/// Lashup.Abstractions.csproj); this test is the end-to-end half: binding, loading, running.
/// </summary>
public sealed class ContractCompatibilityTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(4);

    [SkippableFact]
    public async Task VendorPluginBuiltAgainstShippedContract_LoadsIntoCurrentHostAndServes()
    {
        Dig.SkipIfMissing();
        var repo = TestEnvironment.RepoRoot;
        var contract = Path.Combine(repo, "abstractions", "Lashup.Abstractions", "shipped", "Lashup.Abstractions.1.0.dll");
        Assert.True(File.Exists(contract), $"{contract} is missing");
        var root = Directory.CreateTempSubdirectory("lashup-vendor-").FullName;
        try
        {
            var project = Path.Combine(root, "vendor", "StaticRecords.csproj");
            Directory.CreateDirectory(Path.GetDirectoryName(project)!);
            await File.WriteAllTextAsync(project, VendorProject(repo, contract));
            var plugins = Path.Combine(root, "plugins");
            var (code, output) = await RunAsync("dotnet", ["build", project, "-nologo", "-v", "quiet", "-o", Path.Combine(plugins, "StaticRecords")], BuildTimeout);
            Assert.True(code == 0, $"the vendor project did not build against the shipped contract:\n{output}");
            Assert.False(File.Exists(Path.Combine(plugins, "StaticRecords", "Lashup.Abstractions.dll")), "the plugin folder carries the contract");

            var (admin, core, dns) = (TestEnvironment.FreePort(), TestEnvironment.FreePort(), TestEnvironment.FreePort());
            var config = Path.Combine(root, "lashup.toml");
            await File.WriteAllTextAsync(config, $$"""
                [node]
                name = "node-1"
                data_dir = "data"
                [admin]
                listen = "127.0.0.1:{{admin}}"
                [plugins]
                directories = ["{{Path.Combine(repo, "artifacts", "plugins")}}", "{{plugins}}"]
                [core]
                listen = "127.0.0.1:{{core}}"
                [dns]
                listen = ["127.0.0.1:{{dns}}"]
                sources = ["static-records"]
                [dns.static-records]
                records = [{ name = "db.lashup.directory", type = "A", address = "10.0.0.5" }]

                """);
            using var daemon = LashupProcess.Start("run", "--config", config);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}/"), Timeout = TimeSpan.FromSeconds(5) };
            var deadline = DateTime.UtcNow + Timeout;
            while (DateTime.UtcNow < deadline && !daemon.HasExited && !await IsReadyAsync(http))
            {
                await Task.Delay(200);
            }

            Assert.True(await IsReadyAsync(http), daemon.Output);
            Assert.Equal("10.0.0.5", (await Dig.RunAsync(dns, tries: 2, "+short", "db.lashup.directory")).Trim());
            daemon.Terminate();
            await daemon.WaitForExitAsync(Timeout);
            Assert.True(daemon.ExitCode == 0, daemon.Output);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>A vendor's project: the example's sources, the contract by reference (never copied), the plugin rules.</summary>
    private static string VendorProject(string repo, string contract)
    {
        var sources = Path.Combine(repo, "examples", "static-records", "src", "StaticRecords");
        var packages = string.Join("\n", new[]
        {
            "Microsoft.Extensions.Configuration.Abstractions", "Microsoft.Extensions.Configuration.Binder",
            "Microsoft.Extensions.DependencyInjection.Abstractions", "Microsoft.Extensions.Logging.Abstractions",
            "Microsoft.Extensions.Options", "Microsoft.Extensions.Options.ConfigurationExtensions",
        }.Select(p => $"""    <PackageReference Include="{p}" Version="10.0.12" />"""));
        return $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <AssemblyName>StaticRecords</AssemblyName>
                <EnableDefaultCompileItems>false</EnableDefaultCompileItems>
              </PropertyGroup>
              <ItemGroup>
                <Compile Include="{sources}/*.cs" />
                <Reference Include="Lashup.Abstractions" HintPath="{contract}" Private="false" />
            {packages}
              </ItemGroup>
              <Import Project="{Path.Combine(repo, "abstractions", "Lashup.Abstractions", "build", "Lashup.Plugin.targets")}" />
            </Project>
            """;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}\n{await stdout}{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
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
}
