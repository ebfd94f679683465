using System.Buffers;
using Lashup.Abstractions.Data;
using MessagePack;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The store's anti-entropy exchange, independent of the transport: <see cref="Digest"/> starts a round; the peer's
/// <see cref="Handle"/> answers with the keys of differing buckets; the first side answers with the entries the peer
/// lacks (and the keys it wants back); the peer sends those. Whole entries are merged (values join, versions take the
/// pointwise maximum), so a lost or repeated message only costs another round.
/// </summary>
internal static class AntiEntropy
{
    private const int MaxEntriesPerMessage = 512;

    /// <summary>The opening message: this store's bucket digests.</summary>
    public static byte[] Digest(KvStore store) => Build(store, (ref MessagePackWriter w) =>
    {
        // [0, buckets] or, from a fresh replica, [0, buckets, true]: "answer even if nothing differs", so that it
        // learns the exchange is complete (KvStore.Fresh).
        var fresh = store.Fresh;
        w.WriteArrayHeader(fresh ? 3 : 2);
        w.Write(0);
        var buckets = store.BucketDigest();
        w.WriteArrayHeader(buckets.Length);
        foreach (var b in buckets)
        {
            w.Write(b);
        }

        if (fresh)
        {
            w.Write(true);
        }
    });

    /// <summary>Handles one message (0 digest, 1 keys of differing buckets, 2 entries + keys wanted back); answers through <paramref name="reply"/>.</summary>
    /// <param name="store">This replica.</param>
    /// <param name="payload">The message.</param>
    /// <param name="reply">Sends an answer to the peer.</param>
    /// <param name="peerFresh">Whether the peer said it is a fresh replica itself, by its latest digest or answer
    /// (kept by the caller per peer): an exchange with a fresh peer does not end this replica's fresh state, since
    /// that peer may lack this node's earlier life as much as it does.</param>
    public static void Handle(KvStore store, byte[] payload, Action<byte[]> reply, PeerFreshness? peerFresh = null)
    {
        peerFresh ??= new PeerFreshness();
        var reader = new MessagePackReader(payload);
        var fields = reader.ReadArrayHeader();
        Expect(fields is 2 or 3);
        switch (reader.ReadInt32())
        {
            case 0:
            {
                var count = reader.ReadArrayHeader();
                Expect(count == KvStore.BucketCount);
                var mine = store.BucketDigest();
                var differing = new HashSet<int>();
                for (var i = 0; i < count; i++)
                {
                    if (reader.ReadUInt64() != mine[i])
                    {
                        differing.Add(i);
                    }
                }

                peerFresh.Fresh = fields == 3 && reader.ReadBoolean();
                if (differing.Count == 0)
                {
                    // The peer holds exactly what this replica holds (if it is not new itself, that settles it).
                    if (!peerFresh.Fresh)
                    {
                        store.EndFresh("its store equals a peer's");
                        return;
                    }

                    peerFresh.Exchanged = true;
                }

                var keys = store.KeysIn(differing);
                reply(Build(store, (ref MessagePackWriter w) =>
                {
                    w.WriteArrayHeader(2);
                    w.Write(1);
                    w.WriteArrayHeader(3);
                    WriteInts(ref w, differing);
                    w.WriteArrayHeader(keys.Count);
                    foreach (var (key, hash) in keys)
                    {
                        w.WriteArrayHeader(2);
                        w.Write(key.ToString());
                        w.Write(hash);
                    }

                    w.Write(store.Fresh); // was nil (older nodes skip it)
                }));
                break;
            }

            case 1:
            {
                Expect(reader.ReadArrayHeader() == 3);
                var buckets = ReadInts(ref reader);
                var theirs = new Dictionary<KvKey, ulong>();
                var n = reader.ReadArrayHeader();
                Expect(n <= 1_000_000);
                for (var i = 0; i < n; i++)
                {
                    Expect(reader.ReadArrayHeader() == 2);
                    theirs[KvKey.Parse(reader.ReadString() ?? "")] = reader.ReadUInt64();
                }

                // The answering peer's fresh bit (older nodes write nil there).
                if (reader.NextMessagePackType == MessagePackType.Boolean)
                {
                    peerFresh.Fresh = reader.ReadBoolean();
                }
                else
                {
                    peerFresh.Fresh = false;
                    reader.Skip();
                }

                var mine = store.KeysIn(buckets).ToDictionary(k => k.Key, k => k.Hash);
                var give = mine.Where(k => !theirs.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                var want = theirs.Where(k => !mine.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                SendEntries(store, give, want, reply);
                if (want.Count == 0 && !peerFresh.Fresh)
                {
                    store.EndFresh("it compared with a peer and lacks nothing");
                }
                else if (want.Count == 0)
                {
                    peerFresh.Exchanged = true;
                }

                break;
            }

            case 2:
            {
                Expect(reader.ReadArrayHeader() == 2);
                var n = reader.ReadArrayHeader();
                Expect(n <= MaxEntriesPerMessage);
                for (var i = 0; i < n; i++)
                {
                    Expect(reader.ReadArrayHeader() == 3);
                    var key = KvKey.Parse(reader.ReadString() ?? "");
                    var value = CrdtCodec.DecodeMap(reader.ReadBytes()?.ToArray() ?? []);
                    var version = CrdtCodec.DecodeVersion(reader.ReadBytes()?.ToArray() ?? []);
                    if (store.MergeEntry(key, value, version))
                    {
                        store.Stats.EntriesRepaired++;
                    }
                }

                var wanted = new List<KvKey>();
                var w = reader.ReadArrayHeader();
                Expect(w <= 1_000_000);
                for (var i = 0; i < w; i++)
                {
                    wanted.Add(KvKey.Parse(reader.ReadString() ?? ""));
                }

                if (wanted.Count > 0)
                {
                    SendEntries(store, wanted, [], reply);
                }

                if (n < MaxEntriesPerMessage && !peerFresh.Fresh)
                {
                    // The last part of what a peer sent: this replica holds all the peer had that it lacked.
                    store.EndFresh("it merged what a peer had");
                }

                break;
            }

            default:
                throw new FormatException("unknown anti-entropy message");
        }
    }

    /// <summary>What a peer last said about itself in the exchange (kept per peer by the caller).</summary>
    internal sealed class PeerFreshness
    {
        public bool Fresh { get; set; }

        /// <summary>Whether an exchange with this peer completed while it said it was fresh.</summary>
        public bool Exchanged { get; set; }
    }

    private static void SendEntries(KvStore store, List<KvKey> give, List<KvKey> want, Action<byte[]> reply)
    {
        var entries = give.Select(store.GetRaw).OfType<KvEntry>().ToList();
        for (var offset = 0; offset < Math.Max(1, entries.Count); offset += MaxEntriesPerMessage)
        {
            var chunk = entries.Skip(offset).Take(MaxEntriesPerMessage).ToList();
            var wanted = offset == 0 ? want : [];
            if (chunk.Count == 0 && wanted.Count == 0)
            {
                return;
            }

            reply(Build(store, (ref MessagePackWriter w) =>
            {
                w.WriteArrayHeader(2);
                w.Write(2);
                w.WriteArrayHeader(2);
                w.WriteArrayHeader(chunk.Count);
                foreach (var e in chunk)
                {
                    w.WriteArrayHeader(3);
                    w.Write(e.Key.ToString());
                    w.Write(CrdtCodec.EncodeMap(e.Value));
                    w.Write(CrdtCodec.EncodeVersion(e.Version));
                }

                w.WriteArrayHeader(wanted.Count);
                foreach (var k in wanted)
                {
                    w.Write(k.ToString());
                }
            }));
        }
    }

    private delegate void Writer(ref MessagePackWriter writer);

    private static byte[] Build(KvStore store, Writer write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        store.Stats.SyncBytes += buffer.WrittenCount;
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteInts(ref MessagePackWriter w, IReadOnlyCollection<int> values)
    {
        w.WriteArrayHeader(values.Count);
        foreach (var v in values)
        {
            w.Write(v);
        }
    }

    private static HashSet<int> ReadInts(ref MessagePackReader reader)
    {
        var n = reader.ReadArrayHeader();
        Expect(n <= KvStore.BucketCount);
        var set = new HashSet<int>();
        for (var i = 0; i < n; i++)
        {
            var b = reader.ReadInt32();
            Expect(b is >= 0 and < KvStore.BucketCount);
            set.Add(b);
        }

        return set;
    }

    private static void Expect(bool condition)
    {
        if (!condition)
        {
            throw new FormatException("malformed store replication message");
        }
    }
}
