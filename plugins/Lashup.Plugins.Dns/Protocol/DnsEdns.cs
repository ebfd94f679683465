namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// What a query's OPT record said (RFC 6891 §6.1): whether there was one, the requestor's UDP payload size (the CLASS
/// field, as sent), the EDNS version, the DO bit (RFC 3225) and the upper eight bits of the extended RCODE.
/// </summary>
internal readonly record struct DnsEdns(bool IsPresent, ushort UdpPayloadSize, byte Version, bool DnssecOk, byte ExtendedResponseCode)
{
    /// <summary>The smallest payload size; smaller advertised values count as this (RFC 6891 §6.2.3).</summary>
    public const ushort MinimumPayloadSize = 512;

    /// <summary>The payload size to honour: the advertised one, at least 512; 512 when there was no OPT.</summary>
    public ushort EffectivePayloadSize => IsPresent ? Math.Max(UdpPayloadSize, MinimumPayloadSize) : MinimumPayloadSize;
}
