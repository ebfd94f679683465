namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// A DNS RCODE. Values above 15 are extended (RFC 6891 §6.1.3): their low four bits go in the header and the upper
/// eight in the OPT record, so they can only be sent to a client that sent EDNS.
/// </summary>
internal enum DnsResponseCode : ushort
{
    /// <summary>No error.</summary>
    NoError = 0,

    /// <summary>FORMERR: the query was malformed.</summary>
    FormatError = 1,

    /// <summary>SERVFAIL: the server could not answer.</summary>
    ServerFailure = 2,

    /// <summary>NXDOMAIN: the name does not exist.</summary>
    NxDomain = 3,

    /// <summary>NOTIMP: the opcode is not implemented.</summary>
    NotImplemented = 4,

    /// <summary>REFUSED: the server will not answer (a zone it does not serve).</summary>
    Refused = 5,

    /// <summary>BADVERS: the EDNS version is not supported (RFC 6891).</summary>
    BadVersion = 16,
}
