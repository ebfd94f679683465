// The socket behind the netlink clients. .NET's Socket cannot create an AF_NETLINK socket (AddressFamily has no
// Netlink; new Socket((AddressFamily)16, ...) throws EAFNOSUPPORT), but it can wrap one: socket(2) through a
// LibraryImport, then Socket(SafeSocketHandle) for send, receive, the timeout and the options. A receive with
// SocketFlags.Truncated passes MSG_TRUNC, so recv returns a datagram's whole length even when it did not fit, and a
// reply larger than the buffer is reported instead of read half. Linux only; the constants are the asm-generic ones
// (x64, arm64).
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Lashup.Netlink;

/// <summary>
/// A netlink socket to the kernel with a receive timeout and extended acks on, optionally opened in a named network
/// namespace (<c>ip netns</c>): the socket stays in the namespace it was made in, whatever thread uses it later.
/// </summary>
internal sealed partial class NetlinkSocket : INetlinkSocket
{
    public const int AF_NETLINK = 16;

    /// <summary>rtnetlink: links, addresses, neighbours, routes.</summary>
    public const int NETLINK_ROUTE = 0;

    /// <summary>Generic netlink (IPVS and other families resolved by name).</summary>
    public const int NETLINK_GENERIC = 16;

    private const int SOCK_RAW = 3;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int CLONE_NEWNET = 0x40000000;

    /// <summary>The receive buffer asked for (the kernel caps it at net.core.rmem_max): room for a batch's acks.</summary>
    private const int ReceiveBufferBytes = 4 * 1024 * 1024;

    private readonly Socket _socket;

    private NetlinkSocket(Socket socket) => _socket = socket;

    /// <summary>Opens a socket of <paramref name="protocol"/> whose receives wait at most <paramref name="receiveTimeout"/>.</summary>
    /// <param name="protocol"><see cref="NETLINK_ROUTE"/>, <see cref="NETLINK_GENERIC"/>, ...</param>
    /// <param name="receiveTimeout">How long a receive waits for the kernel.</param>
    /// <param name="networkNamespace">
    /// A named network namespace (a file in /var/run/netns) to open the socket in, or null for the process's own.
    /// </param>
    /// <exception cref="NetlinkException">The socket could not be opened (errno set), or the namespace not entered.</exception>
    public static NetlinkSocket Open(int protocol, TimeSpan receiveTimeout, string? networkNamespace = null)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new NetlinkException("netlink is Linux only", Errno.EAFNOSUPPORT);
        }

        return networkNamespace is null ? OpenHere(protocol, receiveTimeout) : OpenIn(networkNamespace, protocol, receiveTimeout);
    }

    public void Send(ReadOnlySpan<byte> request)
    {
        int sent;
        try
        {
            // No address: an unbound, unconnected netlink socket sends to the kernel (port id 0).
            sent = _socket.Send(request);
        }
        catch (SocketException e)
        {
            throw new NetlinkException($"netlink send failed: {Errno.Describe(e.NativeErrorCode)}", e.NativeErrorCode, e);
        }

        if (sent != request.Length)
        {
            throw new NetlinkException($"netlink send was short ({sent} of {request.Length} bytes)");
        }
    }

    public int Receive(Span<byte> buffer)
    {
        try
        {
            return _socket.Receive(buffer, SocketFlags.Truncated);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
        {
            throw new NetlinkException("the kernel did not answer in time (netlink receive timed out)", Errno.ETIMEDOUT, e);
        }
        catch (SocketException e)
        {
            throw new NetlinkException($"netlink receive failed: {Errno.Describe(e.NativeErrorCode)}", e.NativeErrorCode, e);
        }
    }

    public void Dispose() => _socket.Dispose();

    private static NetlinkSocket OpenHere(int protocol, TimeSpan receiveTimeout)
    {
        var fd = SocketCall(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetlinkException($"cannot open a netlink socket (protocol {protocol}): {Errno.Describe(errno)}", errno);
        }

        Socket socket;
        try
        {
            socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        }
        catch (SocketException e)
        {
            _ = Close(fd);
            throw new NetlinkException($"cannot use the netlink socket: {Errno.Describe(e.NativeErrorCode)}", e.NativeErrorCode, e);
        }

        try
        {
            socket.ReceiveTimeout = (int)Math.Clamp(receiveTimeout.TotalMilliseconds, 1, int.MaxValue);
            socket.ReceiveBufferSize = ReceiveBufferBytes;
            // The kernel's text in errors, and acks without a copy of the request. Kernels before 4.12 lack them
            // (ENOPROTOOPT): errors then carry the errno alone.
            TrySetOption(socket, NetlinkWire.NETLINK_EXT_ACK);
            TrySetOption(socket, NetlinkWire.NETLINK_CAP_ACK);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new NetlinkException($"cannot set up the netlink socket: {Errno.Describe(e.NativeErrorCode)}", e.NativeErrorCode, e);
        }

        return new NetlinkSocket(socket);
    }

    private static void TrySetOption(Socket socket, int option)
    {
        try
        {
            socket.SetRawSocketOption(NetlinkWire.SOL_NETLINK, option, BitConverter.GetBytes(1));
        }
        catch (SocketException e) when (e.NativeErrorCode == Errno.ENOPROTOOPT)
        {
        }
    }

    /// <summary>
    /// Opens the socket on a thread of its own that enters the namespace (setns) first: a namespace is a property of
    /// the thread, so no other thread of the process is moved. The thread goes back to its namespace before it ends.
    /// </summary>
    private static NetlinkSocket OpenIn(string networkNamespace, int protocol, TimeSpan receiveTimeout)
    {
        if (networkNamespace.Length == 0 || networkNamespace.Contains('/', StringComparison.Ordinal) || networkNamespace is "." or "..")
        {
            throw new NetlinkException($"not a network namespace name: \"{networkNamespace}\"", Errno.EINVAL);
        }

        NetlinkSocket? socket = null;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var original = File.OpenHandle("/proc/thread-self/ns/net");
                using var target = File.OpenHandle(Path.Combine("/var/run/netns", networkNamespace));
                if (SetNs((int)target.DangerousGetHandle(), CLONE_NEWNET) != 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    throw new NetlinkException($"cannot enter network namespace {networkNamespace}: {Errno.Describe(errno)}", errno);
                }

                try
                {
                    socket = OpenHere(protocol, receiveTimeout);
                }
                finally
                {
                    // Should this fail the thread ends in the namespace, which harms nothing: it runs nothing else.
                    _ = SetNs((int)original.DangerousGetHandle(), CLONE_NEWNET);
                }
            }
            catch (Exception e) when (e is NetlinkException or IOException or UnauthorizedAccessException)
            {
                failure = e;
            }
        })
        {
            IsBackground = true,
            Name = "lashup-netlink-netns",
        };
        thread.Start();
        if (!thread.Join(TimeSpan.FromSeconds(10)))
        {
            throw new NetlinkException($"opening a netlink socket in network namespace {networkNamespace} did not finish within 10 s", Errno.ETIMEDOUT);
        }

        if (socket is not null)
        {
            return socket;
        }

        throw failure switch
        {
            NetlinkException e => e,
            FileNotFoundException or DirectoryNotFoundException => new NetlinkException($"no network namespace {networkNamespace} (/var/run/netns/{networkNamespace}): {failure.Message}", Errno.ENOENT, failure),
            { } e => new NetlinkException($"cannot open network namespace {networkNamespace}: {e.Message}", Errno.EACCES, e),
            null => new NetlinkException($"cannot open a netlink socket in network namespace {networkNamespace}"),
        };
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketCall(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
