using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Lashup.Plugins.Core.Wire;

/// <summary>
/// Semantic limits on what a peer may send, checked after decoding and before the protocol sees a message: names and
/// addresses well formed, every collection and string bounded. A frame that breaks one is dropped as invalid.
/// </summary>
internal static class MessageValidator
{
    public const int MaxNameLength = 253;
    public const int MaxTopicLength = 64;
    public const int MaxSampleSize = 64;
    public const int MaxNeighbors = 256;
    public const int MaxMetadataEntries = 64;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataValueLength = 1024;
    public const int MaxDigestEntries = 200_000;
    public const int MaxTimeToLive = 64;

    /// <summary>A replica identity: a node name plus <c>~</c> and its incarnation.</summary>
    public const int MaxReplicaLength = MaxNameLength + 64;

    /// <summary>Entries of one departures message (a whole record travels in parts of this size).</summary>
    public const int MaxDepartureEntries = 10_000;

    public static bool IsValid([NotNullWhen(true)] Envelope? e) =>
        e is not null && IsName(e.From) && IsAddress(e.FromAddress) && e.Epoch >= 0 && e.Body is not null && IsValid(e.Body);

    public static bool IsName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && !name.Any(char.IsControl);

    public static bool IsAddress(string? address) =>
        address is { Length: > 0 and <= 64 } && IPEndPoint.TryParse(address, out var ep) && ep.Port != 0;

    private static bool IsRef(NodeRef? n) => n is not null && IsName(n.Name) && IsAddress(n.Address);

    private static bool AreRefs(NodeRef[]? nodes, int max) => nodes is not null && nodes.Length <= max && nodes.All(IsRef);

    private static bool IsRecord(AdjacencyRecord? r) =>
        r is not null && IsName(r.Name) && IsAddress(r.Address) && r.Epoch >= 0 && r.Counter >= 0
        && r.Neighbors is not null && r.Neighbors.Length <= MaxNeighbors && r.Neighbors.All(IsName)
        && r.Metadata is not null && r.Metadata.Count <= MaxMetadataEntries
        && r.Metadata.All(kv => kv.Key is { Length: > 0 and <= MaxMetadataKeyLength } && kv.Value is { Length: <= MaxMetadataValueLength });

    public static bool IsReplica(string? replica) =>
        !string.IsNullOrEmpty(replica) && replica.Length <= MaxReplicaLength && !replica.Any(char.IsControl);

    private static bool IsDeparture(DepartureEntry? d) => d is not null && IsReplica(d.Replica) && d.At >= 0 && d.Reason <= 2;

    private static bool IsValid(Message m) => m switch
    {
        Join j => IsRef(j.Joiner),
        JoinReply r => AreRefs(r.Alternatives, MaxSampleSize) && (r.Reason is null || r.Reason.Length <= 512),
        ForwardJoin f => IsRef(f.Joiner) && f.TimeToLive is >= 0 and <= MaxTimeToLive,
        NeighborRequest or NeighborReply or Disconnect or Ping or Ack => true,
        Shuffle s => IsRef(s.Origin) && s.TimeToLive is >= 0 and <= MaxTimeToLive && AreRefs(s.Nodes, MaxSampleSize),
        ShuffleReply s => AreRefs(s.Nodes, MaxSampleSize),
        PingRequest p => IsRef(p.Target),
        IndirectAck a => IsName(a.Target),
        AdjacencyUpdate u => IsRecord(u.Record),
        GmDigest d => d.Versions is not null && d.Versions.Length <= MaxDigestEntries && d.Versions.All(v => v is not null && IsName(v.Name)),
        GmRecords r => r.Records is not null && r.Records.Length <= MaxDigestEntries && r.Records.All(IsRecord),
        MulticastData d => IsName(d.Origin) && d.Topic is { Length: > 0 and <= MaxTopicLength } && d.Payload is not null,
        DirectData d => d.Topic is { Length: > 0 and <= MaxTopicLength } && d.Payload is not null,
        Departures d => d.Entries is not null && d.Entries.Length <= MaxDepartureEntries && d.Entries.All(IsDeparture)
                        && (d.Roster is null || (d.Roster.Length <= MaxDigestEntries && d.Roster.All(IsReplica))),
        _ => false,
    };
}
