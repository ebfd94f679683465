using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Overlay.HostRoutes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

[assembly: LashupPlugin(Capabilities.OverlayBackend, "host-routes", typeof(HostRoutesPlugin))]

namespace Lashup.Plugins.Overlay.HostRoutes;

/// <summary>
/// The <c>host-routes</c> overlay backend (<c>[overlay] backend = "host-routes"</c>): a route per peer to its subnet via
/// its underlay address, for nodes on one network (flannel's host-gw).
/// </summary>
public sealed class HostRoutesPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<HostRoutesOptions>(context);
        services.TryAddSingleton(sp => new HostRoutesBackend(null, sp.GetRequiredService<ILogger<HostRoutesBackend>>()));
        services.TryAddSingleton<IOverlayBackend>(sp => sp.GetRequiredService<HostRoutesBackend>());
        services.AddReadinessCheck<HostRoutesBackend>();
        services.AddLifecycleParticipant<HostRoutesMetrics>();
    }
}
