using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Overlay;

namespace Lashup.Plugins.Overlay.Admin;

// The overlay on the admin API, for `lashup overlay`: this node's view (its subnet, its peers as it programs them)
// and the release of a departed node's claim. Errors are thrown and mapped by the host.

/// <summary><c>GET /v1/overlay</c>: this node's subnet, VTEP, underlay, backend and last reconcile.</summary>
internal sealed class OverlayShowEndpoint(OverlayController controller) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/overlay";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var snapshot = controller.Snapshot;
        var local = snapshot.Applied.Local;
        var status = controller.Backend.DescribeLocal();
        var reason = local is null ? snapshot.LocalReason : status is { Programmed: false } ? status.Reason : status?.Reason;
        return ValueTask.FromResult(AdminResult.Ok(new OverlayResponse(
            controller.LocalName,
            controller.Backend.Name,
            controller.Range.ToString(),
            local?.Subnet.ToString(),
            local?.VtepAddress.ToString(),
            local is null ? null : OverlayCatalog.FormatMac(local.VtepMac),
            (local?.Underlay ?? controller.Underlay).ToString(),
            snapshot.Mtu,
            local is not null && status?.Programmed == true,
            reason,
            snapshot.LastReconcile?.ToString("O", System.Globalization.CultureInfo.InvariantCulture))));
    }
}

/// <summary><c>GET /v1/overlay/peers</c>: every claim in the store, with its state on this node.</summary>
internal sealed class OverlayPeersEndpoint(OverlayController controller) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/overlay/peers";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var peers = controller.Snapshot.Claims.Select(v => new OverlayPeerInfo(
            v.Claim.Node,
            v.Claim.Subnet.ToString(),
            v.Claim.Underlay.ToString(),
            v.Claim.VtepMac is { } mac ? OverlayCatalog.FormatMac(mac) : null,
            v.State,
            v.Reason)).ToList();
        var malformed = controller.Stats.Malformed;
        return ValueTask.FromResult(AdminResult.Ok(new OverlayPeersResponse(peers) { Malformed = malformed > 0 ? malformed : null }));
    }
}

/// <summary><c>DELETE /v1/overlay/nodes/{node}</c>: frees a departed node's subnet early; refused (409) while it is reachable.</summary>
internal sealed class OverlayReleaseEndpoint(OverlayController controller) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => "/v1/overlay/nodes/{node}";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var node = request.RouteValues["node"];
        if (!OverlayCatalog.IsValidNode(node))
        {
            throw new AdminRequestException($"\"{node}\" is not a node name (1-253 letters, digits, '-', '.', '_')");
        }

        if (!controller.Snapshot.Claims.Any(c => c.Claim.Node == node))
        {
            throw new AdminNotFoundException($"{node} holds no overlay subnet");
        }

        try
        {
            var subnet = await controller.ReleaseAsync(node, cancellationToken).ConfigureAwait(false);
            return AdminResult.Ok(new OverlayReleasedResponse(node, subnet?.ToString()));
        }
        catch (InvalidOperationException e)
        {
            return AdminResult.Error(409, e.Message);
        }
    }
}
