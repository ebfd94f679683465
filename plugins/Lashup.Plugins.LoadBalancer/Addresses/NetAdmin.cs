using System.Globalization;

namespace Lashup.Plugins.LoadBalancer.Addresses;

/// <summary>
/// Whether the <c>ip</c> processes the load balancer starts may change addresses (CAP_NET_ADMIN): always when the
/// daemon runs as root, otherwise only when the daemon holds CAP_NET_ADMIN as an ambient capability (a systemd unit's
/// <c>AmbientCapabilities=</c>, <c>setpriv --ambient-caps</c>), the only way a capability passes to a program it runs.
/// </summary>
internal static class NetAdmin
{
    private const int CapNetAdmin = 12;

    /// <summary>This process's answer, from <c>/proc/self/status</c>.</summary>
    public static bool PassedToChildren()
    {
        if (Environment.IsPrivilegedProcess)
        {
            return true;
        }

        try
        {
            return FromStatus(File.ReadLines("/proc/self/status")) ?? false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether the <c>CapAmb:</c> line of a <c>/proc/PID/status</c> has CAP_NET_ADMIN; null without one.</summary>
    public static bool? FromStatus(IEnumerable<string> statusLines)
    {
        foreach (var line in statusLines)
        {
            if (line.StartsWith("CapAmb:", StringComparison.Ordinal))
            {
                return ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var caps)
                    && (caps & (1UL << CapNetAdmin)) != 0;
            }
        }

        return null;
    }
}
