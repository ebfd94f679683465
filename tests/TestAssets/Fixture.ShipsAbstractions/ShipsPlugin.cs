using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.DependencyInjection;

[assembly: LashupPlugin("fixture", "ships", typeof(Fixture.ShipsAbstractions.ShipsPlugin))]

namespace Fixture.ShipsAbstractions;

public sealed class ShipsPlugin : ILashupPlugin
{
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
    }
}
