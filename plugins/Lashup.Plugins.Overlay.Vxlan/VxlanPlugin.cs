using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Overlay.Vxlan;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.OverlayBackend, "vxlan", typeof(VxlanPlugin))]

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary>
/// The <c>vxlan</c> overlay backend (<c>[overlay] backend = "vxlan"</c>): one VXLAN device, and per peer a permanent
/// neighbour, an FDB entry and an onlink route, programmed over rtnetlink.
/// </summary>
public sealed class VxlanPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<VxlanOptions>(context);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<VxlanOptions>, VxlanOptionsValidator>());
        services.TryAddSingleton(sp => new VxlanBackend(
            sp.GetRequiredService<IOptions<VxlanOptions>>().Value,
            sp.GetRequiredService<ILogger<VxlanBackend>>()));
        services.TryAddSingleton<IOverlayBackend>(sp => sp.GetRequiredService<VxlanBackend>());
        services.AddReadinessCheck<VxlanBackend>();
        services.AddLifecycleParticipant<VxlanMetrics>();
    }
}
