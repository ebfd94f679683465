using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Plugins;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.LoadBalancerBackend, "ipvs", typeof(IpvsPlugin))]

namespace Lashup.Plugins.LoadBalancer.Ipvs;

/// <summary>The <c>ipvs</c> load-balancer backend (<c>[loadbalancer] backend = "ipvs"</c>): the kernel's IPVS, over generic netlink.</summary>
public sealed class IpvsPlugin : ILashupPlugin
{
    /// <summary>How long a netlink call may wait for the kernel's answer.</summary>
    internal static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(5);

    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<IpvsOptions>(context);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IpvsOptions>, IpvsOptionsValidator>());
        var stateDirectory = Path.Combine(context.Node.DataDirectory, "loadbalancer");
        services.TryAddSingleton(sp => new IpvsBackend(
            () => NetlinkSocket.Open(NetlinkSocket.NETLINK_GENERIC, ReceiveTimeout),
            sp.GetRequiredService<IOptions<IpvsOptions>>().Value.Scheduler,
            stateDirectory,
            Environment.IsPrivilegedProcess,
            sp.GetRequiredService<ILogger<IpvsBackend>>()));
        services.TryAddSingleton<ILoadBalancerBackend>(sp => sp.GetRequiredService<IpvsBackend>());
        services.AddReadinessCheck<IpvsBackend>();
    }
}
