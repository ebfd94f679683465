using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// Counters of one node, written only by its protocol thread and read by metrics and the simulator (torn reads of a
/// 64-bit counter cannot happen on 64-bit platforms).
/// </summary>
internal sealed class NodeStats
{
    public readonly long[] Dropped = new long[Enum.GetValues<DropReason>().Length];
    public long MessagesSent;
    public long MessagesReceived;
    public long BytesSent;
    public long BytesReceived;
    public long ProbesSent;
    public long ProbeTimeouts;
    public long IndirectProbesSent;
    public long Suspicions;
    public long NeighborsFailed;
    public long FalseSuspicionsCleared;
    public long AdjacencyFloodsReceived;
    public long MulticastDelivered;
    public long MulticastDuplicates;
    public long MulticastForwarded;
    public long JoinsRefused;
    public long SendQueueFull;
    public long RepliesRateLimited;
    public long EpochChecks;
    public long EpochsConfirmed;
    public long EpochsRefuted;
    public long MembershipSaveFailures;

    /// <summary>Senders with a replay window (members and, up to a bound, others).</summary>
    public int SendersTracked;

    /// <summary>Inbound stream connections closed or refused by this node, by <see cref="ConnectionCloseReason"/>.</summary>
    public readonly long[] ConnectionsClosed = new long[Enum.GetValues<ConnectionCloseReason>().Length];

    /// <summary>Bytes inbound stream connections hold now (gauges; written by the transport's threads).</summary>
    public long StreamBufferedUnauthenticated;
    public long StreamBufferedAuthenticated;

    /// <summary>Message types in union-tag order, for <see cref="SentByType"/>.</summary>
    public static readonly Type[] MessageTypes =
    [
        typeof(Join), typeof(JoinReply), typeof(ForwardJoin), typeof(NeighborRequest), typeof(NeighborReply), typeof(Disconnect),
        typeof(Shuffle), typeof(ShuffleReply), typeof(Ping), typeof(Ack), typeof(PingRequest), typeof(IndirectAck),
        typeof(AdjacencyUpdate), typeof(GmDigest), typeof(GmRecords), typeof(MulticastData), typeof(DirectData), typeof(Departures),
    ];

    public readonly long[] SentByType = new long[MessageTypes.Length];

    public void Drop(DropReason reason) => Interlocked.Increment(ref Dropped[(int)reason]);

    public void Closed(ConnectionCloseReason reason) => Interlocked.Increment(ref ConnectionsClosed[(int)reason]);

    public void AddStreamBuffered(bool authenticated, long delta) =>
        Interlocked.Add(ref authenticated ? ref StreamBufferedAuthenticated : ref StreamBufferedUnauthenticated, delta);

    public void CountSent(Message message)
    {
        var index = Array.IndexOf(MessageTypes, message.GetType());
        if (index >= 0)
        {
            SentByType[index]++;
        }
    }
}
