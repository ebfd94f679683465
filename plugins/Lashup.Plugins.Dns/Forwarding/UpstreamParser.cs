using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// Turns the <c>upstreams</c> strings of the configuration into endpoints: <c>"10.0.0.1"</c> (port 53),
/// <c>"127.0.0.1:5353"</c>, <c>"fd00::1"</c>, <c>"[::1]:53"</c>, and <c>"system"</c> for the nameservers of
/// <c>/etc/resolv.conf</c>. Names are refused (resolving the resolver's address would need a resolver).
/// </summary>
internal static class UpstreamParser
{
    /// <summary>The value that stands for the system's resolvers.</summary>
    public const string System = "system";

    /// <summary>Where the system's resolvers are listed.</summary>
    public const string DefaultResolvConfPath = "/etc/resolv.conf";

    /// <summary>The port of an upstream given without one.</summary>
    public const int DefaultPort = 53;

    /// <summary>The nameservers of resolv.conf the C library uses (glibc's MAXNS); later ones are ignored the same way.</summary>
    public const int MaxSystemNameservers = 3;

    /// <summary>
    /// Parses every value, in order, dropping duplicates. Loopback stub resolvers (127.0.0.53 of systemd-resolved)
    /// are kept. On failure <paramref name="error"/> names the offending string (and file and line for resolv.conf).
    /// </summary>
    public static bool TryParse(IEnumerable<string> values, out IReadOnlyList<IPEndPoint> upstreams, out string? error, string resolvConfPath = DefaultResolvConfPath)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new List<IPEndPoint>();
        upstreams = result;
        foreach (var value in values)
        {
            if (value is not null && string.Equals(value.Trim(), System, StringComparison.OrdinalIgnoreCase))
            {
                if (!TryReadResolvConf(resolvConfPath, out var system, out error))
                {
                    return false;
                }

                foreach (var endpoint in system)
                {
                    AddDistinct(result, endpoint);
                }

                continue;
            }

            if (!TryParseEndpoint(value, out var parsed, out error))
            {
                return false;
            }

            AddDistinct(result, parsed);
        }

        error = null;
        return true;
    }

    /// <summary>Parses one <c>address</c>, <c>ipv4:port</c> or <c>[ipv6]:port</c>.</summary>
    public static bool TryParseEndpoint(string? value, out IPEndPoint endpoint, out string? error)
    {
        endpoint = null!;
        var text = value?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            error = "upstream \"\" is empty: expected an address such as \"10.0.0.1\", \"127.0.0.1:5353\", \"[::1]:53\", or \"system\"";
            return false;
        }

        var addressText = text.AsSpan();
        var port = DefaultPort;
        var bracketed = text[0] == '[';
        if (bracketed)
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return Fail(text, "has no closing ']'", out error);
            }

            addressText = text.AsSpan(1, close - 1);
            var rest = text.AsSpan(close + 1);
            if (!rest.IsEmpty && (rest[0] != ':' || !TryParsePort(rest[1..], out port)))
            {
                return Fail(text, "has a bad port after ']' (expected \"[address]:port\", port 1 to 65535)", out error);
            }
        }
        else
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon >= 0 && colon == text.LastIndexOf(':'))
            {
                // One colon: IPv4 with a port. Bare IPv6 has several and takes the default port.
                addressText = text.AsSpan(0, colon);
                if (!TryParsePort(text.AsSpan(colon + 1), out port))
                {
                    return Fail(text, "has a bad port (expected 1 to 65535)", out error);
                }
            }
        }

        if (!IPAddress.TryParse(addressText, out var address)
            || !IsPlainAddress(addressText, address)
            || (bracketed && address.AddressFamily != AddressFamily.InterNetworkV6))
        {
            return Fail(text, "is not an IP address (expected \"10.0.0.1\", \"127.0.0.1:5353\", \"fd00::1\", \"[::1]:53\" or \"system\"; names are not resolved)", out error);
        }

        address = Canonical(address);
        if (!IsUnicast(address))
        {
            return Fail(text, "is not a unicast address", out error);
        }

        endpoint = new IPEndPoint(address, port);
        error = null;
        return true;
    }

    /// <summary>
    /// Reads the <c>nameserver</c> lines of a resolv.conf (comment lines start with <c>#</c> or <c>;</c>; anything after
    /// the address is ignored, as the C library does), keeping the first <see cref="MaxSystemNameservers"/>.
    /// </summary>
    public static bool TryReadResolvConf(string path, out IReadOnlyList<IPEndPoint> nameservers, out string? error)
    {
        ArgumentNullException.ThrowIfNull(path);
        var result = new List<IPEndPoint>();
        nameservers = result;
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            error = $"upstream \"{System}\": cannot read {path}: {e.Message}";
            return false;
        }

        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].AsSpan().Trim();
            if (line.IsEmpty || line[0] is '#' or ';' || !line.StartsWith("nameserver", StringComparison.Ordinal))
            {
                continue;
            }

            var rest = line["nameserver".Length..];
            if (rest.IsEmpty || !char.IsWhiteSpace(rest[0]))
            {
                continue;
            }

            rest = rest.TrimStart();
            var end = rest.IndexOfAny(" \t#;");
            var token = (end < 0 ? rest : rest[..end]).ToString();
            if (token.Length == 0)
            {
                error = $"upstream \"{System}\": {path} line {i + 1}: nameserver without an address";
                return false;
            }

            // resolv.conf carries addresses only (no port, no brackets); IPv6 may carry a %zone.
            if (!IPAddress.TryParse(token, out var address) || !IsPlainAddress(token, address) || !IsUnicast(Canonical(address)))
            {
                error = $"upstream \"{System}\": {path} line {i + 1}: \"{token}\" is not a unicast IP address";
                return false;
            }

            if (result.Count < MaxSystemNameservers)
            {
                AddDistinct(result, new IPEndPoint(Canonical(address), DefaultPort));
            }
        }

        if (result.Count == 0)
        {
            error = $"upstream \"{System}\": {path} lists no nameserver";
            return false;
        }

        error = null;
        return true;
    }

    private static bool TryParsePort(ReadOnlySpan<char> text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= ushort.MaxValue;

    /// <summary>
    /// IPAddress.TryParse also takes forms no one writes in a config ("10" for 0.0.0.10, "1.2.3" for 1.2.0.3, hex
    /// octets); an IPv4 address must be four decimal octets.
    /// </summary>
    private static bool IsPlainAddress(ReadOnlySpan<char> text, IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return text.Contains(':');
        }

        if (text.Count('.') != 3)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c != '.' && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are IPv4 upstreams: they go out of the IPv4 sockets.</summary>
    private static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private static bool IsUnicast(IPAddress address)
    {
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return !address.IsIPv6Multicast;
        }

        Span<byte> octets = stackalloc byte[4];
        address.TryWriteBytes(octets, out _);
        return octets[0] is < 224 or > 239;
    }

    private static bool Fail(string text, string problem, out string error)
    {
        error = $"upstream \"{text}\" {problem}";
        return false;
    }

    private static void AddDistinct(List<IPEndPoint> list, IPEndPoint endpoint)
    {
        if (!list.Contains(endpoint))
        {
            list.Add(endpoint);
        }
    }
}
