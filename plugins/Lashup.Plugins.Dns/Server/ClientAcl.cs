using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Dns.Server;

/// <summary>
/// Who may have names forwarded (recursion): the server answers cluster names to anyone, but it is not an open
/// resolver. Checked on the UDP hot path straight from the raw socket address, without allocating an IPEndPoint.
/// </summary>
internal sealed class ClientAcl
{
    private const ushort LinuxInet = 2;
    private const ushort LinuxInet6 = 10;
    private readonly IPNetwork[] _networks;
    private readonly (uint Prefix, uint Mask)[] _v4;

    public ClientAcl(IEnumerable<IPNetwork> networks)
    {
        _networks = [.. networks];
        _v4 = [.. _networks
            .Where(n => n.BaseAddress.AddressFamily == AddressFamily.InterNetwork)
            .Select(n =>
            {
                var mask = n.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - n.PrefixLength);
                return (BinaryPrimitives.ReadUInt32BigEndian(n.BaseAddress.GetAddressBytes()) & mask, mask);
            })];
    }

    public bool Allows(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        foreach (var network in _networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A raw Linux <c>sockaddr</c> (from recvmmsg) as a <see cref="SocketAddress"/>, for a later SendTo.</summary>
    public static SocketAddress ToSocketAddress(ReadOnlySpan<byte> sockaddr)
    {
        var family = BinaryPrimitives.ReadUInt16LittleEndian(sockaddr) == LinuxInet6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var address = new SocketAddress(family, sockaddr.Length);
        sockaddr.CopyTo(address.Buffer.Span);
        return address;
    }

    /// <summary>Whether a raw Linux <c>sockaddr</c> (from recvmmsg) is allowed.</summary>
    public bool Allows(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return false;
        }

        return BinaryPrimitives.ReadUInt16LittleEndian(sockaddr) switch
        {
            LinuxInet when sockaddr.Length >= 8 => AllowsV4(BinaryPrimitives.ReadUInt32BigEndian(sockaddr.Slice(4, 4))),
            LinuxInet6 when sockaddr.Length >= 24 => Allows(new IPAddress(sockaddr.Slice(8, 16))),
            _ => false,
        };
    }

    public bool Allows(SocketAddress address)
    {
        var buffer = address.Buffer.Span;
        switch (address.Family)
        {
            case AddressFamily.InterNetwork when buffer.Length >= 8:
                // sockaddr_in: family (2), port (2), address (4).
                return AllowsV4(BinaryPrimitives.ReadUInt32BigEndian(buffer.Slice(4, 4)));
            case AddressFamily.InterNetworkV6 when buffer.Length >= 24:
                // sockaddr_in6: family (2), port (2), flow info (4), address (16).
                return Allows(new IPAddress(buffer.Slice(8, 16)));
            default:
                return false;
        }
    }

    private bool AllowsV4(uint value)
    {
        foreach (var (prefix, mask) in _v4)
        {
            if ((value & mask) == prefix)
            {
                return true;
            }
        }

        return false;
    }
}
