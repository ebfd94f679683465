namespace Lashup.Netlink;

/// <summary>
/// A netlink call that failed: the kernel answered with an error (<see cref="Errno"/> set), or its answer could not be
/// read (too large, truncated, out of sequence, timed out; <see cref="Errno"/> 0 unless a system call failed).
/// </summary>
internal sealed class NetlinkException : Exception
{
    public NetlinkException(string message, int errno = 0, Exception? inner = null)
        : base(message, inner) => Errno = errno;

    public NetlinkException()
    {
    }

    public NetlinkException(string message)
        : base(message)
    {
    }

    public NetlinkException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The positive errno of the failure, or 0 when the kernel did not give one.</summary>
    public int Errno { get; }
}
