using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Lashup.Abstractions.Dns;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// Writes a DNS message into a caller's buffer without allocating: header, question, then answer, authority and
/// additional records in that order, with name compression and truncation.
/// <para>
/// Compression: every name written registers the offsets of its suffixes in a fixed table of
/// <see cref="CompressionSlots"/> entries (offset, length, hash); a later name whose suffix matches one, compared
/// case-insensitively against what is already in the buffer, ends in a pointer to it. Owner names and the names in
/// NS, CNAME, PTR and SOA are compressed; SRV targets are not (RFC 2782), though later names may point into them.
/// </para>
/// <para>
/// Truncation: the message never exceeds the limit given at construction (512 for classic UDP,
/// <see cref="GetUdpLimit"/> with EDNS, 65535 over TCP), and when EDNS is on, room for the OPT record is reserved up
/// front. An answer or authority record that does not fit is left out whole, TC is set and nothing more is added
/// (RFC 2181 §9); an additional record that does not fit is left out without TC, and no further additional record is
/// added, so no RRset is split. Counts always match what was written.
/// </para>
/// </summary>
internal ref struct DnsResponseWriter
{
    /// <summary>The limit of a UDP response to a query without EDNS (RFC 1035 §4.2.1).</summary>
    public const int ClassicUdpLimit = 512;

    /// <summary>The limit of any message (and of a TCP response).</summary>
    public const int MaxMessageSize = ushort.MaxValue;

    /// <summary>The payload size Lashup advertises by default: the DNS flag day 2020 value, safe from fragmentation.</summary>
    public const ushort DefaultEdnsPayloadSize = 1232;

    /// <summary>How many name suffixes the compression table remembers.</summary>
    public const int CompressionSlots = 32;

    /// <summary>An OPT record without options: root owner (1), type, class, TTL, RDLENGTH.</summary>
    private const int OptRecordSize = 11;
    private const ushort ClassInternet = 1;
    private const int MaxPointerOffset = 0x3FFF;

    private readonly Span<byte> _buffer;
    private DnsHeader _header;
    private DnsResponseCode _responseCode;
    private int _length;
    private int _reserved;
    private DnsSection _section;
    private bool _hasRecords;
    private bool _full;
    private bool _truncated;
    private bool _edns;
    private ushort _ednsPayloadSize;
    private bool _dnssecOk;
    private int _finishedLength;
    private CompressionTable _table;
    private int _tableCount;

    /// <summary>Starts a message in <paramref name="destination"/> that will not exceed <paramref name="limit"/> octets.</summary>
    /// <param name="destination">The buffer; the message is at its start.</param>
    /// <param name="limit">The size limit: 512, <see cref="GetUdpLimit"/>, or 65535 for TCP; clamped to the buffer.</param>
    public DnsResponseWriter(Span<byte> destination, int limit = ClassicUdpLimit)
    {
        _buffer = destination[..Math.Clamp(limit, 0, Math.Min(destination.Length, MaxMessageSize))];
        _header = new DnsHeader { IsResponse = true };
        _finishedLength = -1;
        if (_buffer.Length < DnsHeader.Size)
        {
            _full = true;
            _length = 0;
        }
        else
        {
            _length = DnsHeader.Size;
        }
    }

    /// <summary>The UDP size limit for a response to <paramref name="query"/>: 512 without EDNS, otherwise the client's payload size (at least 512) capped by ours.</summary>
    public static int GetUdpLimit(in DnsQuery query, int serverMaxPayload = DefaultEdnsPayloadSize) =>
        query.Edns.IsPresent ? Math.Min(query.Edns.EffectivePayloadSize, Math.Max(serverMaxPayload, ClassicUdpLimit)) : ClassicUdpLimit;

    /// <summary>The header written by <see cref="Finish"/>; its counts and TC are replaced then, its RCODE by <see cref="ResponseCode"/>.</summary>
    public DnsHeader Header
    {
        readonly get => _header;
        set => _header = value;
    }

    /// <summary>The response code, extended ones (BADVERS) included: their upper bits go in the OPT record.</summary>
    public DnsResponseCode ResponseCode
    {
        readonly get => _responseCode;
        set => _responseCode = value;
    }

    /// <summary>AA.</summary>
    public bool AuthoritativeAnswer
    {
        readonly get => _header.AuthoritativeAnswer;
        set => _header.AuthoritativeAnswer = value;
    }

    /// <summary>Octets written so far, the reserved OPT record not included.</summary>
    public readonly int Length => _length;

    /// <summary>Whether answer or authority records were left out (TC will be set).</summary>
    public readonly bool IsTruncated => _truncated;

    /// <summary>The number of records written to a section so far.</summary>
    public readonly int GetCount(DnsSection section) => section switch
    {
        DnsSection.Answer => _header.AnswerCount,
        DnsSection.Authority => _header.AuthorityCount,
        _ => _header.AdditionalCount,
    };

    /// <summary>
    /// Starts the response to a parsed query: id, opcode, RD and CD copied, QR set; the question echoed with its
    /// original spelling from <paramref name="packet"/> (the query's bytes); EDNS on, with the query's DO bit, when
    /// the query had an OPT record.
    /// </summary>
    /// <returns>false if the question did not fit (a buffer under 512 octets).</returns>
    public bool BeginResponse(in DnsQuery query, scoped ReadOnlySpan<byte> packet, ushort ednsPayloadSize = DefaultEdnsPayloadSize)
    {
        var header = new DnsHeader
        {
            Id = query.Header.Id,
            IsResponse = true,
            Opcode = query.Header.Opcode,
            RecursionDesired = query.Header.RecursionDesired,
            CheckingDisabled = query.Header.CheckingDisabled,
        };
        _header = header;
        var ok = true;
        if (query.Edns.IsPresent)
        {
            ok = EnableEdns(ednsPayloadSize, query.Edns.DnssecOk);
        }

        if (query.HasQuestion)
        {
            // Usually the name sits uncompressed right after the header: echo those octets. Otherwise decompress it.
            scoped ReadOnlySpan<byte> echoed = query.Name;
            if (packet.Length >= DnsHeader.Size + echoed.Length && DnsName.EqualsIgnoreCase(packet.Slice(DnsHeader.Size, echoed.Length), echoed))
            {
                echoed = packet.Slice(DnsHeader.Size, echoed.Length);
            }
            else
            {
                Span<byte> name = stackalloc byte[DnsName.MaxLength];
                var error = DnsName.Read(packet, DnsHeader.Size, name, toLower: false, out var nameLength, out _);
                if (error == DnsParseError.None && DnsName.EqualsIgnoreCase(name[..nameLength], query.Name))
                {
                    ok &= WriteQuestion(name[..nameLength], query.QuestionType, query.QuestionClass);
                    return ok;
                }
            }

            ok &= WriteQuestion(echoed, query.QuestionType, query.QuestionClass);
        }

        return ok;
    }

    /// <summary>Writes a question (before any record).</summary>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a valid wire name.</exception>
    /// <exception cref="InvalidOperationException">Records were written already.</exception>
    public bool WriteQuestion(scoped ReadOnlySpan<byte> name, DnsRecordType type, ushort questionClass = ClassInternet)
    {
        if (_hasRecords)
        {
            throw new InvalidOperationException("the question goes before every record");
        }

        if (_full || _header.QuestionCount == ushort.MaxValue)
        {
            return false;
        }

        var mark = _length;
        var tableMark = _tableCount;
        if (!TryWriteName(name, compress: true) || !TryWriteUInt16((ushort)type) || !TryWriteUInt16(questionClass))
        {
            _length = mark;
            _tableCount = tableMark;
            return false;
        }

        _header.QuestionCount++;
        return true;
    }

    /// <summary>Adds an OPT record at <see cref="Finish"/>, reserving its room now (RFC 6891). Call before records.</summary>
    /// <returns>false if there is no room left for it.</returns>
    public bool EnableEdns(ushort udpPayloadSize = DefaultEdnsPayloadSize, bool dnssecOk = false)
    {
        if (_edns)
        {
            _ednsPayloadSize = udpPayloadSize;
            _dnssecOk = dnssecOk;
            return true;
        }

        if (_full || Capacity - _length < OptRecordSize)
        {
            return false;
        }

        _edns = true;
        _reserved = OptRecordSize;
        _ednsPayloadSize = udpPayloadSize;
        _dnssecOk = dnssecOk;
        return true;
    }

    /// <summary>Adds an A record.</summary>
    /// <param name="section">The section; sections go in order.</param>
    /// <param name="name">The owner, a wire name.</param>
    /// <param name="ttl">Seconds.</param>
    /// <param name="address">Four octets.</param>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddA(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> address)
    {
        if (address.Length != 4)
        {
            throw new ArgumentException("an A record holds 4 octets", nameof(address));
        }

        return AddFixed(section, name, DnsRecordType.A, ttl, address);
    }

    /// <summary>Adds an AAAA record.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddAaaa(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> address)
    {
        if (address.Length != 16)
        {
            throw new ArgumentException("an AAAA record holds 16 octets", nameof(address));
        }

        return AddFixed(section, name, DnsRecordType.AAAA, ttl, address);
    }

    /// <summary>Adds an A or AAAA record, by the address family.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddAddress(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> octets = stackalloc byte[16];
        if (!address.TryWriteBytes(octets, out var written))
        {
            throw new ArgumentException("unsupported address", nameof(address));
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6
            ? AddAaaa(section, name, ttl, octets[..written])
            : AddA(section, name, ttl, octets[..written]);
    }

    /// <summary>Adds a CNAME record.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddCname(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> target) =>
        AddNameRecord(section, name, DnsRecordType.CNAME, ttl, target);

    /// <summary>Adds an NS record.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddNs(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> nameServer) =>
        AddNameRecord(section, name, DnsRecordType.NS, ttl, nameServer);

    /// <summary>Adds a PTR record.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddPtr(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> target) =>
        AddNameRecord(section, name, DnsRecordType.PTR, ttl, target);

    /// <summary>Adds an SRV record (RFC 2782); the target is written uncompressed.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddSrv(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, ushort priority, ushort weight, ushort port, scoped ReadOnlySpan<byte> target)
    {
        if (!BeginRecord(section, name, DnsRecordType.SRV, ttl, out var mark, out var tableMark))
        {
            return false;
        }

        var dataStart = _length;
        var ok = TryWriteUInt16(priority) && TryWriteUInt16(weight) && TryWriteUInt16(port) && TryWriteName(target, compress: false);
        return EndRecord(section, ok, dataStart, mark, tableMark);
    }

    /// <summary>Adds a TXT record whose text is split into character-strings of at most 255 octets.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddTxt(DnsSection section, scoped ReadOnlySpan<byte> name, uint ttl, scoped ReadOnlySpan<byte> text)
    {
        if (!BeginRecord(section, name, DnsRecordType.TXT, ttl, out var mark, out var tableMark))
        {
            return false;
        }

        var dataStart = _length;
        var ok = true;
        do
        {
            var chunk = text[..Math.Min(text.Length, 255)];
            ok = TryWriteByte((byte)chunk.Length) && TryWriteBytes(chunk);
            text = text[chunk.Length..];
        }
        while (ok && !text.IsEmpty);

        return EndRecord(section, ok, dataStart, mark, tableMark);
    }

    /// <summary>Adds an SOA record (RFC 1035 §3.3.13); MNAME and RNAME are compressed.</summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    public bool AddSoa(
        DnsSection section,
        scoped ReadOnlySpan<byte> name,
        uint ttl,
        scoped ReadOnlySpan<byte> primaryNameServer,
        scoped ReadOnlySpan<byte> responsibleMailbox,
        uint serial,
        uint refresh,
        uint retry,
        uint expire,
        uint minimum)
    {
        if (!BeginRecord(section, name, DnsRecordType.SOA, ttl, out var mark, out var tableMark))
        {
            return false;
        }

        var dataStart = _length;
        var ok = TryWriteName(primaryNameServer, compress: true)
            && TryWriteName(responsibleMailbox, compress: true)
            && TryWriteUInt32(serial)
            && TryWriteUInt32(refresh)
            && TryWriteUInt32(retry)
            && TryWriteUInt32(expire)
            && TryWriteUInt32(minimum);
        return EndRecord(section, ok, dataStart, mark, tableMark);
    }

    /// <summary>
    /// Adds a record of the record-source seam: A, AAAA, CNAME, NS, PTR, SRV or TXT (UTF-8). Names are converted from
    /// text on the stack. SOA has no fields in <see cref="DnsRecord"/>: use <see cref="AddSoa"/>.
    /// </summary>
    /// <returns>false if the record was left out for lack of room.</returns>
    /// <exception cref="ArgumentException">A name is not valid, or a field the type needs is missing.</exception>
    public bool Add(DnsSection section, DnsRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Span<byte> owner = stackalloc byte[DnsName.MaxLength];
        var ownerLength = Encode(record.Name, owner);
        switch (record.Type)
        {
            case DnsRecordType.A or DnsRecordType.AAAA:
                var address = record.Address ?? throw new ArgumentException($"{record.Type} record without an address", nameof(record));
                return AddAddress(section, owner[..ownerLength], record.Ttl, address);
            case DnsRecordType.TXT:
                var text = record.Text ?? string.Empty;
                var byteCount = Encoding.UTF8.GetByteCount(text);
                byte[]? rented = null;
                Span<byte> utf8 = byteCount <= 1024 ? stackalloc byte[1024] : (rented = ArrayPool<byte>.Shared.Rent(byteCount));
                try
                {
                    var written = Encoding.UTF8.GetBytes(text, utf8);
                    return AddTxt(section, owner[..ownerLength], record.Ttl, utf8[..written]);
                }
                finally
                {
                    if (rented is not null)
                    {
                        ArrayPool<byte>.Shared.Return(rented);
                    }
                }

            case DnsRecordType.CNAME or DnsRecordType.NS or DnsRecordType.PTR or DnsRecordType.SRV:
                Span<byte> target = stackalloc byte[DnsName.MaxLength];
                var targetLength = Encode(record.Target ?? throw new ArgumentException($"{record.Type} record without a target", nameof(record)), target);
                return record.Type switch
                {
                    DnsRecordType.CNAME => AddCname(section, owner[..ownerLength], record.Ttl, target[..targetLength]),
                    DnsRecordType.NS => AddNs(section, owner[..ownerLength], record.Ttl, target[..targetLength]),
                    DnsRecordType.PTR => AddPtr(section, owner[..ownerLength], record.Ttl, target[..targetLength]),
                    _ => AddSrv(section, owner[..ownerLength], record.Ttl, record.Priority, record.Weight, record.Port, target[..targetLength]),
                };
            default:
                throw new ArgumentException($"cannot write a {record.Type} record from a DnsRecord", nameof(record));
        }
    }

    /// <summary>Writes the OPT record (if enabled) and the header, and returns the message length. Idempotent.</summary>
    public int Finish()
    {
        if (_finishedLength >= 0)
        {
            return _finishedLength;
        }

        if (_buffer.Length < DnsHeader.Size)
        {
            _finishedLength = 0;
            return 0;
        }

        if (_edns)
        {
            // The room was reserved by EnableEdns, so this always fits.
            var opt = _buffer.Slice(_length, OptRecordSize);
            opt[0] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(opt[1..], DnsQueryParser.OptType);
            BinaryPrimitives.WriteUInt16BigEndian(opt[3..], _ednsPayloadSize);
            var ttl = ((uint)((int)_responseCode >> 4) << 24) | (_dnssecOk ? 0x8000u : 0u);
            BinaryPrimitives.WriteUInt32BigEndian(opt[5..], ttl);
            BinaryPrimitives.WriteUInt16BigEndian(opt[9..], 0);
            _length += OptRecordSize;
            _reserved = 0;
            _header.AdditionalCount++;
        }

        _header.IsResponse = true;
        _header.Truncated = _truncated;
        _header.ResponseCode = _responseCode;
        _header.TryWrite(_buffer);
        _finishedLength = _length;
        return _length;
    }

    /// <summary>
    /// Writes a complete error response (FORMERR, SERVFAIL, NXDOMAIN, REFUSED, NOTIMP, BADVERS) to a query that may
    /// have failed to parse: the question is echoed when it was read, the OPT record included when the query had a
    /// valid one (always for BADVERS).
    /// </summary>
    /// <returns>The length written, or 0 when there is nothing to answer (no header) or no room.</returns>
    public static int WriteError(Span<byte> destination, scoped ReadOnlySpan<byte> packet, in DnsQuery query, DnsResponseCode responseCode, ushort ednsPayloadSize = DefaultEdnsPayloadSize)
    {
        if (!query.HasHeader)
        {
            return 0;
        }

        var writer = new DnsResponseWriter(destination, GetUdpLimit(query, ednsPayloadSize));
        writer.BeginResponse(query, packet, ednsPayloadSize);
        writer.ResponseCode = responseCode;
        return writer.Finish();
    }

    private static int Encode(string name, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(name);
        return DnsName.TryFromText(name, destination, out var written)
            ? written
            : throw new ArgumentException($"\"{name}\" is not a valid DNS name", nameof(name));
    }

    private readonly int Capacity => _buffer.Length - _reserved;

    private bool AddFixed(DnsSection section, scoped ReadOnlySpan<byte> name, DnsRecordType type, uint ttl, scoped ReadOnlySpan<byte> data)
    {
        if (!BeginRecord(section, name, type, ttl, out var mark, out var tableMark))
        {
            return false;
        }

        var dataStart = _length;
        return EndRecord(section, TryWriteBytes(data), dataStart, mark, tableMark);
    }

    private bool AddNameRecord(DnsSection section, scoped ReadOnlySpan<byte> name, DnsRecordType type, uint ttl, scoped ReadOnlySpan<byte> target)
    {
        if (!BeginRecord(section, name, type, ttl, out var mark, out var tableMark))
        {
            return false;
        }

        var dataStart = _length;
        return EndRecord(section, TryWriteName(target, compress: true), dataStart, mark, tableMark);
    }

    /// <summary>Writes owner, type, class, TTL and a placeholder RDLENGTH; false (with nothing written) if it does not fit.</summary>
    private bool BeginRecord(DnsSection section, scoped ReadOnlySpan<byte> name, DnsRecordType type, uint ttl, out int mark, out int tableMark)
    {
        if (section < _section)
        {
            throw new InvalidOperationException($"records go in section order; {section} after {_section}");
        }

        _section = section;
        _hasRecords = true;
        mark = _length;
        tableMark = _tableCount;
        if (_full)
        {
            return false;
        }

        if (GetCount(section) == ushort.MaxValue
            || !TryWriteName(name, compress: true)
            || !TryWriteUInt16((ushort)type)
            || !TryWriteUInt16(ClassInternet)
            || !TryWriteUInt32(ttl)
            || !TryWriteUInt16(0))
        {
            return EndRecord(section, ok: false, 0, mark, tableMark);
        }

        return true;
    }

    /// <summary>Patches RDLENGTH and counts the record, or rolls it back and stops the message.</summary>
    private bool EndRecord(DnsSection section, bool ok, int dataStart, int mark, int tableMark)
    {
        if (ok)
        {
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[(dataStart - 2)..], (ushort)(_length - dataStart));
            switch (section)
            {
                case DnsSection.Answer:
                    _header.AnswerCount++;
                    break;
                case DnsSection.Authority:
                    _header.AuthorityCount++;
                    break;
                default:
                    _header.AdditionalCount++;
                    break;
            }

            return true;
        }

        _length = mark;
        _tableCount = tableMark;
        _full = true;
        if (section != DnsSection.Additional)
        {
            _truncated = true;
        }

        return false;
    }

    /// <summary>
    /// Writes a valid uncompressed wire name, ending in a pointer to the longest suffix already in the message when
    /// <paramref name="compress"/>, and remembers where its own suffixes start.
    /// </summary>
    private bool TryWriteName(scoped ReadOnlySpan<byte> name, bool compress)
    {
        var nameLength = DnsName.Measure(name);
        if (nameLength < 0)
        {
            throw new ArgumentException("not a valid wire-format DNS name", nameof(name));
        }

        name = name[..nameLength];

        // Label starts (at most 127) and the hash of each suffix, folded from the right so one pass gives them all.
        Span<byte> starts = stackalloc byte[128];
        Span<uint> hashes = stackalloc uint[128];
        var labels = 0;
        for (var i = 0; name[i] != 0; i += name[i] + 1)
        {
            starts[labels++] = (byte)i;
        }

        var hash = 2166136261u;
        for (var label = labels - 1; label >= 0; label--)
        {
            int start = starts[label];
            for (var i = start + name[start]; i >= start; i--)
            {
                hash = (hash ^ DnsName.ToLower(name[i])) * 16777619u;
            }

            hashes[label] = hash;
        }

        // The longest suffix already written.
        var match = labels;
        var pointer = -1;
        if (compress)
        {
            for (var label = 0; label < labels && pointer < 0; label++)
            {
                pointer = Find(name[starts[label]..], hashes[label]);
                if (pointer >= 0)
                {
                    match = label;
                }
            }
        }

        var prefixLength = match < labels ? starts[match] : nameLength;
        var needed = prefixLength + (pointer >= 0 ? 2 : 0);
        if (Capacity - _length < needed)
        {
            return false;
        }

        var origin = _length;
        name[..prefixLength].CopyTo(_buffer[_length..]);
        _length += prefixLength;
        if (pointer >= 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], (ushort)(0xC000 | pointer));
            _length += 2;
        }

        for (var label = 0; label < match && _tableCount < CompressionSlots; label++)
        {
            var offset = origin + starts[label];
            if (offset > MaxPointerOffset)
            {
                break;
            }

            _table[_tableCount++] = new CompressionEntry((ushort)offset, (byte)(nameLength - starts[label]), hashes[label]);
        }

        return true;
    }

    /// <summary>The offset of a written name equal to <paramref name="suffix"/> (ignoring case), or -1.</summary>
    private readonly int Find(scoped ReadOnlySpan<byte> suffix, uint hash)
    {
        for (var i = 0; i < _tableCount; i++)
        {
            var entry = _table[i];
            if (entry.Hash == hash && entry.Length == suffix.Length && MatchesAt(entry.Offset, suffix))
            {
                return entry.Offset;
            }
        }

        return -1;
    }

    /// <summary>Compares the (possibly compressed) name this writer wrote at <paramref name="offset"/> with <paramref name="suffix"/>.</summary>
    private readonly bool MatchesAt(int offset, scoped ReadOnlySpan<byte> suffix)
    {
        var position = offset;
        var index = 0;
        for (var jumps = 0; jumps <= DnsName.MaxPointerJumps;)
        {
            int octet = _buffer[position];
            if ((octet & 0xC0) == 0xC0)
            {
                position = ((octet & 0x3F) << 8) | _buffer[position + 1];
                jumps++;
                continue;
            }

            if (octet != suffix[index])
            {
                return false;
            }

            if (octet == 0)
            {
                return true;
            }

            if (!DnsName.EqualsIgnoreCase(_buffer.Slice(position + 1, octet), suffix.Slice(index + 1, octet)))
            {
                return false;
            }

            position += octet + 1;
            index += octet + 1;
        }

        return false;
    }

    private bool TryWriteByte(byte value)
    {
        if (Capacity - _length < 1)
        {
            return false;
        }

        _buffer[_length++] = value;
        return true;
    }

    private bool TryWriteUInt16(ushort value)
    {
        if (Capacity - _length < 2)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(_buffer[_length..], value);
        _length += 2;
        return true;
    }

    private bool TryWriteUInt32(uint value)
    {
        if (Capacity - _length < 4)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt32BigEndian(_buffer[_length..], value);
        _length += 4;
        return true;
    }

    private bool TryWriteBytes(scoped ReadOnlySpan<byte> value)
    {
        if (Capacity - _length < value.Length)
        {
            return false;
        }

        value.CopyTo(_buffer[_length..]);
        _length += value.Length;
        return true;
    }

    private readonly record struct CompressionEntry(ushort Offset, byte Length, uint Hash);

    [InlineArray(CompressionSlots)]
    private struct CompressionTable
    {
        private CompressionEntry _element0;
    }
}
