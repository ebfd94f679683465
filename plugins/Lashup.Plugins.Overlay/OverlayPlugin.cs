using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Overlay;
using Lashup.Plugins.Overlay.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.Overlay, "lashup", typeof(OverlayPlugin))]

namespace Lashup.Plugins.Overlay;

/// <summary>
/// The <c>overlay</c> plugin: a subnet per node claimed through the replicated store, programmed by the backend chosen
/// with <c>[overlay] backend</c> (capability <c>overlay.backend</c>, another plugin), and <c>/v1/overlay</c>.
/// </summary>
public sealed class OverlayPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<OverlayOptions>(context);
        // The load balancer's named VIPs must not come from the overlay's range (when the load balancer is on).
        var vipRange = context.Root.GetSection("loadbalancer").GetChildren().Any() && context.Root["loadbalancer:enabled"] is not "false"
            ? context.Root["loadbalancer:named_vip_range"] ?? "10.200.0.0/16"
            : null;
        var expireAfter = context.Root["core:expire_after"] is { } text && Duration.TryParse(text, out var parsed, out _) ? parsed.Value : TimeSpan.FromHours(24);
        services.PostConfigure<OverlayOptions>(o =>
        {
            o.NamedVipRange = vipRange;
            o.ExpireAfter = expireAfter;
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OverlayOptions>, OverlayOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        var stateDirectory = Path.Combine(context.Node.DataDirectory, "overlay");
        services.TryAddSingleton(sp => new OverlayController(
            sp.GetRequiredService<IReplicatedStore>(),
            sp.GetRequiredService<IClusterMembership>(),
            sp.GetService<IOverlayBackend>()
                ?? throw new InvalidOperationException("[overlay] has no backend: set backend = \"vxlan\" or \"host-routes\" (an overlay.backend plugin)"),
            sp.GetRequiredService<IOptions<OverlayOptions>>().Value,
            stateDirectory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<OverlayController>>()));
        services.AddLifecycleParticipant<OverlayController>();
        services.AddReadinessCheck<OverlayController>();
        services.TryAddSingleton<OverlayMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant, OverlayMetrics>(sp => sp.GetRequiredService<OverlayMetrics>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, OverlayShowEndpoint>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, OverlayPeersEndpoint>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, OverlayReleaseEndpoint>());
    }
}
