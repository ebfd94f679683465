using System.Buffers.Binary;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>The fixed 12-octet header of a DNS message (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).</summary>
internal struct DnsHeader
{
    /// <summary>The size of the header on the wire.</summary>
    public const int Size = 12;

    private const ushort QrBit = 0x8000;
    private const ushort AaBit = 0x0400;
    private const ushort TcBit = 0x0200;
    private const ushort RdBit = 0x0100;
    private const ushort RaBit = 0x0080;
    private const ushort AdBit = 0x0020;
    private const ushort CdBit = 0x0010;

    /// <summary>The transaction id, echoed in the response.</summary>
    public ushort Id { get; set; }

    /// <summary>The raw flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).</summary>
    public ushort Flags { get; set; }

    /// <summary>QDCOUNT.</summary>
    public ushort QuestionCount { get; set; }

    /// <summary>ANCOUNT.</summary>
    public ushort AnswerCount { get; set; }

    /// <summary>NSCOUNT.</summary>
    public ushort AuthorityCount { get; set; }

    /// <summary>ARCOUNT.</summary>
    public ushort AdditionalCount { get; set; }

    /// <summary>QR: the message is a response.</summary>
    public bool IsResponse
    {
        readonly get => (Flags & QrBit) != 0;
        set => SetBit(QrBit, value);
    }

    /// <summary>The OPCODE.</summary>
    public DnsOpcode Opcode
    {
        readonly get => (DnsOpcode)((Flags >> 11) & 0xF);
        set => Flags = (ushort)((Flags & ~0x7800) | (((int)value & 0xF) << 11));
    }

    /// <summary>AA: the answer is authoritative.</summary>
    public bool AuthoritativeAnswer
    {
        readonly get => (Flags & AaBit) != 0;
        set => SetBit(AaBit, value);
    }

    /// <summary>TC: the message was truncated; the client should retry over TCP.</summary>
    public bool Truncated
    {
        readonly get => (Flags & TcBit) != 0;
        set => SetBit(TcBit, value);
    }

    /// <summary>RD: recursion desired (echoed in the response).</summary>
    public bool RecursionDesired
    {
        readonly get => (Flags & RdBit) != 0;
        set => SetBit(RdBit, value);
    }

    /// <summary>RA: recursion available.</summary>
    public bool RecursionAvailable
    {
        readonly get => (Flags & RaBit) != 0;
        set => SetBit(RaBit, value);
    }

    /// <summary>AD: authentic data.</summary>
    public bool AuthenticData
    {
        readonly get => (Flags & AdBit) != 0;
        set => SetBit(AdBit, value);
    }

    /// <summary>CD: checking disabled.</summary>
    public bool CheckingDisabled
    {
        readonly get => (Flags & CdBit) != 0;
        set => SetBit(CdBit, value);
    }

    /// <summary>The four RCODE bits of the header (the low bits of an extended code).</summary>
    public DnsResponseCode ResponseCode
    {
        readonly get => (DnsResponseCode)(Flags & 0xF);
        set => Flags = (ushort)((Flags & ~0xF) | ((int)value & 0xF));
    }

    /// <summary>Reads a header from the first 12 octets of <paramref name="source"/>.</summary>
    /// <returns>false if <paramref name="source"/> is shorter than a header.</returns>
    public static bool TryRead(ReadOnlySpan<byte> source, out DnsHeader header)
    {
        if (source.Length < Size)
        {
            header = default;
            return false;
        }

        header = new DnsHeader
        {
            Id = BinaryPrimitives.ReadUInt16BigEndian(source),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            QuestionCount = BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
            AnswerCount = BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            AuthorityCount = BinaryPrimitives.ReadUInt16BigEndian(source[8..]),
            AdditionalCount = BinaryPrimitives.ReadUInt16BigEndian(source[10..]),
        };
        return true;
    }

    /// <summary>Writes the header into the first 12 octets of <paramref name="destination"/>.</summary>
    /// <returns>false if <paramref name="destination"/> is shorter than a header.</returns>
    public readonly bool TryWrite(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, Id);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], QuestionCount);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], AnswerCount);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], AuthorityCount);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], AdditionalCount);
        return true;
    }

    private void SetBit(ushort bit, bool value) => Flags = value ? (ushort)(Flags | bit) : (ushort)(Flags & ~bit);
}
