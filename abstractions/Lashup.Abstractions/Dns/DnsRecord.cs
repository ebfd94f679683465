using System.Net;

namespace Lashup.Abstractions.Dns;

/// <summary>DNS record types the Lashup DNS plugin serves from record sources.</summary>
public enum DnsRecordType : ushort
{
    /// <summary>IPv4 address.</summary>
    A = 1,

    /// <summary>Authoritative name server.</summary>
    NS = 2,

    /// <summary>Canonical name.</summary>
    CNAME = 5,

    /// <summary>Start of authority.</summary>
    SOA = 6,

    /// <summary>Pointer (reverse lookup).</summary>
    PTR = 12,

    /// <summary>Text.</summary>
    TXT = 16,

    /// <summary>IPv6 address.</summary>
    AAAA = 28,

    /// <summary>Service locator.</summary>
    SRV = 33,

    /// <summary>Any type (a query type only).</summary>
    ANY = 255,
}

/// <summary>
/// One resource record. Names are absolute, lower case, without the trailing dot (<c>web.lashup.directory</c>).
/// Exactly the fields of its <see cref="Type"/> are used: <see cref="Address"/> for A/AAAA, <see cref="Target"/> for
/// CNAME/NS/PTR/SRV, <see cref="Port"/>/<see cref="Priority"/>/<see cref="Weight"/> for SRV, <see cref="Text"/> for TXT.
/// </summary>
public sealed record DnsRecord
{
    /// <summary>The owner name.</summary>
    public required string Name { get; init; }

    /// <summary>The record type.</summary>
    public required DnsRecordType Type { get; init; }

    /// <summary>Time to live in seconds.</summary>
    public uint Ttl { get; init; } = 5;

    /// <summary>The address of an A or AAAA record.</summary>
    public IPAddress? Address { get; init; }

    /// <summary>The target name of a CNAME, NS, PTR or SRV record.</summary>
    public string? Target { get; init; }

    /// <summary>The port of an SRV record.</summary>
    public ushort Port { get; init; }

    /// <summary>The priority of an SRV record.</summary>
    public ushort Priority { get; init; }

    /// <summary>The weight of an SRV record.</summary>
    public ushort Weight { get; init; }

    /// <summary>The text of a TXT record.</summary>
    public string? Text { get; init; }

    /// <summary>An A or AAAA record, chosen by the address family.</summary>
    public static DnsRecord ForAddress(string name, IPAddress address, uint ttl = 5) => new()
    {
        Name = name,
        Type = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? DnsRecordType.AAAA : DnsRecordType.A,
        Address = address,
        Ttl = ttl,
    };

    /// <summary>An SRV record.</summary>
    public static DnsRecord ForService(string name, string target, ushort port, uint ttl = 5, ushort priority = 0, ushort weight = 1) => new()
    {
        Name = name,
        Type = DnsRecordType.SRV,
        Target = target,
        Port = port,
        Priority = priority,
        Weight = weight,
        Ttl = ttl,
    };
}
