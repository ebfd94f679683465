namespace Lashup.Netlink.Tests;

/// <summary>Literal bytes written as hex, one field per string, so that a test reads like the header it follows.</summary>
internal static class Wire
{
    /// <summary>The bytes of hex strings (spaces ignored), concatenated.</summary>
    public static byte[] Hex(params string[] fields) => Convert.FromHexString(string.Concat(fields).Replace(" ", "", StringComparison.Ordinal));

    /// <summary>Hex of bytes, spaced per byte, for readable assertion failures.</summary>
    public static string Show(ReadOnlySpan<byte> bytes) => string.Join(' ', bytes.ToArray().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}
