namespace Lashup.Netlink;

/// <summary>
/// A netlink socket (AF_NETLINK, any protocol) talking to the kernel: requests out, replies in, one datagram at a
/// time. The real one is <see cref="NetlinkSocket"/>; tests put a fake kernel behind this.
/// </summary>
internal interface INetlinkSocket : IDisposable
{
    /// <summary>Sends one request (one or more whole netlink messages) to the kernel.</summary>
    /// <param name="request">The bytes, as they go on the wire.</param>
    /// <exception cref="NetlinkException">The send failed.</exception>
    void Send(ReadOnlySpan<byte> request);

    /// <summary>
    /// Receives the next datagram into <paramref name="buffer"/> and returns its whole length, which is larger than the
    /// buffer when the datagram did not fit (the rest is lost; the caller reports it). Waits a bounded time.
    /// </summary>
    /// <param name="buffer">Where the datagram goes.</param>
    /// <returns>The datagram's length.</returns>
    /// <exception cref="NetlinkException">Nothing arrived in time, or the receive failed.</exception>
    int Receive(Span<byte> buffer);
}
