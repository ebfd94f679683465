using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.LoadBalancer.Nftables;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.LoadBalancerBackend, "nftables", typeof(NftablesPlugin))]

namespace Lashup.Plugins.LoadBalancer.Nftables;

/// <summary>The <c>nftables</c> load-balancer backend (<c>[loadbalancer] backend = "nftables"</c>): kernel DNAT from a table of its own.</summary>
public sealed class NftablesPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<NftablesOptions>(context);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<NftablesOptions>, NftablesOptionsValidator>());
        // libnftables in the process when it is there (every change is then about a millisecond), else the nft command.
        services.TryAddSingleton<INftRunner>(_ => (INftRunner?)LibNftablesRunner.TryCreate(null, out var _) ?? new ProcessNftRunner());
        // The load balancer's own state folder: it reads the table's name from here when the backend is switched away.
        var stateDirectory = Path.Combine(context.Node.DataDirectory, "loadbalancer");
        services.TryAddSingleton(sp => new NftablesBackend(
            sp.GetRequiredService<INftRunner>(),
            sp.GetRequiredService<IOptions<NftablesOptions>>().Value,
            stateDirectory,
            sp.GetRequiredService<ILogger<NftablesBackend>>()));
        services.TryAddSingleton<ILoadBalancerBackend>(sp => sp.GetRequiredService<NftablesBackend>());
        services.AddReadinessCheck<NftablesBackend>();
        services.AddLifecycleParticipant<NftablesMetrics>();
    }
}
