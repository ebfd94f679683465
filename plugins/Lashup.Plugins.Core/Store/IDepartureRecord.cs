using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// What the store takes from membership (constructor-injected): the cluster's record of departed replica identities
/// (decided by membership, never by the store: see <c>Protocol/LashupNode.Departures.cs</c>), whether this node is on
/// the majority side, and where the store publishes its own identity. The daemon's <see cref="Runtime.CoreRuntime"/>
/// and the simulator's nodes implement it over the node's <see cref="LashupNode"/>. Every member is safe to call from
/// any thread; the calls that change something take effect on the protocol thread, shortly after.
/// </summary>
internal interface IDepartureRecord
{
    /// <summary>The departed identities, with which of them are retired (their prune completed).</summary>
    DepartureSnapshot Departures { get; }

    /// <summary>Whether this node reaches a majority of its reference membership now.</summary>
    bool HasMajority { get; }

    /// <summary>Whether this node compared its departure record with a peer since it started, or has none to compare with.</summary>
    bool Settled { get; }

    /// <summary>Publishes the store's identity; <paramref name="previous"/>, if another, departs (nothing writes under it again).</summary>
    void PublishReplica(string replica, string? previous);

    /// <summary>Marks a departed identity retired: its prune was performed and its marker expired.</summary>
    void Retire(string replica);

    /// <summary>The identities the store's data names; those membership never saw alive are judged too.</summary>
    void Mention(IReadOnlyCollection<string> replicas);
}

/// <summary>
/// Where the store sends what it changed locally (constructor-injected): each local update's delta, and the whole entry
/// of a key a pruning collapse rewrote. Sending never blocks and never throws; what cannot be sent is left to
/// anti-entropy. <see cref="KvBroadcast"/> sends down the multicast tree.
/// </summary>
internal interface IKvBroadcast
{
    /// <summary>Sends the delta of <paramref name="writer"/>'s update number <paramref name="counter"/> of <paramref name="key"/>.</summary>
    /// <returns>Whether it was sent (one over the multicast payload limit is left to anti-entropy).</returns>
    bool Delta(KvKey key, string writer, ulong counter, CrdtMap delta);

    /// <summary>Sends a whole entry (value and version) as <paramref name="sender"/>'s.</summary>
    /// <returns>Whether it was sent.</returns>
    bool Entry(KvEntry entry, string sender);
}
