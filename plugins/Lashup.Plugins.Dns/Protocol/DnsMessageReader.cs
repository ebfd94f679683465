using System.Buffers.Binary;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>One resource record as it sits in a message: its owner went to the caller's buffer, its RDATA stays in place.</summary>
/// <param name="NameLength">The length of the owner name written to the caller's buffer.</param>
/// <param name="Type">TYPE.</param>
/// <param name="Class">CLASS (for OPT: the UDP payload size).</param>
/// <param name="Ttl">TTL (for OPT: extended RCODE, version and flags).</param>
/// <param name="DataOffset">Where RDATA starts in the message.</param>
/// <param name="DataLength">RDLENGTH.</param>
internal readonly record struct DnsRecordInfo(int NameLength, DnsRecordType Type, ushort Class, uint Ttl, int DataOffset, int DataLength);

/// <summary>
/// Reads any DNS message in order (header, questions, records) without allocating, with the same defences as
/// <see cref="DnsQueryParser"/>. For responses from upstreams and for tests; queries go through the parser.
/// </summary>
internal ref struct DnsMessageReader
{
    private readonly ReadOnlySpan<byte> _message;
    private int _position;

    /// <summary>Reads <paramref name="message"/> from its start.</summary>
    public DnsMessageReader(ReadOnlySpan<byte> message)
    {
        _message = message;
    }

    /// <summary>The offset of the next item.</summary>
    public readonly int Position => _position;

    /// <summary>The last error of a failed read.</summary>
    public DnsParseError Error { get; private set; }

    /// <summary>Reads the header.</summary>
    public bool TryReadHeader(out DnsHeader header)
    {
        if (_position != 0 || !DnsHeader.TryRead(_message, out header))
        {
            header = default;
            Error = DnsParseError.TruncatedHeader;
            return false;
        }

        _position = DnsHeader.Size;
        return true;
    }

    /// <summary>Reads a question; the name (decompressed, spelling kept) goes to <paramref name="name"/> (255 octets).</summary>
    public bool TryReadQuestion(Span<byte> name, out int nameLength, out DnsRecordType type, out ushort questionClass)
    {
        type = default;
        questionClass = 0;
        if (!TryReadName(_position, name, out nameLength, out var next) || _message.Length - next < 4)
        {
            Error = Error == DnsParseError.None ? DnsParseError.TruncatedQuestion : Error;
            return false;
        }

        type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(_message[next..]);
        questionClass = BinaryPrimitives.ReadUInt16BigEndian(_message[(next + 2)..]);
        _position = next + 4;
        return true;
    }

    /// <summary>Reads a resource record; the owner goes to <paramref name="name"/> (255 octets).</summary>
    public bool TryReadRecord(Span<byte> name, out DnsRecordInfo record)
    {
        record = default;
        if (!TryReadName(_position, name, out var nameLength, out var next))
        {
            return false;
        }

        if (_message.Length - next < 10)
        {
            Error = DnsParseError.TruncatedRecord;
            return false;
        }

        var fields = _message[next..];
        int dataLength = BinaryPrimitives.ReadUInt16BigEndian(fields[8..]);
        var dataOffset = next + 10;
        if (dataLength > _message.Length - dataOffset)
        {
            Error = DnsParseError.TruncatedRecord;
            return false;
        }

        record = new DnsRecordInfo(
            nameLength,
            (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(fields),
            BinaryPrimitives.ReadUInt16BigEndian(fields[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(fields[4..]),
            dataOffset,
            dataLength);
        _position = dataOffset + dataLength;
        return true;
    }

    /// <summary>The RDATA of a record read by this reader.</summary>
    public readonly ReadOnlySpan<byte> GetData(in DnsRecordInfo record) => _message.Slice(record.DataOffset, record.DataLength);

    /// <summary>Reads a possibly compressed name anywhere in the message (e.g. inside RDATA).</summary>
    /// <param name="offset">Where the name starts.</param>
    /// <param name="destination">Receives the uncompressed name; 255 octets.</param>
    /// <param name="nameLength">The length written.</param>
    /// <param name="next">The offset after the name in place.</param>
    public bool TryReadName(int offset, Span<byte> destination, out int nameLength, out int next)
    {
        Error = DnsName.Read(_message, offset, destination, toLower: false, out nameLength, out next);
        return Error == DnsParseError.None;
    }
}
