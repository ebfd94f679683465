using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.DependencyInjection;

// Claims the same (capability, name) as Fixture.Good.
[assembly: LashupPlugin("fixture", "good", typeof(Fixture.Duplicate.DuplicatePlugin))]

namespace Fixture.Duplicate;

public sealed class DuplicatePlugin : ILashupPlugin
{
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
    }
}
