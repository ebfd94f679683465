using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.LoadBalancer;
using Lashup.Plugins.LoadBalancer.Addresses;
using Lashup.Plugins.LoadBalancer.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.LoadBalancer, "lashup", typeof(LoadBalancerPlugin))]

namespace Lashup.Plugins.LoadBalancer;

/// <summary>
/// The <c>loadbalancer</c> plugin: VIPs from the replicated store, served by every node through the backend chosen
/// with <c>[loadbalancer] backend</c> (capability <c>loadbalancer.backend</c>, another plugin), and <c>/v1/vips</c>.
/// </summary>
public sealed class LoadBalancerPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<LoadBalancerOptions>(context);
        var overlayRange = context.Root["overlay:range"];
        services.PostConfigure<LoadBalancerOptions>(o => o.OverlayRange = overlayRange);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LoadBalancerOptions>, LoadBalancerOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ILocalAddressTable>(_ => new IpAddressTable());
        var stateDirectory = Path.Combine(context.Node.DataDirectory, "loadbalancer");
        services.TryAddSingleton(sp => new LoadBalancerController(
            sp.GetRequiredService<IReplicatedStore>(),
            sp.GetRequiredService<IClusterMembership>(),
            sp.GetService<ILoadBalancerBackend>()
                ?? throw new InvalidOperationException("[loadbalancer] has no backend: set backend = \"userspace\" (or another loadbalancer.backend plugin)"),
            sp.GetRequiredService<ILocalAddressTable>(),
            sp.GetRequiredService<IOptions<LoadBalancerOptions>>().Value,
            stateDirectory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<LoadBalancerController>>()));
        services.AddLifecycleParticipant<LoadBalancerController>();
        services.TryAddSingleton<LoadBalancerMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant, LoadBalancerMetrics>(sp => sp.GetRequiredService<LoadBalancerMetrics>()));
        AddAdminEndpoint<VipListEndpoint>(services);
        AddAdminEndpoint<VipGetEndpoint>(services);
        AddAdminEndpoint<VipPutEndpoint>(services);
        AddAdminEndpoint<VipDeleteEndpoint>(services);
        AddAdminEndpoint<VipBackendPutEndpoint>(services);
        AddAdminEndpoint<VipBackendDeleteEndpoint>(services);
    }

    private static void AddAdminEndpoint<T>(IServiceCollection services)
        where T : class, IAdminEndpoint =>
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, T>());
}
