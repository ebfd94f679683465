using System.Buffers;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using MessagePack;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The store's replication protocol, independent of transport, threads and timers: encodes each local update's delta
/// for the multicast tree, merges deltas from other nodes, and runs the anti-entropy exchange with a random active
/// neighbour. Its entry points are called one at a time: from <see cref="KvReplicator"/>'s worker in the daemon, from
/// the event loop in the simulator.
/// </summary>
/// <remarks>
/// A delta is merged whoever sent it and whether or not the member graph knows its writer (a node that joined after
/// us and is not flooded yet, or one that left and expired): merging is safe (values join, and a delta is taken only
/// as its writer's next update of the key, so duplicates and replays change nothing), and refusing it would not
/// remove it from the cluster, because anti-entropy transfers whole entries, including every writer's updates. A
/// replica that refused what others merged would differ from them forever, and anti-entropy would never converge.
/// Only a malformed delta, or one whose writer is not its sender (or one of the sender's incarnations, <c>node~N</c>),
/// is dropped here; the store also drops deltas written by a replica that was pruned (see <see cref="KvPruning"/>).
/// </remarks>
internal sealed class KvReplication(KvStore store, IReplicationNetwork network, Random random)
{
    public const string DeltaTopic = "kv.delta";
    public const string SyncTopic = "kv.sync";

    private readonly KvPruning _pruning = new(store, network);

    public KvStore Store => store;

    /// <summary>Broadcasts a local update's delta (<see cref="KvStore.LocalDelta"/>); one too large is left to anti-entropy.</summary>
    public void OnLocalDelta(KvKey key, CrdtMap delta, ulong counter)
    {
        // Under the replica that wrote it (node~N after a new incarnation), as its counter is that replica's.
        var payload = EncodeDelta(key, store.ReplicaName, counter, delta);
        if (payload.Length <= network.MaxPayloadSize)
        {
            network.Broadcast(DeltaTopic, payload);
            store.Stats.DeltasSent++;
        }
    }

    /// <summary>Broadcasts a whole entry (a pruning collapse, <see cref="KvStore.LocalEntry"/>); one too large is left to anti-entropy.</summary>
    public void OnLocalEntry(KvEntry entry)
    {
        var payload = EncodeEntry(entry, store.ReplicaName);
        if (payload.Length <= network.MaxPayloadSize)
        {
            network.Broadcast(DeltaTopic, payload);
            store.Stats.DeltasSent++;
        }
    }

    /// <summary>Handles one message of <see cref="DeltaTopic"/> or <see cref="SyncTopic"/> from <paramref name="from"/>.</summary>
    /// <returns>Null, or why the message was dropped (malformed; counted in <see cref="KvStore.StoreStats.BadMessages"/>).</returns>
    public string? Receive(string topic, string from, byte[] payload)
    {
        try
        {
            if (topic == DeltaTopic)
            {
                OnDelta(from, payload);
            }
            else
            {
                OnSync(from, payload);
            }

            return null;
        }
        catch (Exception e) when (e is MessagePackSerializationException or CrdtCodecException or KvValidationException or FormatException
                                      or InvalidOperationException or ArgumentException or EndOfStreamException)
        {
            store.Stats.BadMessages++;
            return e.Message;
        }
    }

    /// <summary>Handles a delta broadcast by <paramref name="origin"/>.</summary>
    /// <exception cref="FormatException">The message is malformed, or its writer is not <paramref name="origin"/>.</exception>
    public void OnDelta(string origin, byte[] payload)
    {
        var reader = new MessagePackReader(payload);
        var fields = reader.ReadArrayHeader();
        Expect(fields is 4 or 5);
        var key = KvKey.Parse(reader.ReadString() ?? "");
        var replica = reader.ReadString() ?? throw new FormatException("a delta without origin");
        if (replica != origin && KvStore.NodeOf(replica) != origin)
        {
            throw new FormatException($"a delta written by \"{replica}\" was broadcast by \"{origin}\"");
        }

        var counter = reader.ReadUInt64();
        CrdtMap delta;
        try
        {
            delta = CrdtCodec.DecodeMap(reader.ReadBytes()?.ToArray() ?? []);
        }
        catch (CrdtCodecException e)
        {
            store.QuarantineFromPeer(key.ToString(), origin, e.Message, writer: replica);
            throw;
        }

        if (fields == 5)
        {
            // A whole entry (a pruning collapse): merged as anti-entropy merges one.
            store.MergeEntry(key, delta, CrdtCodec.DecodeVersion(reader.ReadBytes()?.ToArray() ?? []));
            return;
        }

        store.MergeDelta(key, replica, counter, delta);
    }

    /// <summary>Starts an anti-entropy round with a random active neighbour, if there is one.</summary>
    /// <returns>The neighbour, or null.</returns>
    public async Task<string?> SyncRoundAsync()
    {
        _pruning.Tick();
        EndFreshAmongNewPeers();
        var active = await network.ActiveNeighborsAsync();
        if (active.Count == 0)
        {
            if (store.Fresh && store.Options.Seeds.Count == 0 && !network.Members.Any(m => m.Name != network.LocalName))
            {
                // No seeds and no member: a single node (or the first of a cluster); nobody to learn an earlier life from.
                store.EndFresh("it has no seeds and no peer");
            }

            return null;
        }

        store.Stats.SyncRounds++;
        var peer = active[random.Next(active.Count)];
        network.SendDirect(peer, SyncTopic, AntiEntropy.Digest(store));
        return peer;
    }

    /// <summary>
    /// Ends a fresh state once exchanges completed with as many distinct peers that are new themselves as this node
    /// knows other members (at most three), and none with a peer that is not: a cluster of new nodes, where nobody
    /// holds an earlier life. A wiped node that meets one new node first keeps waiting for the others.
    /// </summary>
    private void EndFreshAmongNewPeers()
    {
        if (!store.Fresh)
        {
            return;
        }

        var others = network.Members.Count(m => m.Name != network.LocalName);
        var fresh = _peers.Values.Count(p => p.Fresh && p.Exchanged);
        if (others > 0 && fresh >= Math.Min(3, others))
        {
            store.EndFresh($"it exchanged with {fresh} new peers and no other");
        }
    }

    /// <summary>Handles an anti-entropy message from <paramref name="from"/>; answers it directly.</summary>
    public void OnSync(string from, byte[] payload)
    {
        if (!_peers.TryGetValue(from, out var peer))
        {
            if (_peers.Count >= 4096)
            {
                _peers.Clear(); // bounded: what a peer said is relearned from its next message
            }

            peer = new AntiEntropy.PeerFreshness { Name = from };
            _peers[from] = peer;
        }

        AntiEntropy.Handle(store, payload, reply => network.SendDirect(from, SyncTopic, reply), peer);
    }

    private readonly Dictionary<string, AntiEntropy.PeerFreshness> _peers = new(StringComparer.Ordinal);

    /// <summary>The wire form of a delta: [key, writer, the writer's update counter of the key, the encoded delta].</summary>
    public static byte[] EncodeDelta(KvKey key, string replica, ulong counter, CrdtMap delta)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(4);
        writer.Write(key.ToString());
        writer.Write(replica);
        writer.Write(counter);
        writer.Write(CrdtCodec.EncodeMap(delta));
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The wire form of a whole entry: [key, writer, its update counter of the key, the encoded value, the encoded version].</summary>
    public static byte[] EncodeEntry(KvEntry entry, string sender)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(5);
        writer.Write(entry.Key.ToString());
        writer.Write(sender);
        writer.Write(entry.Version[sender]);
        writer.Write(CrdtCodec.EncodeMap(entry.Map));
        writer.Write(CrdtCodec.EncodeVersion(entry.Version));
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    private static void Expect(bool condition)
    {
        if (!condition)
        {
            throw new FormatException("malformed store replication message");
        }
    }
}
