using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: LashupPlugin("fixture.backend", "alpha", typeof(Fixture.Backend.BackendPlugin))]

namespace Fixture.Backend;

/// <summary>A fixture backend selected by <c>[fixture] backend = "alpha"</c>, options in <c>[fixture.alpha]</c>.</summary>
public sealed class BackendPlugin : ILashupPlugin
{
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        services.AddPluginOptions<AlphaOptions>(context);
        services.AddSingleton(new BackendMarker(context.Name));
    }
}

public sealed class AlphaOptions
{
    [ConfigurationKeyName("depth")]
    public int Depth { get; set; } = 3;
}

public sealed record BackendMarker(string Name);
