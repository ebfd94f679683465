using System.Text;

namespace Lashup.Plugins.Dns.Protocol;

/// <summary>
/// Domain names in wire form (length-prefixed labels ending with the root label 0, uncompressed) and in dotted text
/// (<c>web.lashup.directory</c>; Lashup's records carry no trailing dot, though one is accepted). Names compare
/// case-insensitively over ASCII only and every other octet compares exactly (RFC 4343). Length octets are at most 63,
/// below 'A', so case folding a whole wire name byte by byte never touches them.
/// </summary>
internal static class DnsName
{
    /// <summary>The longest name in wire form, root label included (RFC 1035 §2.3.4).</summary>
    public const int MaxLength = 255;

    /// <summary>The longest label.</summary>
    public const int MaxLabelLength = 63;

    /// <summary>The longest dotted text of a valid name: every octet escaped as <c>\DDD</c> plus the dots.</summary>
    public const int MaxTextLength = 1024;

    /// <summary>Pointers one name may follow. A name has at most 127 labels, so a well-formed message never needs more.</summary>
    internal const int MaxPointerJumps = 127;

    /// <summary>The root name in wire form.</summary>
    public static ReadOnlySpan<byte> Root => [0];

    /// <summary>ASCII lower case of one octet; every other octet unchanged.</summary>
    public static byte ToLower(byte value) => (uint)(value - 'A') <= 'Z' - 'A' ? (byte)(value | 0x20) : value;

    /// <summary>Lower-cases ASCII letters in place; every other octet is left alone.</summary>
    public static void ToLowerInPlace(Span<byte> name)
    {
        // Vectorized up to the first octet outside ASCII (rare in names), octet by octet from there.
        Ascii.ToLowerInPlace(name, out var start);
        for (var i = start; i < name.Length; i++)
        {
            name[i] = ToLower(name[i]);
        }
    }

    /// <summary>Compares two wire names (or any octet strings) ignoring ASCII case.</summary>
    public static bool EqualsIgnoreCase(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        if (left.Length != right.Length)
        {
            return false;
        }

        for (var i = 0; i < left.Length; i++)
        {
            if (left[i] != right[i] && ToLower(left[i]) != ToLower(right[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Compares two dotted names ignoring ASCII case and a trailing dot.</summary>
    public static bool EqualsIgnoreCase(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
    {
        left = TrimTrailingDot(left);
        right = TrimTrailingDot(right);
        if (left.Length != right.Length)
        {
            return false;
        }

        for (var i = 0; i < left.Length; i++)
        {
            if (left[i] != right[i] && ToLower(left[i]) != ToLower(right[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The canonical text of a dotted name: ASCII lower case, no trailing dot (the root stays <c>.</c>). Returns
    /// <paramref name="name"/> itself when it is already canonical.
    /// </summary>
    public static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = TrimTrailingDot(name.AsSpan());
        var firstUpper = -1;
        for (var i = 0; i < trimmed.Length; i++)
        {
            if ((uint)(trimmed[i] - 'A') <= 'Z' - 'A')
            {
                firstUpper = i;
                break;
            }
        }

        if (firstUpper < 0)
        {
            return trimmed.Length == name.Length ? name : trimmed.ToString();
        }

        return string.Create(trimmed.Length, name, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = ToLower(source[i]);
            }
        });
    }

    /// <summary>The case-insensitive hash of a wire name; <see cref="DnsQuery.NameHash"/> uses the same function.</summary>
    public static int GetHashCode(ReadOnlySpan<byte> name)
    {
        var hash = default(HashCode);
        Span<byte> chunk = stackalloc byte[64];
        while (!name.IsEmpty)
        {
            // Chunks of a multiple of four octets hash exactly like one AddBytes over the whole name.
            var count = Math.Min(chunk.Length, name.Length);
            for (var i = 0; i < count; i++)
            {
                chunk[i] = ToLower(name[i]);
            }

            hash.AddBytes(chunk[..count]);
            name = name[count..];
        }

        return hash.ToHashCode();
    }

    /// <summary>The hash of a wire name already in lower case (skips the case folding).</summary>
    internal static int GetHashCodeOfLowerCase(ReadOnlySpan<byte> lowerCaseName)
    {
        var hash = default(HashCode);
        hash.AddBytes(lowerCaseName);
        return hash.ToHashCode();
    }

    /// <summary>Whether <paramref name="name"/> is a single valid uncompressed wire name filling the whole span.</summary>
    public static bool IsValid(ReadOnlySpan<byte> name) => Measure(name) == name.Length;

    /// <summary>The number of labels of a valid wire name, the root not counted.</summary>
    public static int CountLabels(ReadOnlySpan<byte> name)
    {
        var count = 0;
        for (var i = 0; i < name.Length && name[i] != 0; i += name[i] + 1)
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// Whether the wire name <paramref name="name"/> is <paramref name="zone"/> or below it, on a label boundary,
    /// ignoring ASCII case.
    /// </summary>
    public static bool IsSubdomainOf(ReadOnlySpan<byte> name, ReadOnlySpan<byte> zone)
    {
        for (var i = 0; i < name.Length; i += name[i] + 1)
        {
            var rest = name.Length - i;
            if (rest == zone.Length)
            {
                return EqualsIgnoreCase(name[i..], zone);
            }

            if (rest < zone.Length || name[i] == 0)
            {
                return false;
            }
        }

        return false;
    }

    /// <summary>
    /// Converts dotted text to a wire name. Accepts a trailing dot, <c>""</c> and <c>"."</c> for the root, and the
    /// zone-file escapes <c>\.</c>, <c>\\</c> and <c>\DDD</c>; refuses empty labels, labels over 63 octets, names over
    /// 255 octets and characters outside ASCII (IDNs arrive as punycode).
    /// </summary>
    public static bool TryFromText(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        written = 0;
        if (text.IsEmpty || text is ".")
        {
            if (destination.IsEmpty)
            {
                return false;
            }

            destination[0] = 0;
            written = 1;
            return true;
        }

        var limit = Math.Min(destination.Length, MaxLength);
        var labelStart = 0;
        var position = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '.')
            {
                var labelLength = position - labelStart - 1;
                if (labelLength == 0)
                {
                    return false;
                }

                destination[labelStart] = (byte)labelLength;
                if (position >= limit)
                {
                    return false;
                }

                labelStart = position;
                if (i == text.Length - 1)
                {
                    // A trailing dot: the label just closed was the last one; the root label goes at labelStart.
                    position++;
                    break;
                }

                position++;
                continue;
            }

            int value;
            var numeric = false;
            if (c == '\\')
            {
                if (++i >= text.Length)
                {
                    return false;
                }

                if (char.IsAsciiDigit(text[i]))
                {
                    if (i + 2 >= text.Length || !char.IsAsciiDigit(text[i + 1]) || !char.IsAsciiDigit(text[i + 2]))
                    {
                        return false;
                    }

                    value = ((text[i] - '0') * 100) + ((text[i + 1] - '0') * 10) + (text[i + 2] - '0');
                    if (value > 255)
                    {
                        return false;
                    }

                    i += 2;
                    numeric = true;
                }
                else
                {
                    value = text[i];
                }
            }
            else
            {
                value = c;
            }

            if ((value > 0x7F && !numeric) || position >= limit || position - labelStart > MaxLabelLength)
            {
                return false;
            }

            destination[position++] = (byte)value;
        }

        // Close the last label (empty only after a trailing dot, where it becomes the root label).
        var lastLength = position - labelStart - 1;
        if (lastLength > MaxLabelLength)
        {
            return false;
        }

        if (lastLength > 0)
        {
            destination[labelStart] = (byte)lastLength;
            if (position >= limit)
            {
                return false;
            }

            destination[position++] = 0;
        }
        else
        {
            destination[labelStart] = 0;
            position = labelStart + 1;
        }

        written = position;
        return true;
    }

    /// <summary>Converts dotted text to a new wire name (configuration time, not the query path).</summary>
    /// <exception cref="ArgumentException">The text is not a valid name.</exception>
    public static byte[] FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Span<byte> buffer = stackalloc byte[MaxLength];
        if (!TryFromText(text, buffer, out var written))
        {
            throw new ArgumentException($"\"{text}\" is not a valid DNS name", nameof(text));
        }

        return buffer[..written].ToArray();
    }

    /// <summary>
    /// Converts a wire name to dotted text without a trailing dot (the root is <c>.</c>). Dots and backslashes inside
    /// labels are escaped as <c>\.</c> and <c>\\</c>, octets outside printable ASCII as <c>\DDD</c>.
    /// </summary>
    /// <returns>false if <paramref name="name"/> is not exactly one valid wire name or the text does not fit.</returns>
    public static bool TryToText(ReadOnlySpan<byte> name, Span<char> destination, out int written)
    {
        written = 0;
        if (!IsValid(name))
        {
            return false;
        }

        if (name.Length == 1)
        {
            if (destination.IsEmpty)
            {
                return false;
            }

            destination[0] = '.';
            written = 1;
            return true;
        }

        var position = 0;
        for (var i = 0; name[i] != 0; i += name[i] + 1)
        {
            if (i > 0)
            {
                if (position >= destination.Length)
                {
                    return false;
                }

                destination[position++] = '.';
            }

            foreach (var octet in name.Slice(i + 1, name[i]))
            {
                if (octet is (byte)'.' or (byte)'\\')
                {
                    if (position + 2 > destination.Length)
                    {
                        return false;
                    }

                    destination[position++] = '\\';
                    destination[position++] = (char)octet;
                }
                else if (octet is <= 0x20 or >= 0x7F)
                {
                    if (position + 4 > destination.Length)
                    {
                        return false;
                    }

                    destination[position++] = '\\';
                    destination[position++] = (char)('0' + (octet / 100));
                    destination[position++] = (char)('0' + (octet / 10 % 10));
                    destination[position++] = (char)('0' + (octet % 10));
                }
                else
                {
                    if (position >= destination.Length)
                    {
                        return false;
                    }

                    destination[position++] = (char)octet;
                }
            }
        }

        written = position;
        return true;
    }

    /// <summary>Converts a wire name to a new dotted string (logs, the record-source seam; not the query path).</summary>
    /// <exception cref="ArgumentException">The octets are not one valid wire name.</exception>
    public static string ToText(ReadOnlySpan<byte> name)
    {
        Span<char> buffer = stackalloc char[MaxTextLength];
        if (!TryToText(name, buffer, out var written))
        {
            throw new ArgumentException("not a valid wire-format DNS name", nameof(name));
        }

        return new string(buffer[..written]);
    }

    /// <summary>
    /// Reads a possibly compressed name from a message at <paramref name="offset"/> into <paramref name="destination"/>
    /// (at least 255 octets) in uncompressed wire form, optionally lower-cased. Safe on any input: every pointer must
    /// point before the start of the label run that contains it, so targets strictly decrease and cannot loop, jumps
    /// are capped, and the output never exceeds 255 octets.
    /// </summary>
    /// <param name="message">The whole message (pointers are offsets into it).</param>
    /// <param name="offset">Where the name starts.</param>
    /// <param name="destination">Receives the name; must hold <see cref="MaxLength"/> octets.</param>
    /// <param name="toLower">Lower-case ASCII letters while copying.</param>
    /// <param name="nameLength">The length of the uncompressed name, root label included.</param>
    /// <param name="next">The offset just after the name as it sits at <paramref name="offset"/> (after its first pointer).</param>
    /// <returns><see cref="DnsParseError.None"/>, or the first problem; running past the end is <see cref="DnsParseError.TruncatedRecord"/>.</returns>
    internal static DnsParseError Read(ReadOnlySpan<byte> message, int offset, Span<byte> destination, bool toLower, out int nameLength, out int next)
    {
        // An empty destination validates and measures only (records the parser skips).
        var copy = !destination.IsEmpty;
        if (copy && destination.Length < MaxLength)
        {
            throw new ArgumentException("the destination must hold a 255-octet name", nameof(destination));
        }

        nameLength = 0;
        next = -1;
        var written = 0;
        var position = offset;
        var runStart = offset;
        var jumps = 0;
        while (true)
        {
            if ((uint)position >= (uint)message.Length)
            {
                return DnsParseError.TruncatedRecord;
            }

            int octet = message[position];
            switch (octet & 0xC0)
            {
                case 0x00 when octet == 0:
                    if (copy)
                    {
                        destination[written] = 0;
                        if (toLower)
                        {
                            ToLowerInPlace(destination[..written]);
                        }
                    }

                    if (next < 0)
                    {
                        next = position + 1;
                    }

                    nameLength = written + 1;
                    return DnsParseError.None;

                case 0x00:
                    // The label, its length octet and at least the root label must fit in 255.
                    if (written + octet + 2 > MaxLength)
                    {
                        return DnsParseError.NameTooLong;
                    }

                    if (octet >= message.Length - position)
                    {
                        return DnsParseError.TruncatedRecord;
                    }

                    if (copy)
                    {
                        message.Slice(position, octet + 1).CopyTo(destination[written..]);
                    }

                    written += octet + 1;
                    position += octet + 1;
                    break;

                case 0xC0:
                    if (position + 1 >= message.Length)
                    {
                        return DnsParseError.TruncatedRecord;
                    }

                    var pointer = ((octet & 0x3F) << 8) | message[position + 1];
                    if (pointer >= runStart || ++jumps > MaxPointerJumps)
                    {
                        return DnsParseError.BadPointer;
                    }

                    if (next < 0)
                    {
                        next = position + 2;
                    }

                    position = runStart = pointer;
                    break;

                case 0x40:
                    // A length of 64..127, or the deprecated extended label type 0x40 (RFC 6891 §5).
                    return DnsParseError.LabelTooLong;

                default:
                    // 0x80: reserved label type.
                    return DnsParseError.BadLabelType;
            }
        }
    }

    /// <summary>The length of the uncompressed wire name at the start of <paramref name="name"/>, or -1 if invalid.</summary>
    internal static int Measure(ReadOnlySpan<byte> name)
    {
        var position = 0;
        while (position < name.Length)
        {
            int length = name[position];
            if (length == 0)
            {
                return position + 1 <= MaxLength ? position + 1 : -1;
            }

            if (length > MaxLabelLength)
            {
                return -1;
            }

            position += length + 1;
        }

        return -1;
    }

    private static char ToLower(char value) => (uint)(value - 'A') <= 'Z' - 'A' ? (char)(value | 0x20) : value;

    private static ReadOnlySpan<char> TrimTrailingDot(ReadOnlySpan<char> text)
    {
        if (text.Length < 2 || text[^1] != '.')
        {
            return text;
        }

        // The dot is escaped when an odd number of backslashes stands before it.
        var backslashes = 0;
        for (var i = text.Length - 2; i >= 0 && text[i] == '\\'; i--)
        {
            backslashes++;
        }

        return backslashes % 2 == 0 ? text[..^1] : text;
    }
}
