using System.Buffers;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using MessagePack;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The compact, versioned binary encoding of store values (<see cref="CrdtMap"/>, deltas included) and of
/// <see cref="VersionVector"/>s, for the wire (deltas, anti-entropy) and for disk. Hand-written on
/// <see cref="MessagePackWriter"/>/<see cref="MessagePackReader"/> with an explicit layout (no resolvers, no attributes
/// on the Abstractions types); every part is a plain MessagePack value, so generic tools can dump it.
/// </summary>
/// <remarks>
/// <para>A map is a sequence of five MessagePack values:</para>
/// <code>
/// version         int, 1 (FormatVersion)
/// names           [replica, ...]              distinct non-empty replica names; dots and counts refer to them by index
/// context.vector  {index: counter, ...}       names ascending (ordinal), counters > 0
/// context.cloud   dots
/// entries         [name, type, presence(dots), value, ...]   4 items per slot, keys (name, type) strictly ascending
///
/// dots            [index, counter, ...]       2 items per dot, strictly ascending, counter > 0
/// value by type   GCounter {index: count}  PnCounter [{inc}, {dec}]  Flag dots  LwwRegister [value|nil, timestamp, index|nil]
///                 MvRegister [index, counter, value, ...]  ORSet {element: dots (not empty)}  Map entries (nested, depth ≤ 16)
/// </code>
/// <para>
/// Causal values inside a map have no context of their own (the map's context covers them), so only the top-level
/// context is written. A version vector is <c>version, {replica: counter, ...}</c>.
/// </para>
/// <para>
/// Decoding takes untrusted bytes: anything malformed (truncated, trailing bytes, unknown version or type tag, index
/// outside the name table, zero counter, duplicate or unordered keys, nesting past <see cref="MaxDepth"/>, a state the
/// types' raw-part constructors reject) throws <see cref="CrdtCodecException"/> and nothing else. Every count is checked
/// against the bytes left before anything is allocated for it, so allocation stays a small multiple of the input.
/// The encoding is canonical: equal values encode to equal bytes.
/// </para>
/// <para>
/// The encoder refuses what the decoder would (maps nested past <see cref="MaxDepth"/>, field names over
/// <see cref="KvLimits.MaxFieldNameBytes"/> or with a lone surrogate, zero counts): the store encodes a value before it
/// acknowledges or keeps it, so nothing it accepted is unreadable on disk or to a peer. The store's API
/// (<see cref="KvLimits"/>) is at least as strict as the decoder, and is what keeps lone surrogates out of elements and
/// register values (UTF-8 cannot carry them).
/// </para>
/// </remarks>
internal static class CrdtCodec
{
    /// <summary>The format version written first; a decoder refuses any other.</summary>
    public const int FormatVersion = 1;

    /// <summary>The deepest nesting of maps accepted (the top-level map's fields are depth 0): <see cref="KvLimits.MaxMapDepth"/>.</summary>
    public const int MaxDepth = KvLimits.MaxMapDepth;

    /// <summary>Encodes a store value (a full state or a delta).</summary>
    /// <exception cref="CrdtCodecException">The value is something <see cref="DecodeMap"/> would refuse (maps nested past
    /// <see cref="MaxDepth"/>, a field name over <see cref="KvLimits.MaxFieldNameBytes"/> or not valid Unicode, a zero
    /// count): it is never written, so nothing that was accepted becomes unreadable.</exception>
    public static byte[] EncodeMap(CrdtMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var names = new NameTable();
        var body = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(body);
        WriteCounts(ref writer, map.Context.Vector.Entries, names);
        WriteDots(ref writer, map.Context.Cloud, names);
        WriteEntries(ref writer, map.Entries, names, depth: 0);
        writer.Flush();

        var output = new ArrayBufferWriter<byte>(body.WrittenCount + names.EstimatedSize + 8);
        var head = new MessagePackWriter(output);
        head.Write(FormatVersion);
        head.WriteArrayHeader(names.Names.Count);
        foreach (var name in names.Names)
        {
            head.Write(name);
        }

        head.WriteRaw(body.WrittenSpan);
        head.Flush();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Decodes a store value.</summary>
    /// <exception cref="CrdtCodecException">The bytes are not a valid encoding.</exception>
    public static CrdtMap DecodeMap(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            ReadFormatVersion(ref reader);
            var names = ReadNames(ref reader);
            var vector = new VersionVector(ReadCounts(ref reader, names, "context vector"));
            var cloud = ReadDots(ref reader, names);
            var context = new CausalContext(vector, cloud);
            var entries = ReadEntries(ref reader, names, depth: 0);
            ExpectEnd(ref reader);
            return new CrdtMap(context, entries);
        }
        catch (Exception ex) when (IsDecodingFailure(ex))
        {
            throw new CrdtCodecException($"malformed CRDT map encoding: {Describe(ex)}", ex);
        }
    }

    /// <summary>Encodes a version vector.</summary>
    public static byte[] EncodeVersion(VersionVector version)
    {
        ArgumentNullException.ThrowIfNull(version);
        var output = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(output);
        writer.Write(FormatVersion);
        writer.WriteMapHeader(version.Entries.Count);
        foreach (var (replica, counter) in version.Entries)
        {
            writer.Write(replica);
            writer.Write(counter);
        }

        writer.Flush();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Decodes a version vector.</summary>
    /// <exception cref="CrdtCodecException">The bytes are not a valid encoding.</exception>
    public static VersionVector DecodeVersion(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            var reader = new MessagePackReader(bytes);
            ReadFormatVersion(ref reader);
            var count = MapCount(ref reader);
            var entries = new List<KeyValuePair<string, ulong>>(count);
            string? previous = null;
            for (var i = 0; i < count; i++)
            {
                var replica = ReadString(ref reader, "replica name");
                if (replica.Length == 0)
                {
                    throw Malformed("a replica name is empty");
                }

                previous = Ascending(previous, replica, "version vector");
                entries.Add(KeyValuePair.Create(replica, ReadCounter(ref reader, replica)));
            }

            ExpectEnd(ref reader);
            return new VersionVector(entries);
        }
        catch (Exception ex) when (IsDecodingFailure(ex))
        {
            throw new CrdtCodecException($"malformed version vector encoding: {Describe(ex)}", ex);
        }
    }

    // ---- encoding ----

    private static void WriteEntries(ref MessagePackWriter writer, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, NameTable names, int depth)
    {
        if (depth > MaxDepth)
        {
            throw Malformed($"maps are nested deeper than {MaxDepth} (the limit of every replica's decoder)");
        }

        writer.WriteArrayHeader(checked(entries.Count * 4));
        foreach (var (key, entry) in entries)
        {
            if (WriteString(ref writer, key.Name, "field name") > KvLimits.MaxFieldNameBytes)
            {
                throw Malformed($"field name \"{key.Name[..Math.Min(40, key.Name.Length)]}...\" is longer than {KvLimits.MaxFieldNameBytes} bytes");
            }

            writer.Write((int)key.Type);
            WriteDots(ref writer, entry.Presence, names);
            WriteValue(ref writer, entry.Value, names, depth);
        }
    }

    /// <summary>
    /// UTF-8 that throws on a lone surrogate instead of writing U+FFFD. Used for field names (short, and their length
    /// is checked anyway); elements and register values are not checked again here (a pass over every string of a
    /// value costs about 15% of an encode): they enter only through ops, which <see cref="KvLimits"/> checks, or are
    /// decoded from UTF-8, which cannot hold a lone surrogate.
    /// </summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Writes a string that must come back as itself: one with a lone surrogate would be written as U+FFFD.</summary>
    /// <returns>Its length in UTF-8 bytes.</returns>
    private static int WriteString(ref MessagePackWriter writer, string? text, string what)
    {
        var bytes = 0;
        if (text is not null)
        {
            try
            {
                bytes = StrictUtf8.GetByteCount(text);
            }
            catch (EncoderFallbackException)
            {
                throw Malformed($"a {what} is not valid Unicode (a lone surrogate); it could not be read back as written");
            }
        }

        writer.Write(text);
        return bytes;
    }

    private static void WriteValue(ref MessagePackWriter writer, CrdtValue value, NameTable names, int depth)
    {
        switch (value)
        {
            case GCounter counter:
                WriteCounts(ref writer, counter.Counts, names);
                break;
            case PnCounter counter:
                writer.WriteArrayHeader(2);
                WriteCounts(ref writer, counter.Increments.Counts, names);
                WriteCounts(ref writer, counter.Decrements.Counts, names);
                break;
            case Flag flag:
                Debug.Assert(flag.Context.IsEmpty, "a flag inside a map shares the map's context");
                WriteDots(ref writer, flag.Dots, names);
                break;
            case LwwRegister register:
                writer.WriteArrayHeader(3);
                writer.Write(register.Value);
                writer.Write(register.Timestamp);
                if (register.Replica.Length == 0)
                {
                    writer.WriteNil();
                }
                else
                {
                    writer.Write(names.IndexOf(register.Replica));
                }

                break;
            case MvRegister register:
                Debug.Assert(register.Context.IsEmpty, "a register inside a map shares the map's context");
                writer.WriteArrayHeader(checked(register.Entries.Count * 3));
                foreach (var (dot, text) in register.Entries)
                {
                    WriteDot(ref writer, dot, names);
                    writer.Write(text);
                }

                break;
            case ORSet set:
                Debug.Assert(set.Context.IsEmpty, "a set inside a map shares the map's context");
                writer.WriteMapHeader(set.Entries.Count);
                foreach (var (element, dots) in set.Entries)
                {
                    writer.Write(element);
                    WriteDots(ref writer, dots, names);
                }

                break;
            case CrdtMap nested:
                Debug.Assert(nested.Context.IsEmpty, "a nested map shares the map's context");
                WriteEntries(ref writer, nested.Entries, names, depth + 1);
                break;
            default:
                throw new NotSupportedException($"unknown CRDT type {value.GetType().Name}");
        }
    }

    private static void WriteCounts(ref MessagePackWriter writer, ImmutableSortedDictionary<string, ulong> counts, NameTable names)
    {
        writer.WriteMapHeader(counts.Count);
        foreach (var (replica, counter) in counts)
        {
            if (counter == 0)
            {
                throw Malformed($"replica \"{replica}\" has the count 0, which no decoder reads");
            }

            writer.Write(names.IndexOf(replica));
            writer.Write(counter);
        }
    }

    private static void WriteDots(ref MessagePackWriter writer, ImmutableSortedSet<Dot> dots, NameTable names)
    {
        writer.WriteArrayHeader(checked(dots.Count * 2));
        foreach (var dot in dots)
        {
            WriteDot(ref writer, dot, names);
        }
    }

    private static void WriteDot(ref MessagePackWriter writer, Dot dot, NameTable names)
    {
        writer.Write(names.IndexOf(dot.Replica));
        writer.Write(dot.Counter);
    }

    // ---- decoding ----

    private static bool IsDecodingFailure(Exception ex) =>
        ex is MessagePackSerializationException or EndOfStreamException or OverflowException or ArgumentException
            or InvalidOperationException or FormatException;

    private static string Describe(Exception ex) => ex switch
    {
        EndOfStreamException => "the input ends early, or a length or count claims more bytes than are left",
        OverflowException => $"a number is out of range for its field ({ex.Message})",
        _ => ex.Message,
    };

    private static void ReadFormatVersion(ref MessagePackReader reader)
    {
        if (reader.End)
        {
            throw Malformed("the input is empty");
        }

        if (reader.NextMessagePackType != MessagePackType.Integer)
        {
            throw Malformed("the input does not start with a format version");
        }

        var version = reader.ReadInt64();
        if (version != FormatVersion)
        {
            throw new CrdtCodecException($"format version {version} is not supported (this node reads version {FormatVersion})")
            {
                NewerFormat = version > FormatVersion ? version : null,
            };
        }
    }

    private static string[] ReadNames(ref MessagePackReader reader)
    {
        var count = ArrayCount(ref reader, 1, "name table");
        var names = new string[count];
        var seen = new HashSet<string>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = ReadString(ref reader, "replica name");
            if (name.Length == 0)
            {
                throw Malformed("a replica name in the name table is empty");
            }

            if (!seen.Add(name))
            {
                throw Malformed($"replica \"{name}\" appears twice in the name table");
            }

            names[i] = name;
        }

        return names;
    }

    private static List<KeyValuePair<CrdtFieldKey, CrdtMapEntry>> ReadEntries(ref MessagePackReader reader, string[] names, int depth)
    {
        if (depth > MaxDepth)
        {
            throw Malformed($"maps are nested deeper than {MaxDepth}");
        }

        var count = ArrayCount(ref reader, 4, "map entries");
        var entries = new List<KeyValuePair<CrdtFieldKey, CrdtMapEntry>>(count);
        CrdtFieldKey? previous = null;
        for (var i = 0; i < count; i++)
        {
            var name = ReadString(ref reader, "field name");
            if (name.Length > KvLimits.MaxFieldNameBytes / 3 && Encoding.UTF8.GetByteCount(name) > KvLimits.MaxFieldNameBytes)
            {
                throw Malformed($"a field name is longer than {KvLimits.MaxFieldNameBytes} bytes");
            }

            var tag = reader.ReadInt64();
            if (tag is < (long)CrdtType.GCounter or > (long)CrdtType.Map)
            {
                throw Malformed($"field \"{name}\" has the unknown type tag {tag}");
            }

            var key = new CrdtFieldKey(name, (CrdtType)tag);
            if (previous is { } p && p.CompareTo(key) >= 0)
            {
                throw Malformed($"map slot {key} is out of order or appears twice");
            }

            previous = key;
            var presence = ReadDots(ref reader, names);
            var value = ReadValue(ref reader, key.Type, names, depth);
            entries.Add(KeyValuePair.Create(key, new CrdtMapEntry(presence, value)));
        }

        return entries;
    }

    private static CrdtValue ReadValue(ref MessagePackReader reader, CrdtType type, string[] names, int depth)
    {
        switch (type)
        {
            case CrdtType.GCounter:
                return new GCounter(ReadCounts(ref reader, names, "counter"));
            case CrdtType.PnCounter:
                ExpectArray(ref reader, 2, "PN-counter");
                var increments = new GCounter(ReadCounts(ref reader, names, "counter"));
                return new PnCounter(increments, new GCounter(ReadCounts(ref reader, names, "counter")));
            case CrdtType.Flag:
                return new Flag(ReadDots(ref reader, names), CausalContext.Empty);
            case CrdtType.LwwRegister:
            {
                ExpectArray(ref reader, 3, "LWW register");
                var value = reader.TryReadNil() ? null : ReadString(ref reader, "register value");
                var timestamp = reader.ReadInt64();
                var replica = reader.TryReadNil() ? string.Empty : names[ReadIndex(ref reader, names)];
                return new LwwRegister(value, timestamp, replica);
            }

            case CrdtType.MvRegister:
            {
                var count = ArrayCount(ref reader, 3, "MV register");
                var entries = new List<KeyValuePair<Dot, string>>(count);
                Dot? previous = null;
                for (var i = 0; i < count; i++)
                {
                    var dot = ReadDot(ref reader, names);
                    if (previous is { } p && p >= dot)
                    {
                        throw Malformed($"register dot {dot} is out of order or appears twice");
                    }

                    previous = dot;
                    entries.Add(KeyValuePair.Create(dot, ReadString(ref reader, "register value")));
                }

                return new MvRegister(entries, CausalContext.Empty);
            }

            case CrdtType.ORSet:
            {
                var count = MapCount(ref reader);
                var entries = new List<KeyValuePair<string, ImmutableSortedSet<Dot>>>(count);
                string? previous = null;
                for (var i = 0; i < count; i++)
                {
                    var element = ReadString(ref reader, "set element");
                    previous = Ascending(previous, element, "set");
                    var dots = ReadDots(ref reader, names);
                    if (dots.IsEmpty)
                    {
                        throw Malformed($"set element \"{element}\" has no dots");
                    }

                    entries.Add(KeyValuePair.Create(element, dots));
                }

                return new ORSet(entries, CausalContext.Empty);
            }

            case CrdtType.Map:
                return new CrdtMap(CausalContext.Empty, ReadEntries(ref reader, names, depth + 1));
            default:
                throw Malformed($"unknown type {type}");
        }
    }

    private static List<KeyValuePair<string, ulong>> ReadCounts(ref MessagePackReader reader, string[] names, string what)
    {
        var count = MapCount(ref reader);
        var entries = new List<KeyValuePair<string, ulong>>(count);
        string? previous = null;
        for (var i = 0; i < count; i++)
        {
            var replica = names[ReadIndex(ref reader, names)];
            previous = Ascending(previous, replica, what);
            entries.Add(KeyValuePair.Create(replica, ReadCounter(ref reader, replica)));
        }

        return entries;
    }

    private static ImmutableSortedSet<Dot> ReadDots(ref MessagePackReader reader, string[] names)
    {
        var count = ArrayCount(ref reader, 2, "dots");
        if (count == 0)
        {
            return [];
        }

        var builder = ImmutableSortedSet.CreateBuilder<Dot>();
        Dot? previous = null;
        for (var i = 0; i < count; i++)
        {
            var dot = ReadDot(ref reader, names);
            if (previous is { } p && p >= dot)
            {
                throw Malformed($"dot {dot} is out of order or appears twice");
            }

            previous = dot;
            builder.Add(dot);
        }

        return builder.ToImmutable();
    }

    private static Dot ReadDot(ref MessagePackReader reader, string[] names)
    {
        var replica = names[ReadIndex(ref reader, names)];
        return new Dot(replica, ReadCounter(ref reader, replica));
    }

    private static ulong ReadCounter(ref MessagePackReader reader, string replica)
    {
        var counter = reader.ReadUInt64();
        return counter != 0 ? counter : throw Malformed($"replica \"{replica}\" has the counter 0");
    }

    private static int ReadIndex(ref MessagePackReader reader, string[] names)
    {
        var index = reader.ReadUInt32();
        return index < (uint)names.Length
            ? (int)index
            : throw Malformed($"replica index {index} is outside the name table ({names.Length} names)");
    }

    private static string ReadString(ref MessagePackReader reader, string what) =>
        reader.ReadString() ?? throw Malformed($"a {what} is nil");

    private static string Ascending(string? previous, string current, string what) =>
        previous is null || string.CompareOrdinal(previous, current) < 0
            ? current
            : throw Malformed($"{what} key \"{current}\" is out of order or appears twice");

    /// <summary>An array's item count divided by <paramref name="stride"/>, checked against the bytes left (each item takes at least one).</summary>
    private static int ArrayCount(ref MessagePackReader reader, int stride, string what)
    {
        var count = reader.ReadArrayHeader();
        var left = Remaining(ref reader);
        if (count > left)
        {
            throw Malformed($"{what} claim {count} items but only {left} bytes are left");
        }

        return count % stride == 0 ? count / stride : throw Malformed($"{what} have {count} items, not a multiple of {stride}");
    }

    /// <summary>A map's pair count, checked against the bytes left (each pair takes at least two).</summary>
    private static int MapCount(ref MessagePackReader reader)
    {
        var count = reader.ReadMapHeader();
        var left = Remaining(ref reader);
        return count <= left / 2 ? count : throw Malformed($"a map claims {count} pairs but only {left} bytes are left");
    }

    private static void ExpectArray(ref MessagePackReader reader, int count, string what)
    {
        var actual = reader.ReadArrayHeader();
        if (actual != count)
        {
            throw Malformed($"a {what} has {actual} parts instead of {count}");
        }
    }

    private static void ExpectEnd(ref MessagePackReader reader)
    {
        if (!reader.End)
        {
            throw Malformed($"{Remaining(ref reader)} bytes follow the encoded value");
        }
    }

    private static long Remaining(ref MessagePackReader reader) => reader.Sequence.Length - reader.Consumed;

    private static CrdtCodecException Malformed(string message) => new(message);

    /// <summary>Replica names in order of first use, each written once per encoding.</summary>
    private sealed class NameTable
    {
        private readonly Dictionary<string, int> _indexes = new(StringComparer.Ordinal);

        public List<string> Names { get; } = [];

        public int EstimatedSize { get; private set; }

        public int IndexOf(string name)
        {
            if (!_indexes.TryGetValue(name, out var index))
            {
                index = Names.Count;
                _indexes.Add(name, index);
                Names.Add(name);
                EstimatedSize += name.Length * 3 + 5;
            }

            return index;
        }
    }
}
