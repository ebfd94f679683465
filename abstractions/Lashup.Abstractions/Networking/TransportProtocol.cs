namespace Lashup.Abstractions.Networking;

/// <summary>
/// The transport protocol of a port: of a service's port in the catalog, of a VIP, of whatever else a plugin forwards
/// or programs. The values are the IP protocol numbers, so they can be handed to the kernel as they are.
/// </summary>
public enum TransportProtocol
{
    /// <summary>TCP (IP protocol 6).</summary>
    Tcp = 6,

    /// <summary>UDP (IP protocol 17).</summary>
    Udp = 17,
}

/// <summary>The one text form of <see cref="TransportProtocol"/>: <c>tcp</c>, <c>udp</c> (as in <c>http:80/tcp</c>, <c>_80._udp</c>).</summary>
public static class TransportProtocols
{
    /// <summary>The lower-case name: <c>tcp</c> or <c>udp</c>.</summary>
    /// <param name="protocol">The protocol.</param>
    /// <returns>Its name.</returns>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined protocol.</exception>
    public static string Name(TransportProtocol protocol) => protocol switch
    {
        TransportProtocol.Tcp => "tcp",
        TransportProtocol.Udp => "udp",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "not a transport protocol"),
    };

    /// <summary>Parses <c>tcp</c> or <c>udp</c>, in any case.</summary>
    /// <param name="text">The text.</param>
    /// <param name="protocol">The protocol, when the text names one.</param>
    /// <returns>Whether the text names a protocol.</returns>
    public static bool TryParse(ReadOnlySpan<char> text, out TransportProtocol protocol)
    {
        if (text.Equals("tcp", StringComparison.OrdinalIgnoreCase))
        {
            protocol = TransportProtocol.Tcp;
            return true;
        }

        if (text.Equals("udp", StringComparison.OrdinalIgnoreCase))
        {
            protocol = TransportProtocol.Udp;
            return true;
        }

        protocol = default;
        return false;
    }
}
