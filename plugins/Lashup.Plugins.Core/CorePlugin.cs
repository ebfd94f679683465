using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core;
using Lashup.Plugins.Core.Runtime;
using Lashup.Plugins.Core.Services;
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
        services.TryAddSingleton<IDepartureRecord>(sp => sp.GetRequiredService<CoreRuntime>());
        services.TryAddSingleton<IKvBroadcast>(sp => new KvBroadcast(sp.GetRequiredService<CoreRuntime>()));
        services.AddLifecycleParticipant<KvStore>();
        services.AddLifecycleParticipant<KvReplicator>();
        services.TryAddSingleton<IReplicatedStore>(sp => sp.GetRequiredService<KvStore>());

        // The admin API: one endpoint per route.
        AddAdminEndpoint<MembersEndpoint>(services);
        AddAdminEndpoint<KeysGetEndpoint>(services);
        AddAdminEndpoint<KeysPutEndpoint>(services);
        AddAdminEndpoint<KvListEndpoint>(services);
        AddAdminEndpoint<KvGetEndpoint>(services);
        AddAdminEndpoint<KvPutEndpoint>(services);
        AddAdminEndpoint<KvDeleteEndpoint>(services);
        AddAdminEndpoint<KvWatchEndpoint>(services);
        AddAdminEndpoint<KvQuarantineListEndpoint>(services);
        AddAdminEndpoint<KvQuarantineDropEndpoint>(services);
        AddAdminEndpoint<ServiceListEndpoint>(services);
        AddAdminEndpoint<ServiceGetEndpoint>(services);
        AddAdminEndpoint<ServiceRegisterEndpoint>(services);
        AddAdminEndpoint<ServiceDeregisterEndpoint>(services);
        services.AddSingleton<CoreMetricsRegistration>();
        services.AddSingleton<ILifecycleParticipant>(sp => sp.GetRequiredService<CoreMetricsRegistration>());
    }

    private static void AddAdminEndpoint<T>(IServiceCollection services)
        where T : class, IAdminEndpoint =>
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminEndpoint, T>());
}
