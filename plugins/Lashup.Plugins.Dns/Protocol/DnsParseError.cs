namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// Why <see cref="DnsQueryParser.TryParse"/> rejected a packet. <see cref="DnsParseErrorExtensions.TryGetResponseCode"/>
/// tells what the server does about it: drop it, or answer FORMERR, NOTIMP or BADVERS.
/// </summary>
internal enum DnsParseError : byte
{
    /// <summary>The packet is a well-formed query.</summary>
    None = 0,

    /// <summary>Shorter than the 12-octet header: there is no id to answer to (drop).</summary>
    TruncatedHeader,

    /// <summary>QR is set: the packet is a response; answering it could start a loop (drop).</summary>
    NotAQuery,

    /// <summary>An opcode other than QUERY (NOTIMP).</summary>
    OpcodeNotImplemented,

    /// <summary>QDCOUNT is not 1 (FORMERR).</summary>
    QuestionCount,

    /// <summary>ANCOUNT is not 0 in a query (FORMERR).</summary>
    AnswersInQuery,

    /// <summary>The question ends before its name, type and class do (FORMERR).</summary>
    TruncatedQuestion,

    /// <summary>A label longer than 63 octets (FORMERR).</summary>
    LabelTooLong,

    /// <summary>A name longer than 255 octets in wire form, after decompression (FORMERR).</summary>
    NameTooLong,

    /// <summary>A label type 0x40 or 0x80 (extended or reserved label types, FORMERR).</summary>
    BadLabelType,

    /// <summary>A compression pointer that points forward, at itself, or that would loop (FORMERR).</summary>
    BadPointer,

    /// <summary>A record of the authority or additional section runs past the end of the packet (FORMERR).</summary>
    TruncatedRecord,

    /// <summary>More than one OPT record (FORMERR, RFC 6891 §6.1.1).</summary>
    MultipleOpt,

    /// <summary>An OPT record outside the additional section (FORMERR).</summary>
    OptNotInAdditional,

    /// <summary>An OPT record whose owner is not the root (FORMERR).</summary>
    OptOwnerNotRoot,

    /// <summary>An OPT record whose RDLENGTH runs past the end of the packet (FORMERR).</summary>
    OptLengthMismatch,

    /// <summary>An EDNS option whose length runs past the end of the OPT RDATA (FORMERR).</summary>
    BadOption,

    /// <summary>An EDNS version other than 0 (BADVERS, RFC 6891 §6.1.3).</summary>
    BadEdnsVersion,
}

/// <summary>What a server does about a <see cref="DnsParseError"/>.</summary>
internal static class DnsParseErrorExtensions
{
    /// <summary>The RCODE to answer with, or false when the packet must be dropped without an answer.</summary>
    public static bool TryGetResponseCode(this DnsParseError error, out DnsResponseCode code)
    {
        switch (error)
        {
            case DnsParseError.None:
                code = DnsResponseCode.NoError;
                return true;
            case DnsParseError.TruncatedHeader:
            case DnsParseError.NotAQuery:
                code = default;
                return false;
            case DnsParseError.OpcodeNotImplemented:
                code = DnsResponseCode.NotImplemented;
                return true;
            case DnsParseError.BadEdnsVersion:
                code = DnsResponseCode.BadVersion;
                return true;
            default:
                code = DnsResponseCode.FormatError;
                return true;
        }
    }
}
