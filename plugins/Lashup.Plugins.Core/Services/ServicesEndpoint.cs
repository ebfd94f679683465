using System.Net;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Services;

namespace Lashup.Plugins.Core.Services;

/// <summary>
/// Service registrations on the admin API, for <c>lashup service</c>: <c>GET /v1/services</c> lists,
/// <c>GET /v1/services/{service}</c> shows one, <c>PUT /v1/services/{service}</c> registers an instance (body:
/// <c>{"address": "10.0.0.5", "ports": ["http:80/tcp"], "instance": "web-1", "node": "node-1"}</c>; instance and
/// node default to the address and this node), <c>DELETE /v1/services/{service}/{instance}</c> deregisters one.
/// Registrations go into the replicated store (<see cref="ServiceCatalog"/>), which every node's DNS and load balancer
/// read; the catalog is the core's, so registering works whichever data-plane plugins are on.
/// </summary>
internal sealed class ServicesEndpoint(IReplicatedStore store, IClusterMembership membership, string method, string pattern) : IAdminEndpoint
{
    public static readonly (string Method, string Pattern)[] Routes =
    [
        ("GET", "/v1/services"), ("GET", "/v1/services/{service}"), ("PUT", "/v1/services/{service}"),
        ("DELETE", "/v1/services/{service}/{instance}"),
    ];

    public string Method => method;

    public string Pattern => pattern;

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (pattern == "/v1/services")
            {
                return AdminResult.Ok(new ServiceListDto([.. store.List(ServiceCatalog.Prefix).Select(Describe).Where(s => s.Instances.Count > 0)]));
            }

            // DNS names are case-insensitive: Web and web are one service.
            var service = (request.RouteValues.GetValueOrDefault("service") ?? "").ToLowerInvariant();
            if (!ServiceCatalog.IsValidServiceName(service, out var nameError))
            {
                return AdminResult.Error(400, nameError);
            }

            var key = ServiceCatalog.KeyOf(service);
            switch (method)
            {
                case "GET":
                    return store.Get(key) is { } entry && Describe(entry) is { Instances.Count: > 0 } dto
                        ? AdminResult.Ok(dto)
                        : AdminResult.Error(404, $"no service \"{service}\"");
                case "PUT":
                    var instance = Parse(service, request.ReadJson<RegistrationDto>());
                    var updated = await store.UpdateAsync(key, ServiceCatalog.Register(instance), null, cancellationToken).ConfigureAwait(false);
                    return AdminResult.Ok(Describe(updated));
                default:
                    var name = (request.RouteValues.GetValueOrDefault("instance") ?? "").ToLowerInvariant();
                    if (!ServiceCatalog.IsValidLabel(name, out var instanceError))
                    {
                        return AdminResult.Error(400, $"instance name {instanceError}");
                    }

                    if (store.Get(key) is not { } current || ServiceCatalog.Read(current).All(i => i.Instance != name))
                    {
                        return AdminResult.Error(404, $"service \"{service}\" has no instance \"{name}\"");
                    }

                    var after = await store.UpdateAsync(key, ServiceCatalog.Deregister(name), null, cancellationToken).ConfigureAwait(false);
                    return AdminResult.Ok(Describe(after));
            }
        }
        catch (Exception e) when (e is KvValidationException or CrdtTypeMismatchException or ArgumentException or FormatException)
        {
            return AdminResult.Error(400, e.Message);
        }
        catch (KvOverloadedException e)
        {
            return AdminResult.Error(503, e.Message);
        }
        catch (KvException e)
        {
            return AdminResult.Error(500, e.Message);
        }
    }

    private ServiceInstance Parse(string service, RegistrationDto body)
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

    private ServiceDto Describe(KvEntry entry)
    {
        var reachable = membership.Members.Where(m => m.IsReachable).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        var instances = ServiceCatalog.Read(entry);
        return new ServiceDto(
            ServiceCatalog.ServiceOf(entry.Key) ?? entry.Key.ToString(),
            [.. instances.Select(i => new InstanceDto(i.Instance, i.Address.ToString(), i.Node, [.. i.Ports.Select(p => p.ToString())], reachable.Contains(i.Node)))]);
    }

    internal sealed record RegistrationDto(string? Address, List<string>? Ports, string? Instance, string? Node);

    internal sealed record ServiceListDto(List<ServiceDto> Services);

    internal sealed record ServiceDto(string Name, List<InstanceDto> Instances);

    internal sealed record InstanceDto(string Instance, string Address, string Node, List<string> Ports, bool Healthy);
}
