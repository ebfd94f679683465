using System.Text.Json.Serialization;

namespace Lashup.Abstractions.Admin;

/// <summary>
/// The body of <c>PUT /v1/services/{service}</c> (<c>lashup service register</c>): one instance of the service, e.g.
/// <c>{"address": "10.0.0.5", "ports": ["http:80/tcp"], "instance": "web-1", "node": "node-1"}</c>.
/// </summary>
/// <param name="Address">The instance's IPv4 or IPv6 address.</param>
/// <param name="Ports">Its ports, each <c>[name:]number[/tcp|/udp]</c> (see <see cref="Services.ServicePort"/>).</param>
/// <param name="Instance">The instance name; default: from the address (<see cref="Services.ServiceCatalog.DefaultInstanceName"/>).</param>
/// <param name="Node">The node it runs on; default: the node that serves the request.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ServiceRegistrationRequest(string? Address, IReadOnlyList<string>? Ports = null, string? Instance = null, string? Node = null);

/// <summary>The answer of <c>GET /v1/services</c> (<c>lashup service list</c>).</summary>
/// <param name="Services">Every service with at least one instance.</param>
public sealed record ServiceListResponse(IReadOnlyList<ServiceResponse> Services);

/// <summary>
/// One service (<c>GET /v1/services/{service}</c>; also the answer of a registration and a deregistration: the service
/// as it is after it).
/// </summary>
/// <param name="Name">The service name.</param>
/// <param name="Instances">Its instances, by instance name.</param>
public sealed record ServiceResponse(string Name, IReadOnlyList<ServiceInstanceInfo> Instances);

/// <summary>One instance of a <see cref="ServiceResponse"/>.</summary>
/// <param name="Instance">The instance name.</param>
/// <param name="Address">Its address.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="Ports">Its ports, canonical (<c>http:80/tcp</c>).</param>
/// <param name="Healthy">Whether that node is reachable from the node that answers.</param>
public sealed record ServiceInstanceInfo(string Instance, string Address, string Node, IReadOnlyList<string> Ports, bool Healthy);
