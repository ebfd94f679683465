using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.LoadBalancer.Userspace;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.LoadBalancerBackend, "userspace", typeof(UserspacePlugin))]

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary>The <c>userspace</c> load-balancer backend (<c>[loadbalancer] backend = "userspace"</c>): an in-process TCP and UDP proxy.</summary>
public sealed class UserspacePlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        services.AddPluginOptions<UserspaceOptions>(context);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<UserspaceOptions>, UserspaceOptionsValidator>());
        services.TryAddSingleton<ProxyStats>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<UserspaceOptions>>().Value;
            var settings = new ProxySettings(o.ConnectTimeout, o.IdleTimeout, o.UdpIdleTimeout, o.MaxConnections, o.Workers > 0 ? o.Workers : Environment.ProcessorCount, o.MaxUdpFlows);
            return new ProxyEngine(settings, sp.GetRequiredService<ProxyStats>(), sp.GetRequiredService<ILogger<ProxyEngine>>());
        });
        services.TryAddSingleton(sp => new UserspaceBackend(
            sp.GetRequiredService<ProxyEngine>(),
            sp.GetRequiredService<IOptions<UserspaceOptions>>().Value.ListenAddress is { Length: > 0 } listen ? IPAddress.Parse(listen) : null,
            sp.GetRequiredService<ILogger<UserspaceBackend>>()));
        services.TryAddSingleton<ILoadBalancerBackend>(sp => sp.GetRequiredService<UserspaceBackend>());
        services.AddReadinessCheck<UserspaceBackend>();
        services.AddLifecycleParticipant<UserspaceMetrics>();
    }
}
