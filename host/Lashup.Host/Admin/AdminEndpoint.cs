using System.Net;

namespace Lashup.Host.Admin;

/// <summary>Parses <c>address:port</c> as written in <c>admin.listen</c>.</summary>
internal static class AdminEndpoint
{
    public static bool TryParse(string? text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            text = "127.0.0.1" + text["localhost".Length..];
        }

        if (!IPEndPoint.TryParse(text, out var parsed) || parsed.Port == 0 || !text.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        endpoint = parsed;
        return true;
    }
}
