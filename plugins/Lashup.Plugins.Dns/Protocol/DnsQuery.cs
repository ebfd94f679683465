using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// A parsed query: header, the one question and the EDNS information. The question name is stored decompressed and
/// lower-cased, in wire form, in a 255-octet buffer inside the struct, with its case-insensitive hash
/// (<see cref="DnsName.GetHashCode(ReadOnlySpan{byte})"/>) computed once. It needs no pool and does not point into the
/// receive buffer, so the buffer can go back to its pool, or the query can be stored, before it is answered.
/// The original spelling (0x20 case randomisation, RFC 4343 §4.1) is echoed from the packet by
/// <see cref="DnsResponseWriter.BeginResponse"/>. Pass it by <c>in</c>: it is about 300 bytes.
/// </summary>
internal struct DnsQuery
{
    private NameStorage _name;
    private byte _nameLength;

    /// <summary>The header as received (valid when <see cref="HasHeader"/>).</summary>
    public DnsHeader Header { get; internal set; }

    /// <summary>The packet had a full header: an error response can be addressed to it.</summary>
    public bool HasHeader { get; internal set; }

    /// <summary>The question was parsed: <see cref="Name"/>, <see cref="QuestionType"/> and <see cref="QuestionClass"/> are valid.</summary>
    public bool HasQuestion { get; internal set; }

    /// <summary>QTYPE; any value, not only those the enum names.</summary>
    public DnsRecordType QuestionType { get; internal set; }

    /// <summary>QCLASS (1 = IN).</summary>
    public ushort QuestionClass { get; internal set; }

    /// <summary>The case-insensitive hash of <see cref="Name"/>, equal to <see cref="DnsName.GetHashCode(ReadOnlySpan{byte})"/> of it.</summary>
    public int NameHash { get; internal set; }

    /// <summary>The offset just after the question in the packet.</summary>
    public int QuestionEnd { get; internal set; }

    /// <summary>The OPT record of the query, if any (cleared when the query is malformed).</summary>
    public DnsEdns Edns { get; internal set; }

    /// <summary>The question name: wire form, uncompressed, ASCII lower case, root label included.</summary>
    [UnscopedRef]
    public readonly ReadOnlySpan<byte> Name => ((ReadOnlySpan<byte>)_name)[.._nameLength];

    /// <summary>The length of <see cref="Name"/>, 1 to 255.</summary>
    public readonly int NameLength => _nameLength;

    /// <summary>The 255-octet buffer the parser writes the name into.</summary>
    [UnscopedRef]
    internal Span<byte> NameBuffer => _name;

    internal void SetNameLength(int length) => _nameLength = (byte)length;

    /// <summary>The question name as dotted text (allocates; for logs and the record-source seam).</summary>
    public readonly string GetNameText() => HasQuestion ? DnsName.ToText(Name) : string.Empty;

    [InlineArray(DnsName.MaxLength)]
    private struct NameStorage
    {
        private byte _element0;
    }
}
