// Why this is hand-written: .NET's Socket completes every asynchronous receive and send through its own epoll thread and
// then a thread-pool thread, two hand-offs per message; a proxy does little else than move small messages, and on a
// loopback benchmark pinned to one core that machinery made it about 0.65x HAProxy's requests per second. A proxy loop
// of its own (one epoll per worker thread, edge-triggered, non-blocking recv/send straight into a buffer it owns, as
// HAProxy and nginx do) makes the same system calls HAProxy makes and no others. These are the calls, on raw
// descriptors. Linux only; the constants below are the asm-generic ones (x64 and arm64 alike), the epoll_event layout
// differs (packed on x64) and is handled by EventSize/DataOffset.
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

internal static unsafe partial class Native
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;
    public const int EINPROGRESS = 115;

    /// <summary>
    /// Whether a failed connect is the backend's doing (refused, unreachable, timed out), and so counts against it;
    /// what this host ran out of (descriptors, ports, buffers) does not eject a healthy backend.
    /// </summary>
    public static bool IsBackendFault(int errno) => errno is ECONNREFUSED or EHOSTUNREACH or ENETUNREACH or ETIMEDOUT;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLEXCLUSIVE = 1u << 28;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CLOEXEC = 0x80000;

    public const int AF_INET = 2;
    public const int AF_INET6 = 10;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SO_LINGER = 13;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>sizeof(struct epoll_event): packed on x64 (12), naturally aligned elsewhere (16).</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>Whether this platform has what the proxy loop uses.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    public static uint EventsAt(byte* events, int index) => *(uint*)(events + (index * EventSize));

    public static ulong DataAt(byte* events, int index) => Unsafe.ReadUnaligned<ulong>(events + (index * EventSize) + DataOffset);

    public static int Control(int epoll, int op, int fd, uint events, ulong data)
    {
        var buffer = stackalloc byte[16];
        *(uint*)buffer = events;
        Unsafe.WriteUnaligned(buffer + DataOffset, data);
        return epoll_ctl(epoll, op, fd, buffer);
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    /// <summary>The native sockaddr of <paramref name="endpoint"/> (sockaddr_in, 16 bytes, or sockaddr_in6, 28).</summary>
    public static byte[] SockAddr(IPEndPoint endpoint)
    {
        var v6 = endpoint.AddressFamily == AddressFamily.InterNetworkV6;
        var result = new byte[v6 ? 28 : 16];
        BitConverter.TryWriteBytes(result.AsSpan(0, 2), (ushort)(v6 ? AF_INET6 : AF_INET));
        result[2] = (byte)(endpoint.Port >> 8);
        result[3] = (byte)endpoint.Port;
        endpoint.Address.TryWriteBytes(result.AsSpan(v6 ? 8 : 4), out _);
        if (v6)
        {
            BitConverter.TryWriteBytes(result.AsSpan(24, 4), (uint)endpoint.Address.ScopeId);
        }

        return result;
    }

    /// <summary>Sets TCP_NODELAY (the proxy forwards what it reads at once; Nagle would hold small writes back).</summary>
    public static void NoDelay(int fd)
    {
        var one = 1;
        _ = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
    }

    /// <summary>Closes with a reset (SO_LINGER 0): the peer sees the failure at once instead of a clean end.</summary>
    public static void Reset(int fd)
    {
        if (fd < 0)
        {
            return;
        }

        var linger = stackalloc int[2];
        linger[0] = 1;
        linger[1] = 0;
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 2 * sizeof(int));
        _ = close(fd);
    }

    /// <summary>The pending error of a socket (what a failed non-blocking connect left), 0 when none.</summary>
    public static int SocketError(int fd)
    {
        var error = 0;
        var length = (uint)sizeof(int);
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 ? error : Errno;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, void* evt);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, void* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, void* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, void* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int connect(int fd, byte* address, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, void* address, uint* length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, void* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, void* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvfrom(int fd, void* buffer, nint length, int flags, byte* address, uint* addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, void* buffer, nint length, int flags, byte* address, uint addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, uint* length);
}
