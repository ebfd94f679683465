using System.Collections.Immutable;

namespace Lashup.Abstractions.Data;

/// <summary>
/// A <see cref="CrdtOp"/> met a field of another type on its path: an add to a register, a counter add to a set,
/// a path that goes through a field that is not a map. The map was not changed (nor any other op of the batch).
/// </summary>
public sealed class CrdtTypeMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="path">The path of the mismatched field (the op's path or a prefix of it).</param>
    /// <param name="actualType">The type the field has.</param>
    /// <param name="expectedType">The type the op needed there.</param>
    /// <param name="op">The op.</param>
    public CrdtTypeMismatchException(ImmutableArray<string> path, CrdtType actualType, CrdtType expectedType, CrdtOp op)
        : base(FormatMessage(path, actualType, expectedType, op))
    {
        Path = path;
        ActualType = actualType;
        ExpectedType = expectedType;
        Op = op;
    }

    /// <summary>The path of the mismatched field.</summary>
    public ImmutableArray<string> Path { get; }

    /// <summary>The type the field has.</summary>
    public CrdtType ActualType { get; }

    /// <summary>The type the op needed there.</summary>
    public CrdtType ExpectedType { get; }

    /// <summary>The op that did not fit.</summary>
    public CrdtOp Op { get; }

    private static string FormatMessage(ImmutableArray<string> path, CrdtType actualType, CrdtType expectedType, CrdtOp op)
    {
        ArgumentNullException.ThrowIfNull(op);

        // The op's name and path only: its argument may be a value of a megabyte.
        var field = KvLimits.Display(string.Join('/', path));
        var what = $"cannot apply {op.GetType().Name} to \"{KvLimits.Display(string.Join('/', op.Path))}\"";
        return path.Length < op.Path.Length
            ? $"{what}: field \"{field}\" is {Article(actualType)} {actualType}, not a map (the path goes through it)"
            : $"{what}: the field is {Article(actualType)} {actualType}, not {Article(expectedType)} {expectedType}";
    }

    private static string Article(CrdtType type) => type is CrdtType.ORSet or CrdtType.MvRegister or CrdtType.LwwRegister ? "an" : "a";
}
