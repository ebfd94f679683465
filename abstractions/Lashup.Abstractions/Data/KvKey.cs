using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>
/// The key of a value in the replicated store: a path of segments separated by <c>/</c>, such as
/// <c>lb/vips/web:80</c>. A key is non-empty, at most <see cref="MaxUtf8Length"/> bytes in UTF-8, has no empty segment
/// (no leading, trailing or doubled <c>/</c>), no control character and no lone surrogate. <see cref="Root"/>, the
/// empty path, is not a key but the prefix of every key (for <see cref="IReplicatedStore.List"/> and
/// <see cref="IReplicatedStore.WatchAsync"/>). Keys compare segment by segment, ordinally, so a key's descendants
/// sort right after it.
/// </summary>
public sealed class KvKey : IEquatable<KvKey>, IComparable<KvKey>
{
    /// <summary>The largest key, in UTF-8 bytes.</summary>
    public const int MaxUtf8Length = 512;

    private KvKey(string value, ImmutableArray<string> segments)
    {
        Value = value;
        Segments = segments;
    }

    /// <summary>The empty path: a prefix of every key, itself naming no value.</summary>
    public static KvKey Root { get; } = new(string.Empty, []);

    /// <summary>The key's text, e.g. <c>lb/vips/web:80</c>; empty for <see cref="Root"/>.</summary>
    public string Value { get; }

    /// <summary>The segments, e.g. <c>["lb", "vips", "web:80"]</c>; empty for <see cref="Root"/>.</summary>
    public ImmutableArray<string> Segments { get; }

    /// <summary>Whether this is <see cref="Root"/>.</summary>
    public bool IsRoot => Segments.IsEmpty;

    /// <summary>Parses and validates a key.</summary>
    /// <exception cref="FormatException">The text is not a valid key; the message says why.</exception>
    public static KvKey Parse(string text) =>
        TryParse(text, out var key, out var error) ? key : throw new FormatException(error);

    /// <summary>Parses and validates a key.</summary>
    /// <param name="text">The key's text.</param>
    /// <param name="key">The key, when valid.</param>
    /// <param name="error">Why the text is not a valid key, when it is not.</param>
    public static bool TryParse(string? text, [NotNullWhen(true)] out KvKey? key, [NotNullWhen(false)] out string? error)
    {
        key = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "a key must not be empty";
            return false;
        }

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                error = $"key \"{Display(text)}\" has a lone surrogate U+{(int)c:X4} at index {i} (not valid Unicode)";
                return false;
            }
            else if (char.IsControl(c))
            {
                error = $"key \"{Display(text)}\" has the control character U+{(int)c:X4} at index {i}";
                return false;
            }
        }

        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxUtf8Length)
        {
            error = $"key \"{Display(text)}\" is {bytes} bytes in UTF-8; the limit is {MaxUtf8Length}";
            return false;
        }

        var segments = text.Split('/');
        var position = 0;
        foreach (var segment in segments)
        {
            if (segment.Length == 0)
            {
                error = $"key \"{Display(text)}\" has an empty segment at index {position} "
                    + "(segments are separated by a single '/', with none at the start or end)";
                return false;
            }

            position += segment.Length + 1;
        }

        key = new KvKey(text, [.. segments]);
        error = null;
        return true;
    }

    /// <summary>The key one segment below this one (e.g. <c>lb/vips</c> → <c>lb/vips/web:80</c>).</summary>
    /// <exception cref="FormatException">The result is not a valid key (the segment is empty, has a <c>/</c>, ...).</exception>
    public KvKey Child(string segment)
    {
        ArgumentNullException.ThrowIfNull(segment);
        if (segment.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException($"key segment \"{Display(segment)}\" must not contain '/'");
        }

        return Parse(IsRoot ? segment : $"{Value}/{segment}");
    }

    /// <summary>
    /// Whether <paramref name="prefix"/> is this key or one of its ancestors, segment by segment: <c>lb/vips</c> is a
    /// prefix of <c>lb/vips/web:80</c> but not of <c>lb/vipsx</c>. <see cref="Root"/> is a prefix of every key.
    /// </summary>
    public bool StartsWith(KvKey prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return prefix.IsRoot
            || (Value.StartsWith(prefix.Value, StringComparison.Ordinal)
                && (Value.Length == prefix.Value.Length || Value[prefix.Value.Length] == '/'));
    }

    /// <summary>Compares segment by segment, ordinally; a key sorts before its descendants.</summary>
    public int CompareTo(KvKey? other)
    {
        if (other is null)
        {
            return 1;
        }

        var n = Math.Min(Segments.Length, other.Segments.Length);
        for (var i = 0; i < n; i++)
        {
            var c = string.CompareOrdinal(Segments[i], other.Segments[i]);
            if (c != 0)
            {
                return c;
            }
        }

        return Segments.Length.CompareTo(other.Segments.Length);
    }

    /// <inheritdoc/>
    public bool Equals(KvKey? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as KvKey);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <summary>The key's text.</summary>
    public override string ToString() => Value;

    /// <summary>Whether both are the same key.</summary>
    public static bool operator ==(KvKey? left, KvKey? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Whether the keys differ.</summary>
    public static bool operator !=(KvKey? left, KvKey? right) => !(left == right);

    /// <summary>Compares keys (see <see cref="CompareTo"/>).</summary>
    public static bool operator <(KvKey? left, KvKey? right) => Compare(left, right) < 0;

    /// <summary>Compares keys (see <see cref="CompareTo"/>).</summary>
    public static bool operator >(KvKey? left, KvKey? right) => Compare(left, right) > 0;

    /// <summary>Compares keys (see <see cref="CompareTo"/>).</summary>
    public static bool operator <=(KvKey? left, KvKey? right) => Compare(left, right) <= 0;

    /// <summary>Compares keys (see <see cref="CompareTo"/>).</summary>
    public static bool operator >=(KvKey? left, KvKey? right) => Compare(left, right) >= 0;

    private static int Compare(KvKey? left, KvKey? right) => left is null ? (right is null ? 0 : -1) : left.CompareTo(right);

    /// <summary>The text with control characters and surrogates escaped, shortened past 80 characters, for messages.</summary>
    private static string Display(string text)
    {
        var sb = new StringBuilder();
        foreach (var c in text.Length > 80 ? text[..80] : text)
        {
            if (char.IsControl(c) || char.IsSurrogate(c))
            {
                sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        return text.Length > 80 ? sb.Append("...").ToString() : sb.ToString();
    }
}
