using System.Net;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// A record the cluster publishes (services, VIPs, nodes, the zone apex), as the index keeps it before encoding.
/// <see cref="Name"/> and <see cref="Target"/> are lower case, absolute, without the trailing dot.
/// For SOA, <see cref="Target"/> is the primary name server and <see cref="Text"/> the responsible mailbox.
/// </summary>
internal sealed record IndexedRecord(
    string Name,
    DnsRecordType Type,
    IPAddress? Address = null,
    string? Target = null,
    ushort Port = 0,
    ushort Priority = 0,
    ushort Weight = 1,
    string? Text = null)
{
    public static IndexedRecord ForAddress(string name, IPAddress address) =>
        new(name, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? DnsRecordType.AAAA : DnsRecordType.A, address);
}
