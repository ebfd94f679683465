using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>
/// A VIP as operators name it and the store keys it: an address or a name, a port and a protocol. Operators write it
/// <c>ADDR:PORT[/tcp|udp]</c> (<c>10.0.0.1:80</c>, <c>[fd00::1]:53/udp</c>) or <c>NAME:PORT[/tcp|udp]</c>
/// (<c>web:80</c>, a named VIP whose address the load balancer allocates, see <see cref="VipNames"/>); its key text,
/// <see cref="ToString"/>, is <c>&lt;proto&gt;/&lt;addr-or-name&gt;:&lt;port&gt;</c>, the key of its entry under
/// <see cref="VipCatalog.Prefix"/>. Exactly one of <see cref="Address"/> and <see cref="Name"/> is set.
/// </summary>
public sealed record VipId
{
    private VipId(IPAddress? address, string? name, ushort port, TransportProtocol protocol)
    {
        Address = address;
        Name = name;
        Port = port;
        Protocol = protocol;
    }

    /// <summary>The VIP's address, for an address VIP; null for a named one.</summary>
    public IPAddress? Address { get; }

    /// <summary>The VIP's name (a DNS label, lower case), for a named VIP; null for an address VIP.</summary>
    public string? Name { get; }

    /// <summary>The port, 1 to 65535.</summary>
    public ushort Port { get; }

    /// <summary>The protocol.</summary>
    public TransportProtocol Protocol { get; }

    /// <summary>Whether this is a named VIP.</summary>
    [MemberNotNullWhen(true, nameof(Name))]
    [MemberNotNullWhen(false, nameof(Address))]
    public bool IsNamed => Name is not null;

    /// <summary>The host and port as written: <c>10.0.0.1:80</c>, <c>[fd00::1]:80</c>, <c>web:80</c>.</summary>
    public string HostPort => (Name ?? (Address!.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString()))
        + ":" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The operators' form, <c>10.0.0.1:80/tcp</c>, <c>web:80/udp</c>.</summary>
    public string Display => HostPort + "/" + TransportProtocols.Name(Protocol);

    /// <summary>An address VIP.</summary>
    /// <param name="address">The address: not unspecified, multicast or broadcast; an IPv4-mapped IPv6 address is taken as IPv4.</param>
    /// <param name="port">The port, 1 to 65535.</param>
    /// <param name="protocol">The protocol.</param>
    /// <returns>The VIP.</returns>
    /// <exception cref="ArgumentException">The address or port cannot be a VIP's.</exception>
    public static VipId ForAddress(IPAddress address, ushort port, TransportProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!TryCheckAddress(ref address, out var error) || !TryCheckPort(port, protocol, out error))
        {
            throw new ArgumentException(error, nameof(address));
        }

        return new VipId(address, null, port, protocol);
    }

    /// <summary>A named VIP.</summary>
    /// <param name="name">The name, a DNS label (upper case is lowered).</param>
    /// <param name="port">The port, 1 to 65535.</param>
    /// <param name="protocol">The protocol.</param>
    /// <returns>The VIP.</returns>
    /// <exception cref="ArgumentException">The name is not a DNS label, or the port is 0.</exception>
    public static VipId ForName(string name, ushort port, TransportProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = name.ToLowerInvariant();
        if (!ServiceCatalog.IsValidLabel(name, out var error))
        {
            throw new ArgumentException($"VIP name {error}", nameof(name));
        }

        if (!TryCheckPort(port, protocol, out error))
        {
            throw new ArgumentException(error, nameof(port));
        }

        return new VipId(null, name, port, protocol);
    }

    /// <summary>Parses <c>ADDR:PORT[/tcp|udp]</c> or <c>NAME:PORT[/tcp|udp]</c>; the protocol defaults to TCP.</summary>
    /// <param name="text">The text.</param>
    /// <param name="vip">The VIP, when the text is one.</param>
    /// <param name="error">What is wrong with the text, in one line naming it.</param>
    /// <returns>Whether the text is a VIP.</returns>
    public static bool TryParse(string? text, [NotNullWhen(true)] out VipId? vip, [NotNullWhen(false)] out string? error)
    {
        vip = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a VIP must not be empty; write ADDR:PORT[/tcp|udp] or NAME:PORT[/tcp|udp]";
            return false;
        }

        var rest = text.Trim();
        var protocol = TransportProtocol.Tcp;
        var slash = rest.LastIndexOf('/');
        if (slash >= 0)
        {
            var proto = rest[(slash + 1)..];
            if (!TransportProtocols.TryParse(proto, out protocol))
            {
                error = $"VIP \"{text}\": unknown protocol \"{proto}\"; use tcp or udp";
                return false;
            }

            rest = rest[..slash];
        }

        return TryParse(protocol, rest, out vip, out error, text);
    }

    /// <summary>Parses <c>ADDR:PORT</c> or <c>NAME:PORT</c> (the <c>{vip}</c> of <c>/v1/vips/{proto}/{vip}</c>).</summary>
    /// <param name="protocol">The protocol.</param>
    /// <param name="hostPort">The host and port.</param>
    /// <param name="vip">The VIP, when the text is one.</param>
    /// <param name="error">What is wrong with the text.</param>
    /// <returns>Whether the text is a VIP.</returns>
    public static bool TryParse(TransportProtocol protocol, string? hostPort, [NotNullWhen(true)] out VipId? vip, [NotNullWhen(false)] out string? error) =>
        TryParse(protocol, hostPort, out vip, out error, hostPort);

    /// <summary>Parses the key text, <c>&lt;proto&gt;/&lt;addr-or-name&gt;:&lt;port&gt;</c> (<see cref="ToString"/>).</summary>
    /// <param name="keyText">The text.</param>
    /// <param name="vip">The VIP, when the text is one.</param>
    /// <returns>Whether the text is a VIP's key text.</returns>
    public static bool TryParseKeyText(string? keyText, [NotNullWhen(true)] out VipId? vip)
    {
        vip = null;
        var slash = keyText?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        return slash > 0
            && TransportProtocols.TryParse(keyText.AsSpan(0, slash), out var protocol)
            && keyText![..slash] == TransportProtocols.Name(protocol)
            && TryParse(protocol, keyText[(slash + 1)..], out vip, out _)
            && vip.ToString() == keyText;
    }

    /// <summary>The data-plane key of this VIP at <paramref name="address"/> (its own address for an address VIP).</summary>
    /// <param name="address">The address a named VIP was allocated; ignored for an address VIP.</param>
    /// <returns>The key.</returns>
    public VipKey ToKey(IPAddress? address = null) =>
        new(Address ?? address ?? throw new ArgumentNullException(nameof(address), $"named VIP {Display} needs its allocated address"), Port, Protocol);

    /// <summary>The key text: <c>tcp/10.0.0.1:80</c>, <c>udp/[fd00::1]:53</c>, <c>tcp/web:80</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => TransportProtocols.Name(Protocol) + "/" + HostPort;

    /// <summary>
    /// Parses a backend or other endpoint, <c>ADDR:PORT</c> (<c>10.0.0.5:8080</c>, <c>[fd00::5]:8080</c>): an address
    /// written in full (four dotted decimals, or IPv6 in brackets, no zone), a port 1 to 65535.
    /// </summary>
    /// <param name="text">The text.</param>
    /// <param name="endpoint">The endpoint, when valid.</param>
    /// <param name="error">What is wrong, naming the text.</param>
    /// <returns>Whether the text is an endpoint.</returns>
    public static bool TryParseEndpoint(string? text, [NotNullWhen(true)] out IPEndPoint? endpoint, [NotNullWhen(false)] out string? error)
    {
        endpoint = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "an endpoint must not be empty; write ADDR:PORT";
            return false;
        }

        if (!TrySplit(text.Trim(), out var host, out var portText)
            || !TryParseAddress(host, out var address))
        {
            error = $"\"{text}\" is not ADDR:PORT (an IPv4 address such as 10.0.0.5:8080, or IPv6 in brackets such as [fd00::5]:8080)";
            return false;
        }

        if (!TryCheckAddress(ref address, out error))
        {
            error = $"\"{text}\": {error}";
            return false;
        }

        if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
        {
            error = $"\"{text}\": the port must be 1 to 65535";
            return false;
        }

        endpoint = new IPEndPoint(address, port);
        error = null;
        return true;
    }

    /// <summary>The canonical text of an endpoint (<c>10.0.0.5:8080</c>, <c>[fd00::5]:8080</c>), as stored.</summary>
    /// <param name="endpoint">The endpoint.</param>
    /// <returns>The text.</returns>
    public static string FormatEndpoint(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint.ToString();
    }

    private static bool TryParse(TransportProtocol protocol, string? hostPort, [NotNullWhen(true)] out VipId? vip, [NotNullWhen(false)] out string? error, string? original)
    {
        vip = null;
        if (protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp))
        {
            error = $"VIP \"{original}\": unknown protocol; use tcp or udp";
            return false;
        }

        if (string.IsNullOrWhiteSpace(hostPort) || !TrySplit(hostPort.Trim(), out var host, out var portText))
        {
            error = $"VIP \"{original}\" is not ADDR:PORT[/tcp|udp] or NAME:PORT[/tcp|udp] (IPv6 in brackets: [fd00::1]:80)";
            return false;
        }

        if (!ushort.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port == 0)
        {
            error = $"VIP \"{original}\": the port must be 1 to 65535, not \"{portText}\"";
            return false;
        }

        if (host.StartsWith('[') || host.Contains(':', StringComparison.Ordinal) || LooksNumeric(host))
        {
            if (!TryParseAddress(host, out var address))
            {
                error = $"VIP \"{original}\": \"{host}\" is not an IP address (write IPv4 in full, IPv6 in brackets)";
                return false;
            }

            if (!TryCheckAddress(ref address, out error))
            {
                error = $"VIP \"{original}\": {error}";
                return false;
            }

            vip = new VipId(address, null, port, protocol);
            error = null;
            return true;
        }

        var name = host.ToLowerInvariant();
        if (!ServiceCatalog.IsValidLabel(name, out var labelError))
        {
            error = $"VIP \"{original}\": the name {labelError} (a named VIP's name is a DNS label)";
            return false;
        }

        vip = new VipId(null, name, port, protocol);
        error = null;
        return true;
    }

    /// <summary>Splits <c>host:port</c> at the last colon; IPv6 hosts are in brackets (kept in <paramref name="host"/>).</summary>
    private static bool TrySplit(string text, out string host, out string port)
    {
        host = port = "";
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            return false;
        }

        host = text[..colon];
        port = text[(colon + 1)..];
        // A bare IPv6 address has colons of its own: it must be in brackets, or "::1:80" would be ambiguous.
        return !host.Contains(':', StringComparison.Ordinal) || (host.StartsWith('[') && host.EndsWith(']'));
    }

    private static bool LooksNumeric(string host) => host.Length > 0 && host.All(c => char.IsAsciiDigit(c) || c == '.');

    /// <summary>An IPv4 address as four dotted decimals, or an IPv6 address in brackets without a zone.</summary>
    private static bool TryParseAddress(string host, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            var inner = host[1..^1];
            return !inner.Contains('%', StringComparison.Ordinal)
                && IPAddress.TryParse(inner, out address)
                && address.AddressFamily == AddressFamily.InterNetworkV6;
        }

        var parts = host.Split('.');
        return parts.Length == 4
            && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && int.Parse(p, CultureInfo.InvariantCulture) <= 255)
            && IPAddress.TryParse(host, out address)
            && address.AddressFamily == AddressFamily.InterNetwork;
    }

    /// <summary>
    /// Whether <paramref name="address"/> can be a VIP's or a backend's address: not unspecified, multicast, broadcast
    /// or reserved, no IPv6 zone. Entries read from the store (a service instance's address) pass through this before a
    /// data plane sees them, so one bad address never reaches a kernel transaction that it would make fail whole.
    /// </summary>
    /// <param name="address">The address.</param>
    /// <param name="error">Why not.</param>
    /// <returns>Whether it can.</returns>
    public static bool IsUsableAddress(IPAddress address, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(address);
        return TryCheckAddress(ref address, out error);
    }

    private static bool TryCheckAddress(ref IPAddress address, [NotNullWhen(false)] out string? error)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            error = $"{address} is the unspecified address";
            return false;
        }

        if (address.Equals(IPAddress.Broadcast)
            || (address.AddressFamily == AddressFamily.InterNetwork && address.GetAddressBytes()[0] >= 224)
            || address.IsIPv6Multicast)
        {
            error = $"{address} is a multicast, broadcast or reserved address";
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            error = $"{address} has a zone; link-local addresses with a zone cannot be VIPs or backends";
            return false;
        }

        error = null;
        return true;
    }

    private static bool TryCheckPort(ushort port, TransportProtocol protocol, [NotNullWhen(false)] out string? error)
    {
        if (port == 0)
        {
            error = "the port must be 1 to 65535";
            return false;
        }

        if (protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp))
        {
            error = "the protocol must be tcp or udp";
            return false;
        }

        error = null;
        return true;
    }
}
