using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core;
using Lashup.Plugins.Core.Runtime;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.Core, "lashup", typeof(CorePlugin))]

namespace Lashup.Plugins.Core;

/// <summary>The <c>core</c> plugin: gossip membership, failure detection, the member graph and tree multicast.</summary>
public sealed class CorePlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        services.AddPluginOptions<CoreOptions>(context);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CoreOptions>, CoreOptionsValidator>());
        services.TryAddSingleton(context.Node);
        services.TryAddSingleton(TimeProvider.System);
        services.AddLifecycleParticipant<CoreRuntime>();
        services.TryAddSingleton<IClusterMembership>(sp => sp.GetRequiredService<CoreRuntime>());
        services.TryAddSingleton<IClusterMulticast>(sp => sp.GetRequiredService<CoreRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, MembersEndpoint>());
        services.AddSingleton<IAdminEndpoint>(sp => new KeysEndpoint(sp.GetRequiredService<CoreRuntime>(), "GET"));
        services.AddSingleton<IAdminEndpoint>(sp => new KeysEndpoint(sp.GetRequiredService<CoreRuntime>(), "PUT"));
        services.TryAddSingleton<IDepartureRecord>(sp => sp.GetRequiredService<CoreRuntime>());
        services.TryAddSingleton<IKvBroadcast>(sp => new KvBroadcast(sp.GetRequiredService<CoreRuntime>()));
        services.AddLifecycleParticipant<KvStore>();
        services.AddLifecycleParticipant<KvReplicator>();
        services.TryAddSingleton<IReplicatedStore>(sp => sp.GetRequiredService<KvStore>());
        foreach (var (method, pattern) in KvEndpoint.Routes)
        {
            services.AddSingleton<IAdminEndpoint>(sp => new KvEndpoint(sp.GetRequiredService<IReplicatedStore>(), method, pattern));
        }

        services.AddSingleton<IAdminEndpoint>(sp => new KvWatchEndpoint(sp.GetRequiredService<IReplicatedStore>()));
        services.AddSingleton<IAdminEndpoint>(sp => new KvQuarantineEndpoint(sp.GetRequiredService<KvStore>(), "GET"));
        services.AddSingleton<IAdminEndpoint>(sp => new KvQuarantineEndpoint(sp.GetRequiredService<KvStore>(), "DELETE"));
        services.AddSingleton<CoreMetricsRegistration>();
        services.AddSingleton<ILifecycleParticipant>(sp => sp.GetRequiredService<CoreMetricsRegistration>());
    }
}
