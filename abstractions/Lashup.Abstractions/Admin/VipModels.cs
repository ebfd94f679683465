using System.Text.Json.Serialization;

namespace Lashup.Abstractions.Admin;

/// <summary>
/// The body of <c>PUT /v1/vips/{proto}/{vip}</c> (<c>lashup vip add VIP [--backend ADDR:PORT]... [--service
/// NAME[:PORT]]</c>): declares the VIP and adds backends to it (on the node that serves the request, weight 1), e.g.
/// <c>{"backends": ["10.0.0.5:80", "10.0.0.6:80"], "service": "web"}</c>. Backends already there are kept.
/// </summary>
/// <param name="Backends">Backends to add, each <c>ADDR:PORT</c>.</param>
/// <param name="Service">A service whose instances serving the VIP's port (or <c>NAME:PORT</c>'s) are backends too.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record VipRequest(IReadOnlyList<string>? Backends = null, string? Service = null);

/// <summary>
/// The body of <c>PUT /v1/vips/{proto}/{vip}/backends/{backend}</c> (<c>lashup vip backend add VIP ADDR:PORT [--weight N]
/// [--node N]</c>): adds the backend or changes it. A weight of 0 drains it: no new connections, open ones go on.
/// </summary>
/// <param name="Weight">0 to 1000; default 1.</param>
/// <param name="Node">The node it runs on (its reachability steers traffic); default: the node that serves the request.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record VipBackendRequest(int? Weight = null, string? Node = null);

/// <summary>The answer of <c>GET /v1/vips</c> (<c>lashup vip list</c>).</summary>
/// <param name="Vips">Every VIP, ordered by its key text.</param>
public sealed record VipListResponse(IReadOnlyList<VipResponse> Vips)
{
    /// <summary>Malformed VIP entries and parts of entries skipped on this node since it started; null when none.</summary>
    public long? Malformed { get; init; }
}

/// <summary>
/// One VIP as the answering node serves it (<c>GET /v1/vips/{proto}/{vip}</c>; also the answer of the calls that change
/// a VIP: the VIP once the answering node applied the change, or as written if that takes more than a few seconds).
/// </summary>
/// <param name="Vip">The VIP, <c>10.0.0.1:80/tcp</c> or <c>web:80/tcp</c>.</param>
/// <param name="Protocol"><c>tcp</c> or <c>udp</c>.</param>
/// <param name="Port">The port.</param>
/// <param name="Name">The name of a named VIP, else null.</param>
/// <param name="Address">The address: an address VIP's own, a named VIP's allocated one; null while a name has none.</param>
/// <param name="Service">The service it also takes backends from (<c>NAME:PORT</c>), or null.</param>
/// <param name="Programmed">Whether this node's data plane serves it.</param>
/// <param name="Reason">Why not, when it does not.</param>
/// <param name="Backends">Its backends: those written for it, then its service's instances.</param>
public sealed record VipResponse(
    string Vip,
    string Protocol,
    int Port,
    string? Name,
    string? Address,
    string? Service,
    bool Programmed,
    string? Reason,
    IReadOnlyList<VipBackendInfo> Backends);

/// <summary>One backend of a <see cref="VipResponse"/>.</summary>
/// <param name="Backend">Its address and port.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="Weight">Its weight (0: draining).</param>
/// <param name="State">
/// <c>active</c> (takes new connections), <c>draining</c> (weight 0: only open connections), <c>excluded</c> (its node is
/// unreachable from the answering node) or <c>fail-open</c> (its node is unreachable, but so are all the VIP's other
/// backends', so all are kept rather than none).
/// </param>
/// <param name="Source"><c>backend</c> (written for the VIP) or <c>service:NAME</c> (an instance of its service).</param>
/// <param name="Programmed">Whether the answering node's data plane sends new connections to it.</param>
/// <param name="Reason">Why not, or a note from the data plane.</param>
/// <param name="Connections">Connections open to it through the answering node, when the data plane counts them.</param>
public sealed record VipBackendInfo(
    string Backend,
    string Node,
    int Weight,
    string State,
    string Source,
    bool Programmed,
    string? Reason,
    int? Connections);

/// <summary>The answer of <c>DELETE /v1/vips/{proto}/{vip}</c> (<c>lashup vip remove</c>).</summary>
/// <param name="Vip">The VIP removed.</param>
/// <param name="ReleasedName">The name released with it (its last VIP went), or null.</param>
public sealed record VipRemovedResponse(string Vip, string? ReleasedName);
