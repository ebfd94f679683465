using System.Net;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Services;

namespace Lashup.Plugins.Core.Services;

// The service catalog on the admin API, for `lashup service`, one endpoint per route. Registrations go into the
// replicated store (ServiceCatalog), which every node's DNS and load balancer read; the catalog is the core's, so
// registering works whichever data-plane plugins are on. Errors are thrown and mapped by the host.

/// <summary><c>GET /v1/services</c>: every service with at least one instance.</summary>
internal sealed class ServiceListEndpoint(IReplicatedStore store, IClusterMembership membership) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/services";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AdminResult.Ok(new ServiceListResponse(
            [.. store.List(ServiceCatalog.Prefix).Select(e => ServiceAdmin.Describe(e, membership)).Where(s => s.Instances.Count > 0)])));
}

/// <summary><c>GET /v1/services/{service}</c>: one service.</summary>
internal sealed class ServiceGetEndpoint(IReplicatedStore store, IClusterMembership membership) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/services/{service}";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var service = ServiceAdmin.ServiceOf(request);
        return store.Get(ServiceCatalog.KeyOf(service)) is { } entry && ServiceAdmin.Describe(entry, membership) is { Instances.Count: > 0 } found
            ? ValueTask.FromResult(AdminResult.Ok(found))
            : throw new AdminNotFoundException($"no service \"{service}\"");
    }
}

/// <summary>
/// <c>PUT /v1/services/{service}</c> with a <see cref="ServiceRegistrationRequest"/>: registers (or re-registers) one
/// instance; instance and node default to the address and this node. Answers the service after it.
/// </summary>
internal sealed class ServiceRegisterEndpoint(IReplicatedStore store, IClusterMembership membership) : IAdminEndpoint
{
    public string Method => "PUT";

    public string Pattern => "/v1/services/{service}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var service = ServiceAdmin.ServiceOf(request);
        var instance = Parse(service, request.ReadJson<ServiceRegistrationRequest>());
        var updated = await store.UpdateAsync(ServiceCatalog.KeyOf(service), ServiceCatalog.Register(instance), null, cancellationToken);
        return AdminResult.Ok(ServiceAdmin.Describe(updated, membership));
    }

    private ServiceInstance Parse(string service, ServiceRegistrationRequest body)
    {
        if (string.IsNullOrWhiteSpace(body.Address) || !IPAddress.TryParse(body.Address, out var address))
        {
            throw new AdminRequestException($"address: expected an IPv4 or IPv6 address, got \"{body.Address}\"");
        }

        var ports = new List<ServicePort>();
        for (var i = 0; i < (body.Ports?.Count ?? 0); i++)
        {
            if (!ServicePort.TryParse(body.Ports![i], out var port, out var error))
            {
                throw new AdminRequestException($"ports[{i}]: {error}");
            }

            ports.Add(port);
        }

        var instance = string.IsNullOrEmpty(body.Instance) ? ServiceCatalog.DefaultInstanceName(address) : body.Instance.ToLowerInvariant();
        if (!ServiceCatalog.IsValidLabel(instance, out var instanceError))
        {
            throw new AdminRequestException($"instance: {instanceError}");
        }

        var node = string.IsNullOrEmpty(body.Node) ? membership.LocalName : body.Node;
        return new ServiceInstance(service, instance, address, node, [.. ports]);
    }
}

/// <summary><c>DELETE /v1/services/{service}/{instance}</c>: deregisters one instance; answers the service after it.</summary>
internal sealed class ServiceDeregisterEndpoint(IReplicatedStore store, IClusterMembership membership) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => "/v1/services/{service}/{instance}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var service = ServiceAdmin.ServiceOf(request);
        var name = (request.RouteValues.GetValueOrDefault("instance") ?? "").ToLowerInvariant();
        if (!ServiceCatalog.IsValidLabel(name, out var instanceError))
        {
            throw new AdminRequestException($"instance name {instanceError}");
        }

        var key = ServiceCatalog.KeyOf(service);
        if (store.Get(key) is not { } current || ServiceCatalog.Read(current).All(i => i.Instance != name))
        {
            throw new AdminNotFoundException($"service \"{service}\" has no instance \"{name}\"");
        }

        var after = await store.UpdateAsync(key, ServiceCatalog.Deregister(name), null, cancellationToken);
        return AdminResult.Ok(ServiceAdmin.Describe(after, membership));
    }
}

/// <summary>What the service endpoints share.</summary>
internal static class ServiceAdmin
{
    /// <summary>The service name of the route, lower case (DNS names are case-insensitive: Web and web are one service).</summary>
    public static string ServiceOf(AdminRequest request)
    {
        var service = (request.RouteValues.GetValueOrDefault("service") ?? "").ToLowerInvariant();
        return ServiceCatalog.IsValidServiceName(service, out var error) ? service : throw new AdminRequestException(error);
    }

    /// <summary>A catalog entry as the admin API shows it; an instance is healthy while its node is reachable.</summary>
    public static ServiceResponse Describe(KvEntry entry, IClusterMembership membership)
    {
        var reachable = membership.Members.Where(m => m.IsReachable).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        return new ServiceResponse(
            ServiceCatalog.ServiceOf(entry.Key) ?? entry.Key.ToString(),
            [.. ServiceCatalog.Read(entry).Select(i => new ServiceInstanceInfo(i.Instance, i.Address.ToString(), i.Node, [.. i.Ports.Select(p => p.ToString())], reachable.Contains(i.Node)))]);
    }
}
