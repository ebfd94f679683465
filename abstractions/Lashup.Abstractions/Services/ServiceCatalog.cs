using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Networking;

namespace Lashup.Abstractions.Services;

/// <summary>One port of a service instance, written <c>[name:]number[/tcp|/udp]</c> (e.g. <c>http:80/tcp</c>).</summary>
/// <param name="Number">The port number, 1 to 65535.</param>
/// <param name="Protocol">The transport protocol.</param>
/// <param name="Name">An optional port name (a DNS label), so that SRV can be asked as <c>_http._tcp</c> as well as <c>_80._tcp</c>.</param>
public sealed record ServicePort(ushort Number, TransportProtocol Protocol, string? Name = null)
{
    /// <summary>Parses <c>[name:]number[/tcp|/udp]</c>; the protocol defaults to TCP.</summary>
    /// <param name="text">The text to parse.</param>
    /// <param name="port">The port, when the text is valid.</param>
    /// <param name="error">Why the text is not a port, when it is not.</param>
    /// <returns>Whether <paramref name="text"/> is a valid port.</returns>
    public static bool TryParse(string? text, [NotNullWhen(true)] out ServicePort? port, [NotNullWhen(false)] out string? error)
    {
        port = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a port must not be empty";
            return false;
        }

        var rest = text.AsSpan().Trim();
        var protocol = TransportProtocol.Tcp;
        var slash = rest.IndexOf('/');
        if (slash >= 0)
        {
            var proto = rest[(slash + 1)..];
            if (!TransportProtocols.TryParse(proto, out protocol))
            {
                error = $"port \"{text}\": the protocol must be tcp or udp, not \"{proto}\"";
                return false;
            }

            rest = rest[..slash];
        }

        string? name = null;
        var colon = rest.IndexOf(':');
        if (colon >= 0)
        {
            name = rest[..colon].ToString().ToLowerInvariant();
            if (!ServiceCatalog.IsValidLabel(name, out var labelError))
            {
                error = $"port \"{text}\": the name {labelError}";
                return false;
            }

            if (name.Length > 62)
            {
                error = $"port \"{text}\": the name has {name.Length} characters; at most 62 (SRV asks for it as the label _{name[..8]}...)";
                return false;
            }

            rest = rest[(colon + 1)..];
        }

        if (!ushort.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number == 0)
        {
            error = $"port \"{text}\": the number must be 1 to 65535";
            return false;
        }

        port = new ServicePort(number, protocol, name);
        error = null;
        return true;
    }

    /// <summary>Parses <c>[name:]number[/tcp|/udp]</c>.</summary>
    /// <param name="text">The text to parse.</param>
    /// <returns>The port.</returns>
    /// <exception cref="FormatException">The text is not a valid port.</exception>
    public static ServicePort Parse(string text) =>
        TryParse(text, out var port, out var error) ? port : throw new FormatException(error);

    /// <summary>The canonical text form, <c>[name:]number/proto</c>; it is also the element stored in the KV.</summary>
    /// <returns>The text form.</returns>
    public override string ToString() =>
        (Name is null ? string.Empty : Name + ":")
        + Number.ToString(CultureInfo.InvariantCulture)
        + "/" + TransportProtocols.Name(Protocol);
}

/// <summary>One registered instance of a service: an address with ports, on a node.</summary>
/// <param name="Service">The service name (a DNS label, lower case).</param>
/// <param name="Instance">The instance name, unique within the service (a DNS label, lower case).</param>
/// <param name="Address">Where the instance listens.</param>
/// <param name="Node">The node that registered it; the instance counts as healthy while that node is reachable.</param>
/// <param name="Ports">The ports it serves (may be empty: address records only).</param>
public sealed record ServiceInstance(string Service, string Instance, IPAddress Address, string Node, ImmutableArray<ServicePort> Ports);

/// <summary>
/// The layout of service registrations in the replicated store, shared by whatever writes them (the admin API and
/// <c>lashup service register</c>) and whatever reads them (the DNS plugin, vendors' plugins). One key per service,
/// <c>services/&lt;service&gt;</c>, whose value holds a map <c>instances</c> of one map per instance with fields
/// <c>address</c> (LWW register), <c>node</c> (LWW register) and <c>ports</c> (OR-set of <see cref="ServicePort"/> text).
/// A registration touches one instance's fields, so registrations of the same service from many nodes merge;
/// deregistration removes the instance's field, and a concurrent re-registration wins (add-wins map).
/// </summary>
public static class ServiceCatalog
{
    /// <summary>Names that cannot be services because the DNS zone uses them for other records.</summary>
    public static readonly ImmutableArray<string> ReservedNames = ["node", "l4lb", "ns"];

    /// <summary>The key prefix of all services: <c>services</c>.</summary>
    public static KvKey Prefix { get; } = KvKey.Parse("services");

    private const string InstancesField = "instances";
    private const string AddressField = "address";
    private const string NodeField = "node";
    private const string PortsField = "ports";

    /// <summary>The key of <paramref name="service"/>: <c>services/&lt;service&gt;</c>.</summary>
    /// <param name="service">A valid service name.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException">The name is not a valid service name.</exception>
    public static KvKey KeyOf(string service)
    {
        if (!IsValidServiceName(service, out var error))
        {
            throw new ArgumentException(error, nameof(service));
        }

        return Prefix.Child(service);
    }

    /// <summary>The service name of a key under <see cref="Prefix"/>, or null for any other key.</summary>
    /// <param name="key">A key.</param>
    /// <returns>The service name, or null.</returns>
    public static string? ServiceOf(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Segments.Length == 2 && key.StartsWith(Prefix) && IsValidServiceName(key.Segments[1], out _)
            ? key.Segments[1]
            : null;
    }

    /// <summary>Whether <paramref name="name"/> is a DNS label: 1 to 63 of <c>a-z 0-9 -</c>, not starting or ending with <c>-</c>.</summary>
    /// <param name="name">The name to check.</param>
    /// <param name="error">What is wrong with it.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValidLabel([NotNullWhen(true)] string? name, [NotNullWhen(false)] out string? error)
    {
        if (string.IsNullOrEmpty(name))
        {
            error = "must not be empty";
            return false;
        }

        if (name.Length > 63)
        {
            error = $"\"{name}\" is {name.Length} characters; a DNS label has at most 63";
            return false;
        }

        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                error = $"\"{name}\" may only have lower-case letters, digits and '-'";
                return false;
            }
        }

        if (name[0] == '-' || name[^1] == '-')
        {
            error = $"\"{name}\" must not start or end with '-'";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Whether <paramref name="name"/> can name a service: a DNS label that is not one of <see cref="ReservedNames"/>.</summary>
    /// <param name="name">The name to check.</param>
    /// <param name="error">What is wrong with it.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValidServiceName([NotNullWhen(true)] string? name, [NotNullWhen(false)] out string? error)
    {
        if (!IsValidLabel(name, out var labelError))
        {
            error = $"service name {labelError}";
            return false;
        }

        if (ReservedNames.Contains(name))
        {
            error = $"service name \"{name}\" is reserved (the DNS zone uses {string.Join(", ", ReservedNames)})";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>
    /// The instance name used when none is given: an IPv4 address with <c>-</c> for <c>.</c> (<c>10-0-0-5</c>), an
    /// IPv6 address as its 32 hex digits (unique, and a valid label, which the colon form is not).
    /// </summary>
    /// <param name="address">The instance address.</param>
    /// <returns>A valid instance name.</returns>
    public static string DefaultInstanceName(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? Convert.ToHexStringLower(address.GetAddressBytes())
            : address.ToString().Replace('.', '-');
    }

    /// <summary>The operations that register (or re-register, replacing address, node and ports) an instance.</summary>
    /// <param name="instance">The instance.</param>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/> of its service.</returns>
    /// <exception cref="ArgumentException">A name is not a valid DNS label.</exception>
    public static IReadOnlyList<CrdtOp> Register(ServiceInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        if (!IsValidServiceName(instance.Service, out var error) || !IsValidLabel(instance.Instance, out error))
        {
            throw new ArgumentException(error, nameof(instance));
        }

        if (string.IsNullOrEmpty(instance.Node))
        {
            throw new ArgumentException("an instance needs the name of its node", nameof(instance));
        }

        var ops = new List<CrdtOp>
        {
            new LwwSet(PathOf(instance.Instance, AddressField), instance.Address.ToString()),
            new LwwSet(PathOf(instance.Instance, NodeField), instance.Node),
            new ORSetClear(PathOf(instance.Instance, PortsField)),
        };
        foreach (var port in instance.Ports.IsDefault ? [] : instance.Ports)
        {
            ops.Add(new ORSetAdd(PathOf(instance.Instance, PortsField), port.ToString()));
        }

        return ops;
    }

    /// <summary>The operation that deregisters an instance (a concurrent re-registration elsewhere wins).</summary>
    /// <param name="instance">The instance name.</param>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/>.</returns>
    public static IReadOnlyList<CrdtOp> Deregister(string instance)
    {
        if (!IsValidLabel(instance, out var error))
        {
            throw new ArgumentException($"instance name {error}", nameof(instance));
        }

        return [new RemoveField([InstancesField, instance])];
    }

    /// <summary>
    /// Reads the instances of a service entry. The store is replicated from other nodes, so a malformed instance
    /// (unparsable address, missing node, invalid names) is skipped, never thrown on; so are unparsable ports.
    /// </summary>
    /// <param name="entry">An entry under <see cref="Prefix"/>.</param>
    /// <returns>The valid instances, ordered by instance name; empty for any other key.</returns>
    public static ImmutableArray<ServiceInstance> Read(KvEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var service = ServiceOf(entry.Key);
        var instances = entry.Value.GetMap(InstancesField);
        if (service is null || instances is null)
        {
            return [];
        }

        var result = ImmutableArray.CreateBuilder<ServiceInstance>();
        foreach (var field in instances.Fields)
        {
            if (field.Value is not IMapValue fields
                || !IsValidLabel(field.Name, out _)
                || fields.GetLwwRegister(AddressField)?.Value is not { } addressText
                || !IPAddress.TryParse(addressText, out var address)
                || fields.GetLwwRegister(NodeField)?.Value is not { Length: > 0 } node)
            {
                continue;
            }

            var ports = ImmutableArray.CreateBuilder<ServicePort>();
            foreach (var element in fields.GetORSet(PortsField)?.Elements ?? [])
            {
                if (ServicePort.TryParse(element, out var port, out _))
                {
                    ports.Add(port);
                }
            }

            result.Add(new ServiceInstance(service, field.Name, address, node, ports.ToImmutable()));
        }

        return result.ToImmutable();
    }

    private static ImmutableArray<string> PathOf(string instance, string field) => [InstancesField, instance, field];
}
