namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// What an inbound stream connection may cost this node, derived from <c>max_stream_frame_size</c>. Memory is committed
/// only for bytes that have arrived: the reader waits for data without a buffer (a zero-byte read, as Kestrel does),
/// then takes a piece sized by what is there and what the frame has received so far, charged to a budget shared by all
/// connections of its kind (not authenticated yet: no frame from it has decoded, and, with a keyring, opened; or
/// authenticated) and to its source address's share of it; a connection whose next piece does not fit is closed. So a
/// frame header alone costs nothing, whatever it announces, and the frames being read hold at most the two budgets.
/// A connection that has not authenticated must keep up a minimum rate over the bytes it has sent (Kestrel's minimum
/// data rate); an authenticated one only has to keep making progress (memberlist reads a stream into a buffer that
/// grows as it arrives, under a deadline). Per source address (IPv4, or the /64 of IPv6), connections and bytes are
/// capped too, so one host cannot take every slot or the whole budget; a member's address, and with a keyring an
/// authenticated connection, are held only to the limits all share (<see cref="InboundSources"/>).
/// </summary>
internal sealed record StreamLimits
{
    /// <summary>Largest piece a frame is read into: frames arrive in pieces of at most this size.</summary>
    public const int SegmentSize = 64 * 1024;

    /// <summary>Smallest piece (the first piece of a frame holds its header and at least this much room).</summary>
    public const int MinPieceSize = 512;

    /// <summary>Inbound connections at once; more are refused.</summary>
    public int MaxInboundConnections { get; init; } = 1024;

    /// <summary>Inbound connections from one source address at once, authenticated or not; more are refused.</summary>
    public int MaxConnectionsPerSource { get; init; } = 64;

    /// <summary>
    /// Inbound connections from one source address that have not authenticated yet and are reading; more wait for a
    /// turn (see <see cref="InboundSources"/>).
    /// </summary>
    public int MaxUnauthenticatedPerSource { get; init; } = 16;

    /// <summary>
    /// A connection not authenticated yet that has received nothing for this long (no header since it connected, or no
    /// byte of its frame) is stuck: at its source's cap it is closed to make room. A moving one never is.
    /// </summary>
    public TimeSpan EvictAfter { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Bytes all not-yet-authenticated connections may hold together.</summary>
    public long UnauthenticatedBudget { get; init; } = 32L * 1024 * 1024;

    /// <summary>Bytes the not-yet-authenticated connections of one source address may hold together (a largest first frame fits).</summary>
    public long UnauthenticatedBudgetPerSource { get; init; } = (16L * 1024 * 1024) + SegmentSize;

    /// <summary>Bytes all authenticated connections may hold together.</summary>
    public long AuthenticatedBudget { get; init; } = 64L * 1024 * 1024;

    /// <summary>Bytes the authenticated connections of one source address may hold together.</summary>
    public long AuthenticatedBudgetPerSource { get; init; } = 32L * 1024 * 1024;

    /// <summary>
    /// A connection that has not authenticated must deliver a frame header within this time of connecting, or it is
    /// closed. A real peer writes its first frame as soon as it has connected.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>An authenticated connection may idle this long between frames.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A frame from a connection that has not authenticated must go on arriving at <see cref="MinReceiveRate"/> on
    /// average after this grace time from its header: it is closed once it has had <see cref="FrameGrace"/> plus the
    /// bytes it has sent at that rate (a header alone buys the grace time and no memory).
    /// </summary>
    public TimeSpan FrameGrace { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Bytes per second a not-yet-authenticated connection's frame must arrive at, at least, after <see cref="FrameGrace"/>.</summary>
    public long MinReceiveRate { get; init; } = 1024 * 1024;

    /// <summary>
    /// An authenticated connection in the middle of a frame is closed after this long without a byte: a slow link is
    /// fine (an 8 MiB anti-entropy message at 256 KiB/s takes half a minute), a peer that stopped sending is not.
    /// </summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The defaults for a node whose largest stream frame is <paramref name="maxFrameSize"/>: two frames of the largest
    /// size in flight from peers not yet authenticated (one per source address), four from authenticated ones (two per
    /// source). A real peer's first frame on a connection can be an anti-entropy transfer of several MiB, so the first
    /// frame is not capped below <c>max_stream_frame_size</c>; what strangers may hold together is.
    /// </summary>
    public static StreamLimits For(int maxFrameSize)
    {
        var unauthenticated = Math.Max(2L * maxFrameSize, 4L * SegmentSize);
        var authenticated = Math.Max(4L * maxFrameSize, 8L * SegmentSize);
        return new()
        {
            UnauthenticatedBudget = unauthenticated,
            UnauthenticatedBudgetPerSource = Math.Min(unauthenticated, (long)maxFrameSize + SegmentSize),
            AuthenticatedBudget = authenticated,
            AuthenticatedBudgetPerSource = authenticated / 2,
        };
    }

    /// <summary>
    /// When a not-yet-authenticated connection's frame, whose header came at <paramref name="start"/> (a timestamp of
    /// <paramref name="time"/>) and of which <paramref name="received"/> bytes have arrived, is out of time.
    /// </summary>
    public long FrameDeadline(long start, long received, TimeProvider time) =>
        start + (long)((FrameGrace.TotalSeconds + ((double)received / MinReceiveRate)) * time.TimestampFrequency);
}
