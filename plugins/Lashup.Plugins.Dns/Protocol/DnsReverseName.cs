using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>Reverse-lookup names for PTR: <c>4.3.2.1.in-addr.arpa</c> (RFC 1035 §3.5) and the nibble form under <c>ip6.arpa</c> (RFC 3596 §2.5).</summary>
internal static class DnsReverseName
{
    /// <summary>The longest reverse name in wire form: 32 nibble labels, "ip6", "arpa", root.</summary>
    public const int MaxLength = (32 * 2) + 4 + 5 + 1;

    private static ReadOnlySpan<byte> InAddrArpa => [7, (byte)'i', (byte)'n', (byte)'-', (byte)'a', (byte)'d', (byte)'d', (byte)'r', 4, (byte)'a', (byte)'r', (byte)'p', (byte)'a', 0];

    private static ReadOnlySpan<byte> Ip6Arpa => [3, (byte)'i', (byte)'p', (byte)'6', 4, (byte)'a', (byte)'r', (byte)'p', (byte)'a', 0];

    private static ReadOnlySpan<byte> HexDigits => "0123456789abcdef"u8;

    /// <summary>Writes the reverse name of <paramref name="address"/> in wire form.</summary>
    /// <returns>false if the destination is too small or the family is neither IPv4 nor IPv6.</returns>
    public static bool TryWrite(IPAddress address, Span<byte> destination, out int written)
    {
        ArgumentNullException.ThrowIfNull(address);
        written = 0;
        Span<byte> octets = stackalloc byte[16];
        if (!address.TryWriteBytes(octets, out var count))
        {
            return false;
        }

        var position = 0;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            if (destination.Length < (4 * 4) + InAddrArpa.Length)
            {
                return false;
            }

            for (var i = 3; i >= 0; i--)
            {
                var value = octets[i];
                var digits = value >= 100 ? 3 : value >= 10 ? 2 : 1;
                destination[position++] = (byte)digits;
                for (var d = digits - 1; d >= 0; d--)
                {
                    destination[position + d] = (byte)('0' + (value % 10));
                    value /= 10;
                }

                position += digits;
            }

            InAddrArpa.CopyTo(destination[position..]);
            written = position + InAddrArpa.Length;
            return true;
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6 || count != 16 || destination.Length < MaxLength)
        {
            return false;
        }

        for (var i = 15; i >= 0; i--)
        {
            destination[position++] = 1;
            destination[position++] = HexDigits[octets[i] & 0xF];
            destination[position++] = 1;
            destination[position++] = HexDigits[octets[i] >> 4];
        }

        Ip6Arpa.CopyTo(destination[position..]);
        written = position + Ip6Arpa.Length;
        return true;
    }

    /// <summary>The reverse name of <paramref name="address"/> as dotted text, e.g. <c>4.3.2.1.in-addr.arpa</c>.</summary>
    public static string ToText(IPAddress address)
    {
        Span<byte> name = stackalloc byte[MaxLength];
        return TryWrite(address, name, out var written)
            ? DnsName.ToText(name[..written])
            : throw new ArgumentException("not an IPv4 or IPv6 address", nameof(address));
    }

    /// <summary>
    /// Reads the address of a full reverse name in wire form (any case): four decimal labels without leading zeros under
    /// in-addr.arpa, or 32 single hex-digit labels under ip6.arpa. Partial names (a reverse zone) are not addresses.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> name, [NotNullWhen(true)] out IPAddress? address)
    {
        address = null;
        if (DnsName.Measure(name) != name.Length)
        {
            return false;
        }

        Span<byte> octets = stackalloc byte[16];
        octets.Clear(); // nibbles are OR-ed in, and the module skips zeroing stack memory
        if (name.Length == (32 * 2) + Ip6Arpa.Length)
        {
            if (!DnsName.EqualsIgnoreCase(name[^Ip6Arpa.Length..], Ip6Arpa))
            {
                return false;
            }

            for (var i = 0; i < 32; i++)
            {
                if (name[i * 2] != 1 || !TryHex(name[(i * 2) + 1], out var nibble))
                {
                    return false;
                }

                // Label i is nibble i from the end of the address.
                var octet = 15 - (i / 2);
                octets[octet] |= (byte)(i % 2 == 0 ? nibble : nibble << 4);
            }

            address = new IPAddress(octets);
            return true;
        }

        if (name.Length <= InAddrArpa.Length || !DnsName.EqualsIgnoreCase(name[^InAddrArpa.Length..], InAddrArpa))
        {
            return false;
        }

        var position = 0;
        for (var i = 3; i >= 0; i--)
        {
            int length = name[position];
            if (length is < 1 or > 3 || position + length >= name.Length - InAddrArpa.Length)
            {
                return false;
            }

            var digits = name.Slice(position + 1, length);
            if (length > 1 && digits[0] == '0')
            {
                return false;
            }

            var value = 0;
            foreach (var digit in digits)
            {
                if ((uint)(digit - '0') > 9)
                {
                    return false;
                }

                value = (value * 10) + (digit - '0');
            }

            if (value > 255)
            {
                return false;
            }

            octets[i] = (byte)value;
            position += length + 1;
        }

        if (position != name.Length - InAddrArpa.Length)
        {
            return false;
        }

        address = new IPAddress(octets[..4]);
        return true;
    }

    /// <summary>Reads the address of a full reverse name in dotted text.</summary>
    public static bool TryParse(ReadOnlySpan<char> name, [NotNullWhen(true)] out IPAddress? address)
    {
        Span<byte> wire = stackalloc byte[DnsName.MaxLength];
        if (!DnsName.TryFromText(name, wire, out var written))
        {
            address = null;
            return false;
        }

        return TryParse(wire[..written], out address);
    }

    private static bool TryHex(byte digit, out int value)
    {
        value = digit switch
        {
            >= (byte)'0' and <= (byte)'9' => digit - '0',
            >= (byte)'a' and <= (byte)'f' => digit - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => digit - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
