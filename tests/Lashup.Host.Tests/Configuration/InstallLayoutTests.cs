using Lashup.Host.Configuration;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Configuration;

/// <summary>
/// Where the host finds its plugins (its own folder, the vendor folder, the configured ones, each once) and its config
/// file (--config, $LASHUP_CONFIG, the system file, the embedded default), in temporary layouts: never the real /etc,
/// /usr/lib or the test runner's folder.
/// </summary>
public sealed class InstallLayoutTests
{
    [Fact]
    public void BuiltInPluginDirectory_InstalledLayout_IsPluginsBesideTheHost()
    {
        using var setup = new TempSetup();
        var host = Directory.CreateDirectory(Path.Combine(setup.Root, "usr", "lib", "lashup")).FullName;
        Directory.CreateDirectory(Path.Combine(host, "plugins"));
        // A checkout-style folder two levels up is not used when the installed one exists.
        Directory.CreateDirectory(Path.Combine(setup.Root, "usr", "plugins"));

        Assert.Equal(Path.Combine(host, "plugins"), Layout(setup, host + "/").BuiltInPluginDirectory);
    }

    [Fact]
    public void BuiltInPluginDirectory_CheckoutLayout_IsArtifactsPlugins()
    {
        using var setup = new TempSetup();
        var host = Directory.CreateDirectory(Path.Combine(setup.Root, "artifacts", "bin", "lashup")).FullName;
        Directory.CreateDirectory(Path.Combine(setup.Root, "artifacts", "plugins"));

        Assert.Equal(Path.Combine(setup.Root, "artifacts", "plugins"), Layout(setup, host + "/").BuiltInPluginDirectory);
    }

    [Fact]
    public void BuiltInPluginDirectory_NeitherLayout_IsNullAndLoadReportsNothing()
    {
        using var setup = new TempSetup();
        var host = Directory.CreateDirectory(Path.Combine(setup.Root, "a", "b", "host")).FullName;
        var layout = Layout(setup, host);
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.WriteConfig(""), errors, layout);

        Assert.Null(layout.BuiltInPluginDirectory);
        Assert.Empty(errors);
        Assert.Equal([setup.PluginsDir], config.PluginDirectories.Select(d => d.Path));
    }

    [Fact]
    public void Load_BuiltInFolder_SearchedWithoutBeingListed()
    {
        using var setup = new TempSetup("Fixture.Good");
        File.WriteAllText(setup.ConfigPath, "[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.Empty(errors);
        Assert.Equal([$"{setup.PluginsDir} (built-in)"], Describe(config));
        Assert.Equal(["fixture/good"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    [Theory]
    [InlineData("plugins")]
    [InlineData("plugins/")]
    [InlineData("./other/../plugins")]
    public void Load_BuiltInFolderAlsoListed_SearchedOnce(string listed)
    {
        using var setup = new TempSetup("Fixture.Good");
        File.WriteAllText(setup.ConfigPath, $"[plugins]\ndirectories = [\"{listed}\", \"{setup.PluginsDir}\"]\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.Empty(errors);
        Assert.Equal([$"{setup.PluginsDir} (built-in)"], Describe(config));
        Assert.Single(config.Catalog.Plugins);
    }

    [Fact]
    public void Load_VendorFolderExists_SearchedAfterBuiltInThenConfigured()
    {
        using var setup = new TempSetup("Fixture.Good");
        var vendor = Path.Combine(setup.Root, "vendor");
        Directory.CreateDirectory(vendor);
        CopyFixture("Fixture.Backend", vendor);
        var more = Directory.CreateDirectory(Path.Combine(setup.Root, "more")).FullName;
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = [\"more\"]\n[fixture]\nbackend = \"alpha\"\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.Empty(errors);
        Assert.Equal(
            [
                $"{setup.PluginsDir} (built-in)",
                $"{vendor} (vendor)",
                $"{more} (config)",
            ],
            Describe(config));
        Assert.Equal(["fixture/good", "fixture.backend/alpha"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    [Fact]
    public void Load_ListedFolderMissing_StillAnError()
    {
        using var setup = new TempSetup();
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = [\"nowhere\"]\n");
        var errors = new List<ConfigException>();

        ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.Equal([$"plugin directory {Path.Combine(setup.Root, "nowhere")} does not exist"], errors.Select(e => e.Message.Split(": ", 2)[^1]));
    }

    [Fact]
    public void Load_SamePluginInBuiltInAndVendorFolder_BuiltInLoadedVendorCopyWarned()
    {
        using var setup = new TempSetup("Fixture.Good");
        var vendor = Path.Combine(setup.Root, "vendor");
        Directory.CreateDirectory(vendor);
        CopyFixture("Fixture.Duplicate", vendor);
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = []\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        Assert.Equal(
            $"plugin fixture/good in {Path.Combine(vendor, "Fixture.Duplicate")} is shadowed by the built-in one in {Path.Combine(setup.PluginsDir, "Fixture.Good")}; it is not loaded",
            Assert.Single(config.Warnings));
        Assert.Equal([Path.Combine(setup.PluginsDir, "Fixture.Good")], config.Selected.Select(s => s.Descriptor.Folder));
    }

    [Fact]
    public void Load_SamePluginInBuiltInAndConfiguredFolder_BuiltInLoadedConfiguredCopyWarned()
    {
        using var setup = new TempSetup("Fixture.Good");
        var more = Directory.CreateDirectory(Path.Combine(setup.Root, "more")).FullName;
        CopyFixture("Fixture.Duplicate", more);
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = [\"more\"]\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        Assert.Equal(
            $"plugin fixture/good in {Path.Combine(more, "Fixture.Duplicate")} is shadowed by the built-in one in {Path.Combine(setup.PluginsDir, "Fixture.Good")}; it is not loaded",
            Assert.Single(config.Warnings));
        Assert.Equal(["fixture/good"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    [Fact]
    public void Load_SamePluginInTwoConfiguredFolders_ErrorAtDirectoriesFirstCopyKept()
    {
        using var setup = new TempSetup();
        var one = Directory.CreateDirectory(Path.Combine(setup.Root, "one")).FullName;
        var two = Directory.CreateDirectory(Path.Combine(setup.Root, "two")).FullName;
        CopyFixture("Fixture.Good", one);
        CopyFixture("Fixture.Duplicate", two);
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = [\"one\", \"two\"]\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        // One error, at [plugins] directories; no follow-on "[fixture] is enabled but no plugin provides" error.
        var error = Assert.Single(errors);
        Assert.EndsWith($"plugins {Path.Combine(one, "Fixture.Good")} and {Path.Combine(two, "Fixture.Duplicate")} both claim fixture/good; remove one", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, error.Location?.Line);
        Assert.Equal([Path.Combine(one, "Fixture.Good")], config.Catalog.Plugins.Select(p => p.Folder));
    }

    [Fact]
    public void Load_BrokenPluginInVendorFolder_ErrorNotLocatedInTheConfig()
    {
        using var setup = new TempSetup();
        var vendor = Path.Combine(setup.Root, "vendor");
        Directory.CreateDirectory(vendor);
        CopyFixture("Fixture.WrongMajor", vendor);
        File.WriteAllText(setup.ConfigPath, "[plugins]\ndirectories = []\n");
        var errors = new List<ConfigException>();

        ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, setup.Root));

        var error = Assert.Single(errors);
        Assert.Null(error.Location);
        Assert.StartsWith($"plugin fixture/wrong-major in {Path.Combine(vendor, "Fixture.WrongMajor")} was built against", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BuiltInFolderListedThroughSymlinkedFolder_SearchedOnce()
    {
        // /opt/lashup/current/plugins with current -> 0.2.0: the host's folder is the real path, the config the link.
        using var setup = new TempSetup();
        var release = Directory.CreateDirectory(Path.Combine(setup.Root, "opt", "0.2.0")).FullName;
        var host = Path.Combine(release, "bin");
        Directory.CreateDirectory(host);
        var plugins = Directory.CreateDirectory(Path.Combine(host, "plugins")).FullName;
        CopyFixture("Fixture.Good", plugins);
        var linkedPlugins = Path.Combine(setup.Root, "plugins-link");
        Directory.CreateSymbolicLink(linkedPlugins, plugins);
        File.WriteAllText(setup.ConfigPath, $"[plugins]\ndirectories = [\"{linkedPlugins}\"]\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, host));

        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        Assert.Empty(config.Warnings);
        Assert.Equal([$"{plugins} (built-in)"], Describe(config));
        Assert.Equal(["fixture/good"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    [Fact]
    public void Load_BuiltInFolderListedThroughSymlinkedParent_SearchedOnce()
    {
        using var setup = new TempSetup();
        var release = Directory.CreateDirectory(Path.Combine(setup.Root, "opt", "0.2.0")).FullName;
        var plugins = Directory.CreateDirectory(Path.Combine(release, "plugins")).FullName;
        CopyFixture("Fixture.Good", plugins);
        // current -> 0.2.0, relative, as a package's "current" link is.
        Directory.CreateSymbolicLink(Path.Combine(setup.Root, "opt", "current"), "0.2.0");
        var listed = Path.Combine(setup.Root, "opt", "current", "plugins");
        File.WriteAllText(setup.ConfigPath, $"[plugins]\ndirectories = [\"{listed}\"]\n[fixture]\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(setup.ConfigPath, errors, Layout(setup, release));

        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        Assert.Equal([$"{plugins} (built-in)"], Describe(config));
        Assert.Equal(["fixture/good"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    [Fact]
    public void RealPath_LinksAnywhereAndMissingTail_ResolvedAsRealpath()
    {
        using var setup = new TempSetup();
        var real = Directory.CreateDirectory(Path.Combine(setup.Root, "a", "b")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(setup.Root, "l1"), "a");
        Directory.CreateSymbolicLink(Path.Combine(setup.Root, "l2"), Path.Combine(setup.Root, "l1", "b"));
        Directory.CreateSymbolicLink(Path.Combine(setup.Root, "loop1"), Path.Combine(setup.Root, "loop2"));
        Directory.CreateSymbolicLink(Path.Combine(setup.Root, "loop2"), Path.Combine(setup.Root, "loop1"));

        Assert.Equal(real, InstallLayout.RealPath(Path.Combine(setup.Root, "l1", "b")));
        Assert.Equal(real, InstallLayout.RealPath(Path.Combine(setup.Root, "l2") + "/"));
        Assert.Equal(Path.Combine(real, "missing", "x"), InstallLayout.RealPath(Path.Combine(setup.Root, "l2", "missing", "x")));
        Assert.Equal(real, InstallLayout.RealPath(real));
        Assert.NotNull(InstallLayout.RealPath(Path.Combine(setup.Root, "loop1", "x")));
    }

    [Fact]
    public void Current_VendorPluginsVariable_ReplacesTheVendorFolder()
    {
        // The test process sets it (MachineIsolation), as LashupProcess does for the daemons it starts.
        Assert.Equal(TestEnvironment.NoVendorPlugins, InstallLayout.Current.VendorPluginDirectory);
        Assert.Equal(TestEnvironment.NoSystemConfig, InstallLayout.Current.SystemConfigPath);
    }

    [Fact]
    public void ChooseConfig_ExplicitPath_WinsOverEnvironmentAndSystemFile()
    {
        using var setup = new TempSetup();
        var layout = Layout(setup, setup.Root, environment: "/from/env.toml");
        WriteSystemFile(layout);

        Assert.Equal(new ConfigChoice("given.toml", "--config"), layout.ChooseConfig("given.toml"));
    }

    [Fact]
    public void ChooseConfig_EnvironmentVariable_WinsOverSystemFile()
    {
        using var setup = new TempSetup();
        var layout = Layout(setup, setup.Root, environment: "/from/env.toml");
        WriteSystemFile(layout);

        Assert.Equal(new ConfigChoice("/from/env.toml", "$LASHUP_CONFIG"), layout.ChooseConfig(null));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void ChooseConfig_SystemFileExists_IsUsed(string? environment)
    {
        using var setup = new TempSetup();
        var layout = Layout(setup, setup.Root, environment);
        WriteSystemFile(layout);

        Assert.Equal(new ConfigChoice(layout.SystemConfigPath, layout.SystemConfigPath), layout.ChooseConfig(""));
    }

    [Fact]
    public void ChooseConfig_NoSystemFile_EmbeddedDefault()
    {
        using var setup = new TempSetup();

        Assert.Equal(new ConfigChoice(null, "embedded default"), Layout(setup, setup.Root).ChooseConfig(null));
    }

    [Fact]
    public void Load_FromEnvironmentVariable_ReadsThatFile()
    {
        using var setup = new TempSetup();
        File.WriteAllText(setup.ConfigPath, "[node]\nname = \"from-env\"\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(null, errors, Layout(setup, setup.Root, environment: setup.ConfigPath));

        Assert.Empty(errors);
        Assert.Equal("from-env", config.Node.Name);
        Assert.Equal(setup.ConfigPath, config.DisplayName);
        Assert.Equal("$LASHUP_CONFIG", config.Source);
    }

    [Fact]
    public void Load_EnvironmentVariableNamesMissingFile_SaysWhereTheNameCameFrom()
    {
        using var setup = new TempSetup();
        var missing = Path.Combine(setup.Root, "missing.toml");

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(null, [], Layout(setup, setup.Root, environment: missing)));

        Assert.Equal($"{missing}: no such file ($LASHUP_CONFIG names it)", e.Message);
    }

    [Fact]
    public void Load_EnvironmentVariableNamesDirectory_SaysItIsADirectory()
    {
        using var setup = new TempSetup();

        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(null, [], Layout(setup, setup.Root, environment: setup.Root)));

        Assert.Equal($"{setup.Root}: is a directory, not a file ($LASHUP_CONFIG names it)", e.Message);
    }

    [Fact]
    public void Load_FromSystemFile_RelativePathsAgainstItsFolder()
    {
        using var setup = new TempSetup();
        var layout = Layout(setup, setup.Root);
        WriteSystemFile(layout, "[node]\nname = \"from-etc\"\ndata_dir = \"state\"\n");
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(null, errors, layout);

        Assert.Empty(errors);
        Assert.Equal("from-etc", config.Node.Name);
        Assert.Equal(Path.Combine(setup.Root, "etc", "lashup", "state"), config.DataDirectory);
    }

    [Fact]
    public void Load_EmbeddedDefault_PluginsFromTheHostAndDataUnderTheWorkingDirectory()
    {
        // The published layout: OUT/lashup with OUT/plugins/, run from some other folder with no config anywhere.
        using var setup = new TempSetup();
        var host = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bin", "lashup");
        var layout = Layout(setup, host);
        var errors = new List<ConfigException>();

        var config = ConfigLoader.Load(null, errors, layout);

        Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
        Assert.Equal("(embedded default config)", config.DisplayName);
        Assert.Equal(Path.Combine(layout.WorkingDirectory, "data", "node-1"), config.DataDirectory);
        Assert.Equal([$"{Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins")} (built-in)"], Describe(config));
        Assert.Equal(["core/lashup", "dns/lashup", "loadbalancer/lashup", "loadbalancer.backend/userspace"], config.Selected.Select(s => s.Descriptor.ToString()));
    }

    /// <summary>A layout in <paramref name="setup"/>: the host in <paramref name="baseDirectory"/>, etc/lashup/lashup.toml, vendor/, cwd/.</summary>
    internal static InstallLayout Layout(TempSetup setup, string baseDirectory, string? environment = null) => new()
    {
        BaseDirectory = baseDirectory,
        SystemConfigPath = Path.Combine(setup.Root, "etc", "lashup", "lashup.toml"),
        VendorPluginDirectory = Path.Combine(setup.Root, "vendor"),
        ConfigFromEnvironment = environment,
        WorkingDirectory = Path.Combine(setup.Root, "cwd"),
    };

    private static IEnumerable<string> Describe(LoadedConfiguration config) => config.PluginDirectories.Select(d => $"{d.Path} ({d.SourceName})");

    private static void WriteSystemFile(InstallLayout layout, string text = "")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(layout.SystemConfigPath)!);
        File.WriteAllText(layout.SystemConfigPath, text);
    }

    private static void CopyFixture(string fixture, string directory)
    {
        var target = Directory.CreateDirectory(Path.Combine(directory, fixture)).FullName;
        foreach (var file in Directory.GetFiles(TestEnvironment.FixturePlugin(fixture)))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
    }
}
