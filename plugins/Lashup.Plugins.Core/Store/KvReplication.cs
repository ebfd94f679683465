using System.Buffers;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;
using MessagePack;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The store's replication protocol, independent of transport, threads and timers: merges deltas from other nodes, and
/// runs the anti-entropy exchange with a random active neighbour (local updates go out through <see cref="KvBroadcast"/>).
/// Its entry points are called one at a time: from <see cref="KvReplicator"/>'s worker in the daemon, from the event
/// loop in the simulator.
/// </summary>
/// <remarks>
/// A delta is merged whoever sent it and whether or not the member graph knows its writer (a node that joined after
/// us and is not flooded yet): merging is safe (values join, and a delta is taken only as its writer's next update of
/// the key, so duplicates and replays change nothing), and refusing it would not remove it from the cluster, because
/// anti-entropy transfers whole entries, including every writer's updates. What is refused is what comes from a
/// departed replica (membership's record, <see cref="IDepartureRecord"/>): its deltas, and exchanges with a node while
/// it speaks as one (it has not learnt yet that it was removed); a malformed delta, or one whose writer is not its
/// sender (or another identity of the sender's node, <c>node~uid</c>), is dropped as bad.
/// </remarks>
internal sealed class KvReplication(KvStore store, IReplicationNetwork network, IDepartureRecord departures, Random random)
{
    public const string DeltaTopic = "kv.delta";
    public const string SyncTopic = "kv.sync";

    private readonly KvPruning _pruning = new(store, network, departures);
    private IReadOnlyCollection<Abstractions.Cluster.Member>? _membersSeen;
    private Dictionary<string, string> _identities = new(StringComparer.Ordinal);

    public KvStore Store => store;

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
            else if (departures.Departures.IsDeparted(IdentityOf(from)))
            {
                // The sender speaks as a departed replica: it was removed while cut off or down and has not learnt it
                // yet. What it holds is stale; it discards it and comes back as a new replica once it learns.
                store.Stats.DepartedExchangesRefused++;
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

    /// <summary>
    /// Handles several messages in order, as <see cref="Receive"/> one after another would, but merges the plain deltas
    /// among them (not pruning markers, not whole entries) with one commit for each run of them (group commit,
    /// <see cref="KvStore.MergeDeltas"/>): the replication worker passes what queued up in its inbox.
    /// </summary>
    /// <returns>Why messages were dropped (malformed), if any.</returns>
    public List<string> ReceiveAll(IReadOnlyList<(string Topic, string From, byte[] Payload)> messages)
    {
        var errors = new List<string>();
        var deltas = new List<(KvKey Key, string Origin, ulong Counter, CrdtMap Delta)>();
        void flush() => MergeAll(deltas, errors);
        foreach (var (topic, from, payload) in messages)
        {
            if (topic == DeltaTopic)
            {
                DeltaMessage delta;
                try
                {
                    // An undecodable delta is quarantined after the deltas held back before it are merged, as one at a
                    // time: a valid delta of its key merged after it would end the quarantine it starts.
                    delta = DecodeDelta(from, payload, flush);
                }
                catch (Exception e) when (e is MessagePackSerializationException or CrdtCodecException or KvValidationException or FormatException
                                              or InvalidOperationException or ArgumentException or EndOfStreamException)
                {
                    store.Stats.BadMessages++;
                    errors.Add(e.Message);
                    continue;
                }

                if (delta.Version is null && !PruneMarker.IsMarker(delta.Key))
                {
                    deltas.Add((delta.Key, delta.Replica, delta.Counter, delta.Delta));
                    continue;
                }

                MergeAll(deltas, errors);
                Guard(() => Apply(delta), errors);
                continue;
            }

            MergeAll(deltas, errors);
            if (Receive(topic, from, payload) is { } error)
            {
                errors.Add(error);
            }
        }

        MergeAll(deltas, errors);
        return errors;
    }

    private void MergeAll(List<(KvKey Key, string Origin, ulong Counter, CrdtMap Delta)> deltas, List<string> errors)
    {
        if (deltas.Count > 0)
        {
            Guard(() => store.MergeDeltas(deltas), errors);
            deltas.Clear();
        }
    }

    /// <summary>Runs a merge, counting what <see cref="Receive"/> counts as a bad message.</summary>
    private void Guard(Action merge, List<string> errors)
    {
        try
        {
            merge();
        }
        catch (Exception e) when (e is MessagePackSerializationException or CrdtCodecException or KvValidationException or FormatException
                                      or InvalidOperationException or ArgumentException or EndOfStreamException)
        {
            store.Stats.BadMessages++;
            errors.Add(e.Message);
        }
    }

    /// <summary>Handles a delta broadcast by <paramref name="origin"/>.</summary>
    /// <exception cref="FormatException">The message is malformed, or its writer is not <paramref name="origin"/>.</exception>
    public void OnDelta(string origin, byte[] payload) => Apply(DecodeDelta(origin, payload));

    private void Apply(DeltaMessage message)
    {
        if (message.Version is { } version)
        {
            // A whole entry (a pruning collapse): merged as anti-entropy merges one, unless its sender departed.
            if (departures.Departures.IsDeparted(message.Replica))
            {
                store.Stats.PrunedDeltasDropped++;
                return;
            }

            store.MergeEntry(message.Key, message.Delta, version);
            return;
        }

        store.MergeDelta(message.Key, message.Replica, message.Counter, message.Delta);
    }

    /// <summary>Decodes a delta (or a whole entry: then with its version) broadcast by <paramref name="origin"/>; one
    /// whose value cannot be decoded is quarantined (after <paramref name="beforeQuarantine"/>).</summary>
    /// <exception cref="FormatException">The message is malformed, or its writer is not <paramref name="origin"/>.</exception>
    private DeltaMessage DecodeDelta(string origin, byte[] payload, Action? beforeQuarantine = null)
    {
        var reader = new MessagePackReader(payload);
        var fields = reader.ReadArrayHeader();
        Expect(fields is 4 or 5);
        var key = KvKey.Parse(reader.ReadString() ?? "");
        var replica = reader.ReadString() ?? throw new FormatException("a delta without origin");
        if (replica != origin && ReplicaId.NodeOf(replica) != origin)
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
            beforeQuarantine?.Invoke();
            store.QuarantineFromPeer(key.ToString(), origin, e.Message, writer: replica);
            throw;
        }

        var version = fields == 5 ? CrdtCodec.DecodeVersion(reader.ReadBytes()?.ToArray() ?? []) : null;
        return new DeltaMessage(key, replica, counter, delta, version);
    }

    private readonly record struct DeltaMessage(KvKey Key, string Replica, ulong Counter, CrdtMap Delta, VersionVector? Version);

    /// <summary>Starts an anti-entropy round with a random active neighbour, if there is one (none while this replica
    /// waits to learn whether it was removed, and none with a neighbour that speaks as a departed replica).</summary>
    /// <returns>The neighbour, or null.</returns>
    public async Task<string?> SyncRoundAsync()
    {
        _pruning.Tick();
        if (store.AwaitingDepartures)
        {
            return null;
        }

        var record = departures.Departures;
        var active = (await network.ActiveNeighborsAsync()).Where(n => !record.IsDeparted(IdentityOf(n))).ToList();
        if (active.Count == 0)
        {
            return null;
        }

        store.Stats.SyncRounds++;
        var peer = active[random.Next(active.Count)];
        network.SendDirect(peer, SyncTopic, AntiEntropy.Digest(store));
        return peer;
    }

    /// <summary>Handles an anti-entropy message from <paramref name="from"/>; answers it directly (not while this
    /// replica waits to learn whether it was removed: its state may be a removed replica's).</summary>
    public void OnSync(string from, byte[] payload)
    {
        if (!store.AwaitingDepartures)
        {
            AntiEntropy.Handle(store, payload, reply => network.SendDirect(from, SyncTopic, reply), from);
        }
    }

    /// <summary>The identity <paramref name="node"/> publishes in the member graph (its name if it publishes none).</summary>
    private string IdentityOf(string node)
    {
        var members = network.Members;
        if (!ReferenceEquals(members, _membersSeen))
        {
            _membersSeen = members;
            _identities = members.ToDictionary(m => m.Name, KvPruning.ReplicaOf, StringComparer.Ordinal);
        }

        return _identities.GetValueOrDefault(node) ?? node;
    }

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

/// <summary>Sends the store's local changes down the multicast tree (<see cref="IKvBroadcast"/>); what is over the
/// multicast payload limit, or cannot be sent (the core is not running), is left to anti-entropy.</summary>
internal sealed class KvBroadcast(IReplicationNetwork network) : IKvBroadcast
{
    public bool Delta(KvKey key, string writer, ulong counter, CrdtMap delta) => Send(KvReplication.EncodeDelta(key, writer, counter, delta));

    public bool Entry(KvEntry entry, string sender) => Send(KvReplication.EncodeEntry(entry, sender));

    private bool Send(byte[] payload)
    {
        if (payload.Length > network.MaxPayloadSize)
        {
            return false;
        }

        try
        {
            network.Broadcast(KvReplication.DeltaTopic, payload);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false; // the core is not started (or stopping): anti-entropy carries it later
        }
    }
}
