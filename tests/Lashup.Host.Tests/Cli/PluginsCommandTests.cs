using System.Text.Json;
using Lashup.Host.Cli;
using Lashup.Host.Configuration;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Cli;

/// <summary>
/// A plugin in two folders, the built-in one first: <c>lashup plugins</c> and <c>config check</c> show the later copy
/// as a warning, load the built-in one and succeed.
/// </summary>
public sealed class PluginsCommandTests
{
    [Fact]
    public void Run_PluginShadowedByBuiltIn_ListsTheBuiltInAndWarns()
    {
        using var setup = new TempSetup("Fixture.Good");
        var (path, shadowed, layout) = Shadowed(setup);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = PluginsCommand.Run(path, json: false, stdout, stderr, layout);

        Assert.True(code == 0, stderr.ToString());
        Assert.Contains(Path.Combine(setup.PluginsDir, "Fixture.Good"), stdout.ToString(), StringComparison.Ordinal);
        Assert.Equal(
            $"warning: plugin fixture/good in {shadowed} is shadowed by the built-in one in {Path.Combine(setup.PluginsDir, "Fixture.Good")}; it is not loaded",
            stderr.ToString().TrimEnd());
    }

    [Fact]
    public void Run_Json_HasTheWarnings()
    {
        using var setup = new TempSetup("Fixture.Good");
        var (path, shadowed, layout) = Shadowed(setup);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = PluginsCommand.Run(path, json: true, stdout, stderr, layout);

        Assert.True(code == 0, stderr.ToString());
        using var json = JsonDocument.Parse(stdout.ToString());
        var warning = Assert.Single(json.RootElement.GetProperty("warnings").EnumerateArray()).GetString();
        Assert.StartsWith($"plugin fixture/good in {shadowed} is shadowed by the built-in one", warning, StringComparison.Ordinal);
        Assert.Empty(json.RootElement.GetProperty("problems").EnumerateArray());
    }

    [Fact]
    public void Check_PluginShadowedByBuiltIn_OkWithWarning()
    {
        using var setup = new TempSetup("Fixture.Good");
        var (path, shadowed, layout) = Shadowed(setup);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        var code = Daemon.Check(path, stdout, stderr, layout);

        Assert.True(code == 0, stderr.ToString());
        Assert.Contains("ok (1 plugin(s) selected: fixture/good)", stdout.ToString(), StringComparison.Ordinal);
        Assert.StartsWith($"warning: plugin fixture/good in {shadowed} is shadowed by the built-in one", stderr.ToString(), StringComparison.Ordinal);
    }

    /// <summary>The built-in folder is <paramref name="setup"/>'s plugins/ (Fixture.Good); the config lists more/ holding Fixture.Duplicate.</summary>
    private static (string Path, string Shadowed, InstallLayout Layout) Shadowed(TempSetup setup)
    {
        var more = Directory.CreateDirectory(Path.Combine(setup.Root, "more")).FullName;
        var shadowed = Directory.CreateDirectory(Path.Combine(more, "Fixture.Duplicate")).FullName;
        foreach (var file in Directory.GetFiles(TestEnvironment.FixturePlugin("Fixture.Duplicate")))
        {
            File.Copy(file, Path.Combine(shadowed, Path.GetFileName(file)));
        }

        var admin = TestEnvironment.FreePort();
        File.WriteAllText(setup.ConfigPath, $"[admin]\nlisten = \"127.0.0.1:{admin}\"\n[plugins]\ndirectories = [\"more\"]\n[fixture]\n");
        return (setup.ConfigPath, shadowed, Configuration.InstallLayoutTests.Layout(setup, setup.Root));
    }
}
