// The socket behind the ipvs backend. .NET's Socket refuses AF_NETLINK (new Socket((AddressFamily)16, ...) throws
// EAFNOSUPPORT on .NET 10), so these are the four C library calls on a raw descriptor, as Proxy/Native.cs does for the
// userspace proxy. recv with MSG_TRUNC returns a datagram's whole length even when it did not fit, so a reply larger
// than the buffer is reported instead of read half. Linux only; the constants are the asm-generic ones (x64, arm64).
using System.Runtime.InteropServices;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

/// <summary>A generic netlink socket to the kernel, with a receive timeout.</summary>
internal sealed unsafe partial class NetlinkSocket : IGenericNetlinkSocket
{
    public const int AF_NETLINK = 16;
    public const int NETLINK_GENERIC = 16;
    private const int SOCK_RAW = 3;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int SOL_SOCKET = 1;
    private const int SO_RCVTIMEO = 20;
    private const int MSG_TRUNC = 0x20;

    private readonly int _fd;
    private int _closed;

    private NetlinkSocket(int fd) => _fd = fd;

    /// <summary>Opens a socket whose receives wait at most <paramref name="receiveTimeout"/>.</summary>
    /// <exception cref="NetlinkException">The socket could not be opened (errno set).</exception>
    public static NetlinkSocket Open(TimeSpan receiveTimeout)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new NetlinkException("netlink is Linux only", Errno.EAFNOSUPPORT);
        }

        var fd = Socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetlinkException($"cannot open a generic netlink socket: {Errno.Describe(errno)}", errno);
        }

        // struct timeval { long tv_sec; long tv_usec; } on 64-bit Linux.
        var timeval = stackalloc long[2];
        timeval[0] = (long)receiveTimeout.TotalSeconds;
        timeval[1] = receiveTimeout.Milliseconds * 1000L;
        if (SetSockOpt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval, 2 * sizeof(long)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = Close(fd);
            throw new NetlinkException($"cannot set the netlink socket's receive timeout: {Errno.Describe(errno)}", errno);
        }

        return new NetlinkSocket(fd);
    }

    public void Send(ReadOnlySpan<byte> request)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
        fixed (byte* p = request)
        {
            while (true)
            {
                // No address: an unbound, unconnected netlink socket sends to the kernel (port id 0).
                var sent = SendTo(_fd, p, request.Length, 0);
                if (sent == request.Length)
                {
                    return;
                }

                var errno = sent < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                throw new NetlinkException(sent < 0 ? $"netlink send failed: {Errno.Describe(errno)}" : $"netlink send was short ({sent} of {request.Length} bytes)", errno);
            }
        }
    }

    public int Receive(Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var received = Recv(_fd, p, buffer.Length, MSG_TRUNC);
                if (received >= 0)
                {
                    return (int)received;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                throw errno == Errno.EAGAIN
                    ? new NetlinkException("the kernel did not answer in time (netlink receive timed out)", Errno.ETIMEDOUT)
                    : new NetlinkException($"netlink receive failed: {Errno.Describe(errno)}", errno);
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _ = Close(_fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendTo(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
