using System.Runtime.Loader;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Lifecycle;
using Lashup.Host.Configuration;
using Lashup.Host.Plugins;
using Lashup.Host.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Lashup.Host.Tests.Plugins;

/// <summary>
/// Only plugins the configuration selects are loaded and register anything. The fixtures are installed under folder
/// names unique to each test, so "loaded" is checked by where an assembly came from: other tests in this process load
/// Fixture.Good too, from their own folders.
/// </summary>
public sealed class PluginActivatorTests
{
    [Theory]
    [InlineData("")]
    [InlineData("[fixture]\nenabled = false\nbackend = \"alpha\"\n")]
    public void Activate_FixtureNotEnabled_LoadsAndRegistersNothing(string body)
    {
        using var setup = Install(out var good, out var backend);
        var (activated, services, errors) = LoadAndActivate(setup, body);

        Assert.Empty(errors);
        Assert.Empty(activated);
        Assert.Empty(services);
        Assert.Empty(LoadedFrom(good));
        Assert.Empty(LoadedFrom(backend));
    }

    [Fact]
    public void Activate_FixtureWithBackend_LoadsAndRegistersBoth()
    {
        using var setup = Install(out var good, out var backend);
        var (activated, services, errors) = LoadAndActivate(setup, "[fixture]\nbackend = \"alpha\"\n");

        Assert.Empty(errors);
        Assert.Equal(["fixture/good", "fixture.backend/alpha"], activated.Select(a => a.Plugin.Descriptor.ToString()));
        Assert.Equal([good, backend], activated.Select(a => Path.GetDirectoryName(a.Assembly.Location)));
        Assert.Contains(services, d => d.ServiceType.FullName == "Fixture.Backend.BackendMarker");
        Assert.Contains(services, d => d.ServiceType == typeof(IDnsRecordSource) && d.ImplementationType?.FullName == "Fixture.Good.NoRecords");
        Assert.Contains(services, d => d.ServiceType == typeof(ILifecycleParticipant));
        Assert.NotEmpty(LoadedFrom(good));
        Assert.NotEmpty(LoadedFrom(backend));
    }

    [Fact]
    public void Activate_FixtureWithoutBackend_LoadsOnlyTheSubsystem()
    {
        using var setup = Install(out var good, out var backend);
        var (activated, services, errors) = LoadAndActivate(setup, "[fixture]\ngreeting = \"hi\"\n");

        Assert.Empty(errors);
        Assert.Equal(["fixture/good"], activated.Select(a => a.Plugin.Descriptor.ToString()));
        Assert.DoesNotContain(services, d => d.ServiceType.FullName == "Fixture.Backend.BackendMarker");
        Assert.NotEmpty(LoadedFrom(good));
        Assert.Empty(LoadedFrom(backend));
    }

    /// <summary>Installs Fixture.Good and Fixture.Backend under folder names no other test uses.</summary>
    private static TempSetup Install(out string good, out string backend)
    {
        var setup = new TempSetup();
        var unique = Guid.NewGuid().ToString("N")[..12];
        setup.AddPlugin("Fixture.Good", $"Good{unique}");
        setup.AddPlugin("Fixture.Backend", $"Backend{unique}");
        good = Path.Combine(setup.PluginsDir, $"Good{unique}");
        backend = Path.Combine(setup.PluginsDir, $"Backend{unique}");
        return setup;
    }

    private static (List<PluginActivator.Activated> Activated, ServiceCollection Services, List<ConfigException> Errors) LoadAndActivate(TempSetup setup, string body)
    {
        var errors = new List<ConfigException>();
        var config = ConfigLoader.Load(setup.WriteConfig(body), errors);
        var services = new ServiceCollection();
        var activated = PluginActivator.Activate(config, services, [], errors);
        return (activated, services, errors);
    }

    /// <summary>Assemblies loaded, in any load context, from <paramref name="folder"/>.</summary>
    private static List<string> LoadedFrom(string folder) =>
        [.. AssemblyLoadContext.All
            .SelectMany(c => c.Assemblies)
            .Where(a => !a.IsDynamic && a.Location.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Select(a => a.Location)];
}
