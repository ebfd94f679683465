using Lashup.Abstractions.Cluster;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// What the store's replication needs from the cluster: the real runtime (<see cref="Runtime.CoreRuntime"/>, UDP/TCP
/// sockets) in the daemon, a simulated node (virtual time, seeded loss) in the simulator. Sending never blocks and
/// never throws; a message that cannot be delivered is lost, and anti-entropy repairs it.
/// </summary>
internal interface IReplicationNetwork
{
    /// <summary>This node's name: the replica name of its writes.</summary>
    string LocalName { get; }

    /// <summary>The largest payload <see cref="Broadcast"/> takes.</summary>
    int MaxPayloadSize { get; }

    /// <summary>Sends <paramref name="payload"/> to every member's subscribers of <paramref name="topic"/>, down the multicast tree.</summary>
    void Broadcast(string topic, ReadOnlyMemory<byte> payload);

    /// <summary>Sends <paramref name="payload"/> to one member's subscribers of <paramref name="topic"/> (over TCP in the daemon).</summary>
    void SendDirect(string node, string topic, byte[] payload);

    /// <summary>Every member of the member graph, this node excepted or not (pruning decides which nodes are gone).</summary>
    IReadOnlyCollection<Member> Members { get; }

    /// <summary>The current active view (the neighbours anti-entropy picks from), in name order.</summary>
    ValueTask<IReadOnlyList<string>> ActiveNeighborsAsync();
}
