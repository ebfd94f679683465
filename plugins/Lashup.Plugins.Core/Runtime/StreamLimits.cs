namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// What an inbound stream connection may cost this node, derived from <c>max_stream_frame_size</c>. Memory is committed
/// only as bytes arrive, in pooled segments charged to a budget shared by all connections: one budget for connections
/// that have not authenticated yet (no frame from them has decoded, and, with a keyring, opened), a larger one for the
/// others; a connection whose next segment does not fit is closed. So whatever peers announce, the frames being read
/// hold at most the two budgets, and a peer holds only what it really sent, for at most its frame's deadline
/// (memberlist reads a stream into a buffer that grows as it arrives, under a deadline; Kestrel adds a minimum data rate
/// and per-connection buffer limits; this is both, plus a global bound).
/// </summary>
internal sealed record StreamLimits
{
    /// <summary>Pooled segment size: frames arrive in segments of this size (the last one smaller).</summary>
    public const int SegmentSize = 64 * 1024;

    /// <summary>Inbound connections at once; more are refused.</summary>
    public int MaxInboundConnections { get; init; } = 1024;

    /// <summary>Bytes all not-yet-authenticated connections may hold together.</summary>
    public long UnauthenticatedBudget { get; init; } = 32L * 1024 * 1024;

    /// <summary>Bytes all authenticated connections may hold together.</summary>
    public long AuthenticatedBudget { get; init; } = 64L * 1024 * 1024;

    /// <summary>
    /// A connection that has not authenticated must deliver a frame header within this time of connecting, or it is
    /// closed. A real peer writes its first frame as soon as it has connected.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An authenticated connection may idle this long between frames.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Every frame must be complete within this grace time plus its size at <see cref="MinReceiveRate"/>.</summary>
    public TimeSpan FrameGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Bytes per second a frame must arrive at, at least (after <see cref="FrameGrace"/>): 16 MiB get 21 s.</summary>
    public long MinReceiveRate { get; init; } = 1024 * 1024;

    /// <summary>
    /// The defaults for a node whose largest stream frame is <paramref name="maxFrameSize"/>: two frames of the largest
    /// size in flight from peers not yet authenticated, four from authenticated ones. A real peer's first frame on a
    /// connection can be an anti-entropy transfer of several MiB, so the first frame is not capped below
    /// <c>max_stream_frame_size</c>; what strangers may hold together is.
    /// </summary>
    public static StreamLimits For(int maxFrameSize) => new()
    {
        UnauthenticatedBudget = Math.Max(2L * maxFrameSize, 4L * SegmentSize),
        AuthenticatedBudget = Math.Max(4L * maxFrameSize, 8L * SegmentSize),
    };

    /// <summary>The time a frame of <paramref name="size"/> bytes has to arrive in full.</summary>
    public TimeSpan FrameDeadline(int size) => FrameGrace + TimeSpan.FromSeconds((double)size / MinReceiveRate);
}
