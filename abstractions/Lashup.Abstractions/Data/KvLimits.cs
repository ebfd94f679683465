using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>
/// The limits of the replicated store, in one place: what a key, a field path, an op and an update may hold. The store
/// checks every update against them before it applies, persists or replicates anything (an update over a limit fails
/// with <see cref="KvValidationException"/> naming the limit, and nothing is written), and the store's codec refuses
/// the same things in what it reads from disk or from peers, so a value a node accepted is a value every node can read.
/// The value size limit is a setting of the core (<c>core.max_value_size</c>), not a constant.
/// </summary>
/// <remarks>
/// Strings (field names, set elements, register values) must be valid Unicode: a lone surrogate cannot be written as
/// UTF-8, and would come back from disk or from a peer as another string than the one acknowledged.
/// </remarks>
public static class KvLimits
{
    /// <summary>The longest key, in UTF-8 bytes (<see cref="KvKey.MaxUtf8Length"/>).</summary>
    public const int MaxKeyBytes = KvKey.MaxUtf8Length;

    /// <summary>How deep maps nest in a value: a field path has at most <see cref="MaxPathSegments"/> segments.</summary>
    public const int MaxMapDepth = 16;

    /// <summary>The most segments in a field path (<see cref="MaxMapDepth"/> nested maps, then the field).</summary>
    public const int MaxPathSegments = MaxMapDepth + 1;

    /// <summary>The longest field name (one segment of a path), in UTF-8 bytes.</summary>
    public const int MaxFieldNameBytes = 512;

    /// <summary>The most ops in one update.</summary>
    public const int MaxOpsPerUpdate = 10_000;

    /// <summary>The first segment of the keys the core keeps for itself (e.g. pruning markers): no update may write them.</summary>
    public const string ReservedSegment = "lashup";

    /// <summary>Checks an update against these limits: its key is not reserved, its ops are within them.</summary>
    /// <param name="key">The key being updated (for the exception).</param>
    /// <param name="ops">The ops.</param>
    /// <exception cref="KvValidationException">An op breaks a limit; the message names the op (<c>ops[i]</c>) and the limit.</exception>
    public static void Validate(KvKey key, IReadOnlyList<CrdtOp> ops)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(ops);
        if (!key.IsRoot && key.Segments[0] == ReservedSegment)
        {
            throw new KvValidationException(key, $"keys under \"{ReservedSegment}/\" are reserved for the store itself");
        }

        if (ops.Count > MaxOpsPerUpdate)
        {
            throw new KvValidationException(key, $"an update has at most {MaxOpsPerUpdate} ops; this one has {ops.Count}");
        }

        for (var i = 0; i < ops.Count; i++)
        {
            if (ops[i] is null)
            {
                throw new KvValidationException(key, $"ops[{i}] is null");
            }

            if (!TryValidate(ops[i], out var error))
            {
                throw new KvValidationException(key, $"ops[{i}]: {error}");
            }
        }
    }

    /// <summary>Checks one op against these limits.</summary>
    /// <param name="op">The op.</param>
    /// <param name="error">What is wrong, when something is.</param>
    /// <returns>Whether the op is within the limits.</returns>
    public static bool TryValidate(CrdtOp op, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(op);
        if (op.Path.Length > MaxPathSegments)
        {
            error = $"the field path has {op.Path.Length} segments; the limit is {MaxPathSegments} (maps nest at most {MaxMapDepth} deep)";
            return false;
        }

        foreach (var segment in op.Path)
        {
            if (!TryValidateFieldName(segment, out error))
            {
                return false;
            }
        }

        var (what, text) = op switch
        {
            ORSetAdd a => ("element", a.Element),
            ORSetRemove r => ("element", r.Element),
            LwwSet s => ("value", s.Value),
            MvSet s => ("value", s.Value),
            _ => (null, null),
        };
        if (what is not null && text is not null && FirstLoneSurrogate(text) is var at and >= 0)
        {
            error = $"the {what} has a lone surrogate U+{(int)text[at]:X4} at index {at} (not valid Unicode)";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Checks a field name (one segment of a path): not empty, at most <see cref="MaxFieldNameBytes"/>, no control character, valid Unicode.</summary>
    public static bool TryValidateFieldName(string? name, [NotNullWhen(false)] out string? error)
    {
        if (string.IsNullOrEmpty(name))
        {
            error = "a field name is empty";
            return false;
        }

        if (FirstLoneSurrogate(name) is var at and >= 0)
        {
            error = $"field name \"{Display(name)}\" has a lone surrogate U+{(int)name[at]:X4} at index {at} (not valid Unicode)";
            return false;
        }

        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsControl(name[i]))
            {
                error = $"field name \"{Display(name)}\" has the control character U+{(int)name[i]:X4} at index {i}";
                return false;
            }
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes > MaxFieldNameBytes)
        {
            error = $"field name \"{Display(name)}\" is {bytes} bytes in UTF-8; the limit is {MaxFieldNameBytes}";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>The index of the first lone surrogate in <paramref name="text"/>, or -1.</summary>
    internal static int FirstLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>A name shortened for an error message, control characters and surrogates escaped.</summary>
    internal static string Display(string text)
    {
        var sb = new StringBuilder();
        foreach (var c in text.Length > 40 ? text[..40] : text)
        {
            sb.Append(char.IsControl(c) || char.IsSurrogate(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}") : c);
        }

        return text.Length > 40 ? sb.Append("...").ToString() : sb.ToString();
    }
}
