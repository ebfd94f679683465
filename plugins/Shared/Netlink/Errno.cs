using System.Runtime.InteropServices;

namespace Lashup.Netlink;

/// <summary>The Linux errno values netlink answers with (asm-generic, the same on x64 and arm64), and their text.</summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int ENOPROTOOPT = 92;
    public const int EMSGSIZE = 90;
    public const int EPROTONOSUPPORT = 93;
    public const int EOPNOTSUPP = 95;
    public const int EAFNOSUPPORT = 97;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ENOBUFS = 105;
    public const int ETIMEDOUT = 110;
    public const int EHOSTUNREACH = 113;

    private static readonly Dictionary<int, string> Names = new()
    {
        [EPERM] = "EPERM",
        [ENOENT] = "ENOENT",
        [ESRCH] = "ESRCH",
        [EINTR] = "EINTR",
        [EAGAIN] = "EAGAIN",
        [ENOMEM] = "ENOMEM",
        [EACCES] = "EACCES",
        [EBUSY] = "EBUSY",
        [EEXIST] = "EEXIST",
        [ENODEV] = "ENODEV",
        [EINVAL] = "EINVAL",
        [EMSGSIZE] = "EMSGSIZE",
        [EPROTONOSUPPORT] = "EPROTONOSUPPORT",
        [EOPNOTSUPP] = "EOPNOTSUPP",
        [EAFNOSUPPORT] = "EAFNOSUPPORT",
        [ENOBUFS] = "ENOBUFS",
        [ETIMEDOUT] = "ETIMEDOUT",
        [EHOSTUNREACH] = "EHOSTUNREACH",
        [ENETUNREACH] = "ENETUNREACH",
        [ENETDOWN] = "ENETDOWN",
        [EADDRNOTAVAIL] = "EADDRNOTAVAIL",
        [EADDRINUSE] = "EADDRINUSE",
        [ENOPROTOOPT] = "ENOPROTOOPT",
        [ERANGE] = "ERANGE",
        [ENOSPC] = "ENOSPC",
        [ENXIO] = "ENXIO",
    };

    /// <summary><c>EEXIST (File exists)</c>: the name where known, and the C library's text.</summary>
    public static string Describe(int errno)
    {
        var text = OperatingSystem.IsWindows() ? $"error {errno}" : Marshal.GetPInvokeErrorMessage(errno);
        return Names.TryGetValue(errno, out var name) ? $"{name} ({text})" : $"errno {errno} ({text})";
    }
}
