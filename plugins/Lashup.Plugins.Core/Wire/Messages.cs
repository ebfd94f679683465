using MessagePack;

namespace Lashup.Plugins.Core.Wire;

// Wire messages of the core protocol. Keys are append-only: never renumber or reuse a [Key] or a [Union] tag.

/// <summary>A node as messages name it: its unique name and its gossip address ("ip:port").</summary>
[MessagePackObject]
public sealed record NodeRef([property: Key(0)] string Name, [property: Key(1)] string Address)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Name}@{Address}";
}

/// <summary>The authenticated envelope around every message: who sent it (this hop), its epoch and a sequence number.</summary>
[MessagePackObject]
public sealed record Envelope(
    [property: Key(0)] string From,
    [property: Key(1)] string FromAddress,
    [property: Key(2)] long Epoch,
    [property: Key(3)] ulong Seq,
    [property: Key(4)] Message Body);

/// <summary>Base of every protocol message.</summary>
[Union(0, typeof(Join))]
[Union(1, typeof(JoinReply))]
[Union(2, typeof(ForwardJoin))]
[Union(3, typeof(NeighborRequest))]
[Union(4, typeof(NeighborReply))]
[Union(5, typeof(Disconnect))]
[Union(6, typeof(Shuffle))]
[Union(7, typeof(ShuffleReply))]
[Union(8, typeof(Ping))]
[Union(9, typeof(Ack))]
[Union(10, typeof(PingRequest))]
[Union(11, typeof(IndirectAck))]
[Union(12, typeof(AdjacencyUpdate))]
[Union(13, typeof(GmDigest))]
[Union(14, typeof(GmRecords))]
[Union(15, typeof(MulticastData))]
[Union(16, typeof(DirectData))]
[Union(17, typeof(Departures))]
public abstract record Message;

/// <summary>A newcomer asks a contact to join.</summary>
[MessagePackObject]
public sealed record Join([property: Key(0)] NodeRef Joiner) : Message;

/// <summary>The contact's answer: accepted, or refused with a reason and other nodes to try.</summary>
[MessagePackObject]
public sealed record JoinReply([property: Key(0)] bool Accepted, [property: Key(1)] string? Reason, [property: Key(2)] NodeRef[] Alternatives, [property: Key(3)] bool Fatal) : Message;

/// <summary>HyParView forward-join random walk carrying the newcomer.</summary>
[MessagePackObject]
public sealed record ForwardJoin([property: Key(0)] NodeRef Joiner, [property: Key(1)] int TimeToLive) : Message;

/// <summary>Asks the receiver to add the sender to its active view; high priority is always accepted.</summary>
[MessagePackObject]
public sealed record NeighborRequest([property: Key(0)] bool HighPriority) : Message;

/// <summary>Answer to <see cref="NeighborRequest"/>.</summary>
[MessagePackObject]
public sealed record NeighborReply([property: Key(0)] bool Accepted) : Message;

/// <summary>The sender drops the receiver from its active view (it keeps it as a passive peer unless leaving).</summary>
[MessagePackObject]
public sealed record Disconnect([property: Key(0)] bool Leaving) : Message;

/// <summary>A shuffle random walk carrying a sample of the origin's views.</summary>
[MessagePackObject]
public sealed record Shuffle([property: Key(0)] NodeRef Origin, [property: Key(1)] int TimeToLive, [property: Key(2)] NodeRef[] Nodes, [property: Key(3)] uint ShuffleId) : Message;

/// <summary>The shuffle's end point answers the origin with a sample of its passive view.</summary>
[MessagePackObject]
public sealed record ShuffleReply([property: Key(0)] uint ShuffleId, [property: Key(1)] NodeRef[] Nodes) : Message;

/// <summary>A probe.</summary>
[MessagePackObject]
public sealed record Ping([property: Key(0)] ulong ProbeId) : Message;

/// <summary>The answer to a probe.</summary>
[MessagePackObject]
public sealed record Ack([property: Key(0)] ulong ProbeId) : Message;

/// <summary>Asks the receiver to probe <see cref="Target"/> on the sender's behalf (SWIM's indirect probe).</summary>
[MessagePackObject]
public sealed record PingRequest([property: Key(0)] ulong ProbeId, [property: Key(1)] NodeRef Target) : Message;

/// <summary>Relays a target's answer to an indirect probe back to the node that asked.</summary>
[MessagePackObject]
public sealed record IndirectAck([property: Key(0)] ulong ProbeId, [property: Key(1)] string Target) : Message;

/// <summary>One node's adjacency (its active view) and metadata, versioned by (epoch, counter).</summary>
[MessagePackObject]
public sealed record AdjacencyRecord(
    [property: Key(0)] string Name,
    [property: Key(1)] string Address,
    [property: Key(2)] long Epoch,
    [property: Key(3)] long Counter,
    [property: Key(4)] string[] Neighbors,
    [property: Key(5)] Dictionary<string, string> Metadata,
    [property: Key(6)] bool Left)
{
    /// <summary>Whether this record is newer than <paramref name="other"/>.</summary>
    public bool IsNewerThan(AdjacencyRecord? other) =>
        other is null || Epoch > other.Epoch || (Epoch == other.Epoch && Counter > other.Counter);

    /// <summary>Whether this record is newer than the version (<paramref name="epoch"/>, <paramref name="counter"/>).</summary>
    public bool IsNewerThan(long epoch, long counter) => Epoch > epoch || (Epoch == epoch && Counter > counter);
}

/// <summary>Flooded: a node's new adjacency. Receivers forward it to their active view when it is news.</summary>
[MessagePackObject]
public sealed record AdjacencyUpdate([property: Key(0)] AdjacencyRecord Record) : Message;

/// <summary>The version of one record in a member-graph digest.</summary>
[MessagePackObject]
public sealed record GmVersion([property: Key(0)] string Name, [property: Key(1)] long Epoch, [property: Key(2)] long Counter);

/// <summary>
/// Member-graph anti-entropy: the sender's versions; the receiver sends back what the sender lacks, and (if
/// <see cref="WantReply"/>) its own digest. It also carries the size and hash of the sender's departure record and
/// reference membership (<see cref="Departures"/>); a receiver whose record differs sends its whole record back. Older
/// nodes send neither (0, 0): they are sent no departures.
/// </summary>
[MessagePackObject]
public sealed record GmDigest(
    [property: Key(0)] GmVersion[] Versions,
    [property: Key(1)] bool WantReply,
    [property: Key(2)] int DeparturesCount = 0,
    [property: Key(3)] ulong DeparturesHash = 0) : Message;

/// <summary>Member-graph records the receiver lacked.</summary>
[MessagePackObject]
public sealed record GmRecords([property: Key(0)] AdjacencyRecord[] Records) : Message;

/// <summary>A broadcast travelling down the origin's BFS tree.</summary>
[MessagePackObject]
public sealed record MulticastData(
    [property: Key(0)] string Origin,
    [property: Key(1)] long OriginEpoch,
    [property: Key(2)] ulong Seq,
    [property: Key(3)] string Topic,
    [property: Key(4)] byte[] Payload) : Message;

/// <summary>A message from one node's plugin to the same plugin on another node (e.g. store anti-entropy).</summary>
[MessagePackObject]
public sealed record DirectData([property: Key(0)] string Topic, [property: Key(1)] byte[] Payload) : Message;

/// <summary>One replica identity that left the cluster for good (see <see cref="Departures"/>).</summary>
/// <param name="Replica">The identity: the node name and the incarnation drawn when its store file was created
/// (<c>name~uid</c>), or the bare node name for a store older than identities.</param>
/// <param name="At">When the departure was first recorded (Unix ms, the recorder's clock).</param>
/// <param name="Reason">Why (0 unreachable for expire_after from the majority side, 1 superseded by a newer
/// incarnation of its node, 2 named in data but never seen alive for expire_after).</param>
/// <param name="Retired">Its prune was performed and the marker expired: every state already holds its collapse.</param>
[MessagePackObject]
public sealed record DepartureEntry(
    [property: Key(0)] string Replica,
    [property: Key(1)] long At,
    [property: Key(2)] byte Reason,
    [property: Key(3)] bool Retired);

/// <summary>
/// Entries of the departure record, a grow-only set flooded to active neighbours when it grows and exchanged whole when
/// two nodes' digests differ (<see cref="GmDigest"/>). <see cref="Complete"/> marks the last part of a whole record,
/// which also carries the sender's reference membership (<see cref="Roster"/>: the identities admitted by a node on the
/// majority side and not departed), so that a node that joins or comes back judges against the cluster's.
/// </summary>
[MessagePackObject]
public sealed record Departures(
    [property: Key(0)] DepartureEntry[] Entries,
    [property: Key(1)] bool Complete,
    [property: Key(2)] string[]? Roster = null) : Message;
