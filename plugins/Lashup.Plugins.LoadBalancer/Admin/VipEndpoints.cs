using System.Net;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Table;

namespace Lashup.Plugins.LoadBalancer.Admin;

// The VIPs on the admin API, for `lashup vip`, one endpoint per route. Writes go into the replicated store
// (VipCatalog, VipNames), which every node's load balancer reads; answers show the VIP as the answering node serves it.
// Every input is checked before anything is written; errors are thrown and mapped by the host.

/// <summary><c>GET /v1/vips</c>: every VIP, as this node serves it.</summary>
internal sealed class VipListEndpoint(IReplicatedStore store, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/vips";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var definitions = store.List(VipCatalog.Prefix).Select(e => VipCatalog.Read(e, out _)).OfType<VipDefinition>().ToList();
        var malformed = controller.Stats.Malformed;
        return ValueTask.FromResult(AdminResult.Ok(new VipListResponse(VipAdmin.Describe(controller, definitions)) { Malformed = malformed > 0 ? malformed : null }));
    }
}

/// <summary><c>GET /v1/vips/{proto}/{vip}</c>: one VIP.</summary>
internal sealed class VipGetEndpoint(IReplicatedStore store, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/vips/{proto}/{vip}";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var vip = VipAdmin.VipOf(request);
        var definition = VipAdmin.Find(store, vip) ?? throw new AdminNotFoundException($"no VIP {vip.Display}");
        return ValueTask.FromResult(AdminResult.Ok(VipAdmin.Describe(controller, [definition])[0]));
    }
}

/// <summary>
/// <c>PUT /v1/vips/{proto}/{vip}</c> with a <see cref="VipRequest"/>: declares the VIP (a named VIP claims its address
/// first, so that the name resolves at once), adds backends on this node at weight 1, sets the service.
/// </summary>
internal sealed class VipPutEndpoint(IReplicatedStore store, IClusterMembership membership, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "PUT";

    public string Pattern => "/v1/vips/{proto}/{vip}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var vip = VipAdmin.VipOf(request);
        var body = request.ReadJson<VipRequest>();
        VipServiceRef? service = null;
        if (body.Service is not null && !VipServiceRef.TryParse(body.Service, vip.Port, out service, out var serviceError))
        {
            throw new AdminRequestException($"service: {serviceError}");
        }

        var address = VipAdmin.CheckAddress(vip, controller, membership);
        IPAddress? claim = null;
        if (vip.IsNamed)
        {
            var (allocated, claimed) = controller.AddressFor(vip.Name);
            if (allocated is null)
            {
                throw new AdminRequestException($"named_vip_range {controller.Range} is exhausted: every address is claimed by a name; remove unused named VIPs or widen the range");
            }

            address = allocated;
            claim = claimed ? null : allocated;
        }

        var ops = new List<CrdtOp>(VipCatalog.Declare());
        var backends = body.Backends ?? [];
        for (var i = 0; i < backends.Count; i++)
        {
            var endpoint = VipAdmin.ParseBackend(backends[i], $"backends[{i}]", vip, address);
            ops.AddRange(VipCatalog.SetBackend(new VipBackend(endpoint, membership.LocalName, VipCatalog.DefaultWeight)));
        }

        if (service is not null)
        {
            ops.AddRange(VipCatalog.SetService(service));
        }

        // What the store would refuse is refused before anything is written: a 400 leaves no claim behind.
        var claimOps = claim is null ? [] : VipNames.SetAddress(claim);
        try
        {
            KvLimits.Validate(VipCatalog.KeyOf(vip), ops);
            if (claim is not null)
            {
                KvLimits.Validate(VipNames.KeyOf(vip.Name!), claimOps);
            }
        }
        catch (KvValidationException e)
        {
            throw new AdminRequestException(ops.Count > KvLimits.MaxOpsPerUpdate
                ? $"backends: {backends.Count} backends are too many for one request (the store takes at most {KvLimits.MaxOpsPerUpdate} ops per update, this would be {ops.Count}); add the rest with lashup vip backend add"
                : e.Message);
        }

        var written = new List<KvEntry>(2);
        if (claim is not null)
        {
            written.Add(await store.UpdateAsync(VipNames.KeyOf(vip.Name!), claimOps, null, cancellationToken).ConfigureAwait(false));
        }

        KvEntry entry;
        try
        {
            entry = await store.UpdateAsync(VipCatalog.KeyOf(vip), ops, null, cancellationToken).ConfigureAwait(false);
        }
        catch when (claim is not null)
        {
            // Refused for a reason not known beforehand (the value's encoded size, say): the name was claimed for
            // this VIP only, so give it back.
            await store.UpdateAsync(VipNames.KeyOf(vip.Name!), VipNames.Release(), null, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        written.Add(entry);
        await VipAdmin.WaitAppliedAsync(controller, written, cancellationToken).ConfigureAwait(false);
        return AdminResult.Ok(VipAdmin.DescribeEntry(controller, entry));
    }
}

/// <summary><c>DELETE /v1/vips/{proto}/{vip}</c>: removes the VIP, and releases its name when it was the name's last VIP.</summary>
internal sealed class VipDeleteEndpoint(IReplicatedStore store, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => "/v1/vips/{proto}/{vip}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var vip = VipAdmin.VipOf(request);
        var key = VipCatalog.KeyOf(vip);
        if (store.Get(key) is not { } entry || VipCatalog.Read(entry, out _) is null)
        {
            throw new AdminNotFoundException($"no VIP {vip.Display}");
        }

        var written = new List<KvEntry>(2) { await store.UpdateAsync(key, VipCatalog.Remove(entry.Value), null, cancellationToken).ConfigureAwait(false) };
        string? released = null;
        if (vip.IsNamed && controller.IsLastOfName(vip.Name, vip) && store.Get(VipNames.KeyOf(vip.Name)) is { IsEmpty: false })
        {
            written.Add(await store.UpdateAsync(VipNames.KeyOf(vip.Name), VipNames.Release(), null, cancellationToken).ConfigureAwait(false));
            released = vip.Name;
        }

        await VipAdmin.WaitAppliedAsync(controller, written, cancellationToken).ConfigureAwait(false);
        return AdminResult.Ok(new VipRemovedResponse(vip.Display, released));
    }
}

/// <summary>
/// <c>PUT /v1/vips/{proto}/{vip}/backends/{backend}</c> with a <see cref="VipBackendRequest"/>: adds the backend, or
/// changes it; what the request leaves out keeps its value (a new backend: weight 1, this node).
/// </summary>
internal sealed class VipBackendPutEndpoint(IReplicatedStore store, IClusterMembership membership, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "PUT";

    public string Pattern => "/v1/vips/{proto}/{vip}/backends/{backend}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var vip = VipAdmin.VipOf(request);
        var body = request.IsEmptyBody() ? new VipBackendRequest() : request.ReadJson<VipBackendRequest>();
        var definition = VipAdmin.Find(store, vip) ?? throw new AdminNotFoundException($"no VIP {vip.Display}; add it first with lashup vip add");
        var address = vip.IsNamed ? controller.AddressFor(vip.Name).Address : vip.Address;
        var endpoint = VipAdmin.ParseBackend(request.RouteValues.GetValueOrDefault("backend"), "backend", vip, address);
        if (body.Weight is { } weight && !VipCatalog.IsValidWeight(weight, out var weightError))
        {
            throw new AdminRequestException($"weight: {weightError}");
        }

        if (body.Node is { } node && !VipAdmin.IsValidNodeName(node))
        {
            throw new AdminRequestException($"node: \"{node}\" is not a node name (1-253 characters: letters, digits, '-', '.', '_')");
        }

        var current = definition.Backends.FirstOrDefault(b => b.Endpoint.Equals(endpoint));
        var backend = new VipBackend(
            endpoint,
            body.Node ?? (current.Endpoint is null ? membership.LocalName : current.Node),
            body.Weight ?? (current.Endpoint is null ? VipCatalog.DefaultWeight : current.Weight));
        var entry = await store.UpdateAsync(VipCatalog.KeyOf(vip), VipCatalog.SetBackend(backend), null, cancellationToken).ConfigureAwait(false);
        await VipAdmin.WaitAppliedAsync(controller, [entry], cancellationToken).ConfigureAwait(false);
        return AdminResult.Ok(VipAdmin.DescribeEntry(controller, entry));
    }
}

/// <summary><c>DELETE /v1/vips/{proto}/{vip}/backends/{backend}</c>: removes a backend written for the VIP.</summary>
internal sealed class VipBackendDeleteEndpoint(IReplicatedStore store, LoadBalancerController controller) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => "/v1/vips/{proto}/{vip}/backends/{backend}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var vip = VipAdmin.VipOf(request);
        var definition = VipAdmin.Find(store, vip) ?? throw new AdminNotFoundException($"no VIP {vip.Display}");
        var text = request.RouteValues.GetValueOrDefault("backend");
        if (!VipId.TryParseEndpoint(text, out var endpoint, out var error))
        {
            throw new AdminRequestException($"backend: {error}");
        }

        if (!definition.Backends.Any(b => b.Endpoint.Equals(endpoint)))
        {
            throw new AdminNotFoundException($"VIP {vip.Display} has no backend {endpoint} (backends of its service come and go with the service's instances)");
        }

        var entry = await store.UpdateAsync(VipCatalog.KeyOf(vip), VipCatalog.RemoveBackend(endpoint), null, cancellationToken).ConfigureAwait(false);
        await VipAdmin.WaitAppliedAsync(controller, [entry], cancellationToken).ConfigureAwait(false);
        return AdminResult.Ok(VipAdmin.DescribeEntry(controller, entry));
    }
}

/// <summary>What the VIP endpoints share.</summary>
internal static class VipAdmin
{
    /// <summary>How long a write waits for this node to apply it, so that its answer shows the result (then it answers anyway).</summary>
    public static readonly TimeSpan ApplyWait = TimeSpan.FromSeconds(3);

    /// <summary>Waits (bounded) until this node's load balancer applied <paramref name="written"/>.</summary>
    public static Task WaitAppliedAsync(LoadBalancerController controller, IReadOnlyCollection<KvEntry> written, CancellationToken cancellationToken) =>
        controller.WaitAppliedAsync(written, ApplyWait, cancellationToken);

    /// <summary>The VIP of the route (<c>{proto}</c>, <c>{vip}</c>).</summary>
    public static VipId VipOf(AdminRequest request)
    {
        var proto = request.RouteValues.GetValueOrDefault("proto") ?? "";
        if (!TransportProtocols.TryParse(proto, out var protocol))
        {
            throw new AdminRequestException($"unknown protocol \"{proto}\"; use tcp or udp");
        }

        return VipId.TryParse(protocol, request.RouteValues.GetValueOrDefault("vip"), out var vip, out var error)
            ? vip
            : throw new AdminRequestException(error);
    }

    public static bool IsEmptyBody(this AdminRequest request) => request.Body.IsEmpty;

    public static VipDefinition? Find(IReplicatedStore store, VipId vip) =>
        store.Get(VipCatalog.KeyOf(vip)) is { } entry ? VipCatalog.Read(entry, out _) : null;

    /// <summary>
    /// An address VIP may not take an address of the named range (a name could be given it), nor a member's address
    /// (put on every node's lo, it would take that node's traffic cluster-wide).
    /// </summary>
    public static IPAddress? CheckAddress(VipId vip, LoadBalancerController controller, IClusterMembership membership)
    {
        if (vip.Address is { } address && controller.Range.Contains(address))
        {
            throw new AdminRequestException($"VIP {vip.Display}: {address} is in named_vip_range {controller.Range}, which is for named VIPs; use a name (NAME:PORT) or another address");
        }

        if (vip.Address is { } taken && VipAddressRules.MemberAt(taken, membership.Members) is { } member)
        {
            throw new AdminRequestException($"VIP {vip.Display}: {taken} is the address of member {member}; a VIP there would take that node's traffic on every node; use another address");
        }

        return vip.Address;
    }

    /// <summary>
    /// Parses a backend; it must not be the VIP itself, nor on the VIP's address at all (the VIP would take its host's
    /// address on every node; loopback excepted).
    /// </summary>
    public static IPEndPoint ParseBackend(string? text, string field, VipId vip, IPAddress? vipAddress)
    {
        if (!VipId.TryParseEndpoint(text, out var endpoint, out var error))
        {
            throw new AdminRequestException($"{field}: {error}");
        }

        if (vipAddress is not null && endpoint.Address.Equals(vipAddress) && endpoint.Port == vip.Port)
        {
            throw new AdminRequestException($"{field}: {endpoint} is the VIP itself; connections would loop");
        }

        if (vipAddress is not null && VipAddressRules.IsBackendHost(vipAddress, endpoint.Address))
        {
            throw new AdminRequestException($"{field}: {endpoint} is on the VIP's address {vipAddress}; the VIP would take that host's traffic on every node; give the VIP an address of its own");
        }

        return endpoint;
    }

    public static bool IsValidNodeName(string name) =>
        name.Length is > 0 and <= 253 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_');

    public static VipResponse DescribeEntry(LoadBalancerController controller, KvEntry entry) =>
        VipCatalog.Read(entry, out _) is { } definition
            ? Describe(controller, [definition])[0]
            : throw new AdminNotFoundException($"VIP {entry.Key} has nothing left");

    /// <summary>VIPs as the admin API shows them: this node's view of their backends, and what its data plane programmed.</summary>
    public static List<VipResponse> Describe(LoadBalancerController controller, IEnumerable<VipDefinition> definitions)
    {
        var result = new List<VipResponse>();
        foreach (var (state, refused) in controller.Describe(definitions.OrderBy(d => d.Id.ToString(), StringComparer.Ordinal)))
        {
            var id = state.Id;
            var programmed = false;
            var reason = state.Reason ?? refused;
            VipProgramStatus? status = null;
            if (reason is null && state.Key is { } key)
            {
                status = controller.Backend.Describe(key);
                programmed = status?.Programmed == true;
                reason = status is null ? "not applied yet" : status.Reason;
            }

            var backends = new List<VipBackendInfo>();
            foreach (var backend in state.Backends)
            {
                var b = backend.Backend;
                var data = status?.Backends.FirstOrDefault(s => s.Endpoint.Equals(b.Endpoint));
                var (on, why) = backend.Role switch
                {
                    BackendRole.Excluded => (false, backend.Note),
                    BackendRole.Draining => (false, "draining: open connections go on, no new ones"),
                    _ when !programmed => (false, "the VIP is not programmed here"),
                    _ when data is not null => (data.Programmed, data.Reason ?? backend.Note),
                    _ => (true, backend.Note),
                };
                backends.Add(new VipBackendInfo(
                    VipId.FormatEndpoint(b.Endpoint), b.Node, b.Weight, LoadBalancerMetrics.RoleName(backend.Role), backend.Source, on, why, data?.Connections));
            }

            result.Add(new VipResponse(
                id.Display,
                TransportProtocols.Name(id.Protocol),
                id.Port,
                id.Name,
                (id.Address ?? state.Key?.Address)?.ToString(),
                state.Definition.Service?.ToString(),
                programmed,
                programmed ? null : reason,
                backends));
        }

        return result;
    }
}
