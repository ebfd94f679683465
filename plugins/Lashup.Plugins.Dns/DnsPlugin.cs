using System.Net;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Dns;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin(Capabilities.Dns, "lashup", typeof(DnsPlugin))]

namespace Lashup.Plugins.Dns;

/// <summary>The <c>dns</c> plugin: an authoritative server for cluster names from the replicated store, forwarding the rest.</summary>
public sealed class DnsPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        services.AddPluginOptions<DnsOptions>(context);
        // The default listen address written into the options, so that the host's listen checks see it too.
        services.PostConfigure<DnsOptions>(o => o.Listen = [.. o.EffectiveListen]);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DnsOptions>, DnsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<DnsStats>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DnsOptions>>().Value;
            var serial = (uint)DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            return new RecordIndex(o.EffectiveZones, new ZoneSettings((uint)o.Ttl, (uint)o.NegativeTtl, serial));
        });
        services.TryAddSingleton<DnsMetrics>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DnsOptions>>().Value;
            var listen = o.EffectiveListen.Select(IPEndPoint.Parse).ToList();
            var membership = sp.GetRequiredService<Abstractions.Cluster.IClusterMembership>();
            return new ClusterIndexer(
                sp.GetRequiredService<RecordIndex>(),
                sp.GetRequiredService<Abstractions.Data.IReplicatedStore>(),
                membership,
                o.EffectiveZones,
                () => NameServerAddresses(listen, membership),
                sp.GetRequiredService<ILogger<ClusterIndexer>>());
        });
        services.AddLifecycleParticipant<ClusterIndexer>();
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DnsOptions>>().Value;
            return new QueryEngine(
                sp.GetRequiredService<RecordIndex>(),
                o.EffectiveZones,
                sp.GetServices<IDnsRecordSource>(),
                sp.GetRequiredService<DnsStats>(),
                (ushort)o.MaxUdpPayload,
                sp.GetRequiredService<ILogger<QueryEngine>>());
        });
        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DnsOptions>>().Value;
            if (!UpstreamParser.TryParse(o.Upstreams, out var upstreams, out var error))
            {
                throw new InvalidOperationException($"dns.upstreams: {error}");
            }

            return new UpstreamForwarding(new DnsForwarder(
                new ForwarderSettings(upstreams) { Timeout = o.ForwardTimeout, CacheEntries = o.CacheSize, ClientPayloadSize = (ushort)o.MaxUdpPayload },
                sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILogger<DnsForwarder>>(),
                sp.GetRequiredService<DnsMetrics>().Meter));
        });
        if (context.Configuration.GetSection("upstreams").GetChildren().Any())
        {
            services.AddLifecycleParticipant<UpstreamForwarding>();
        }

        services.TryAddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<DnsOptions>>().Value;
            return new DnsServer(
                sp.GetRequiredService<QueryEngine>(),
                o.Upstreams.Count > 0 ? sp.GetRequiredService<UpstreamForwarding>() : null,
                new ClientAcl(o.EffectiveAllowRecursionFrom.Select(IPNetwork.Parse)),
                sp.GetRequiredService<DnsStats>(),
                sp.GetRequiredService<DnsMetrics>().Latency,
                [.. o.EffectiveListen.Select(IPEndPoint.Parse)],
                o.UdpWorkers,
                o.TcpIdleTimeout,
                o.TcpMaxConnections,
                sp.GetRequiredService<ILogger<DnsServer>>());
        });
        services.AddLifecycleParticipant<DnsServer>();
    }

    /// <summary>The addresses of <c>ns.&lt;zone&gt;</c>: the listen addresses, or this node's address for a wildcard.</summary>
    private static List<IPAddress> NameServerAddresses(List<IPEndPoint> listen, Abstractions.Cluster.IClusterMembership membership)
    {
        var addresses = new List<IPAddress>();
        foreach (var endpoint in listen)
        {
            var address = endpoint.Address;
            if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
            {
                var self = membership.Members.FirstOrDefault(m => m.Name == membership.LocalName);
                if (self is null)
                {
                    continue;
                }

                address = self.Address.Address;
            }

            if (!addresses.Contains(address))
            {
                addresses.Add(address);
            }
        }

        return addresses;
    }
}
