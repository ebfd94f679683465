using System.Text;

namespace Lashup.Crdt;

/// <summary>
/// Rough byte counts of a compact binary encoding (MessagePack-like: a few header bytes per string, number and
/// collection). Used by <c>EstimateSize</c> methods; errs on the large side.
/// </summary>
internal static class SizeEstimate
{
    public const int Number = 9;
    public const int Header = 5;

    public static int String(string? s) => s is null ? 1 : Header + Encoding.UTF8.GetByteCount(s);

    public static int Dot(Dot d) => 1 + String(d.Replica) + Number;

    public static int Dots(IEnumerable<Dot> dots)
    {
        var size = Header;
        foreach (var d in dots)
        {
            size += Dot(d);
        }

        return size;
    }

    public static int Counts(IEnumerable<KeyValuePair<string, ulong>> counts)
    {
        var size = Header;
        foreach (var (replica, _) in counts)
        {
            size += String(replica) + Number;
        }

        return size;
    }
}
