using System.Buffers;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
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

    /// <summary>The opening message: this store's bucket digests, <c>[0, buckets]</c>.</summary>
    public static byte[] Digest(KvStore store) => Build(store, (ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(2);
        w.Write(0);
        var buckets = store.BucketDigest();
        w.WriteArrayHeader(buckets.Length);
        foreach (var b in buckets)
        {
            w.Write(b);
        }
    });

    /// <summary>Handles one message (0 digest, 1 keys of differing buckets, 2 entries + keys wanted back); answers through <paramref name="reply"/>.</summary>
    /// <param name="store">This replica.</param>
    /// <param name="payload">The message.</param>
    /// <param name="reply">Sends an answer to the peer.</param>
    /// <param name="peer">The peer's name, for what is quarantined from it.</param>
    /// <remarks>Versions before replica identities sent a third element in digests and answers (a "fresh replica"
    /// bit); it is read and ignored.</remarks>
    public static void Handle(KvStore store, byte[] payload, Action<byte[]> reply, string peer = "a peer")
    {
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

                if (fields == 3)
                {
                    reader.Skip(); // an older node's "fresh replica" bit
                }

                if (differing.Count == 0)
                {
                    return; // the peer holds exactly what this replica holds
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

                    w.Write(false); // an older node reads a "fresh replica" bit here
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
                    var text = reader.ReadString() ?? "";
                    var hash = reader.ReadUInt64();
                    if (KvKey.TryParse(text, out var key, out var error))
                    {
                        theirs[key] = hash;
                    }
                    else
                    {
                        store.QuarantineFromPeer(text, peer, error);
                    }
                }

                reader.Skip(); // false, or an older node's "fresh replica" bit (or nil)
                var mine = store.KeysIn(buckets).ToDictionary(k => k.Key, k => k.Hash);
                var give = mine.Where(k => !theirs.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                var want = theirs.Where(k => !mine.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                SendEntries(store, give, want, reply);
                break;
            }

            case 2:
            {
                Expect(reader.ReadArrayHeader() == 2);
                var n = reader.ReadArrayHeader();
                Expect(n <= MaxEntriesPerMessage);
                for (var i = 0; i < n; i++)
                {
                    // The framing is read first; an entry that does not decode is quarantined and skipped, and the
                    // others of the message are still merged (one bad entry never costs an exchange).
                    Expect(reader.ReadArrayHeader() == 3);
                    var text = reader.ReadString() ?? "";
                    var valueBytes = reader.ReadBytes() ?? default;
                    var versionBytes = reader.ReadBytes() ?? default;
                    KvKey key;
                    CrdtMap value;
                    VersionVector version;
                    try
                    {
                        key = KvKey.Parse(text);
                        value = CrdtCodec.DecodeMap(valueBytes.ToArray());
                        version = CrdtCodec.DecodeVersion(versionBytes.ToArray());
                    }
                    catch (Exception e) when (e is CrdtCodecException or FormatException)
                    {
                        store.QuarantineFromPeer(text, peer, e.Message, versionBytes.ToArray());
                        continue;
                    }

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
                    if (KvKey.TryParse(reader.ReadString(), out var key, out _))
                    {
                        wanted.Add(key);
                    }
                }

                if (fields == 3)
                {
                    reader.Skip(); // "more parts follow" (not needed here)
                }

                if (wanted.Count > 0)
                {
                    SendEntries(store, wanted, [], reply);
                }

                break;
            }

            default:
                throw new FormatException("unknown anti-entropy message");
        }
    }

    /// <summary>
    /// Sends entries in messages of at most <see cref="MaxEntriesPerMessage"/> entries and about half of
    /// <c>core.max_stream_frame_size</c> (so a message always fits a frame: a bigger one would be refused by the peer,
    /// and the exchange would never complete); an entry alone may be bigger, up to <c>core.max_value_size</c>, which
    /// the config check holds under that half. The last message says it is the last.
    /// </summary>
    private static void SendEntries(KvStore store, List<KvKey> give, List<KvKey> want, Action<byte[]> reply)
    {
        var budget = ChunkBudget(store);
        var chunk = new List<(string Key, byte[] Value, byte[] Version)>();
        var wanted = want;
        long bytes = want.Sum(k => (long)k.ToString().Length * 3 + 5);
        foreach (var key in give)
        {
            if (store.GetRaw(key) is not { } entry)
            {
                continue;
            }

            (string, byte[], byte[]) item;
            try
            {
                item = (entry.Key.ToString(), CrdtCodec.EncodeMap(entry.Map), CrdtCodec.EncodeVersion(entry.Version));
            }
            catch (CrdtCodecException e)
            {
                // Never expected (what is held was encoded when it was written); one entry must not stop the others.
                store.QuarantineFromPeer(entry.Key.ToString(), "this node", $"cannot be encoded to send: {e.Message}");
                continue;
            }

            var size = item.Item1.Length * 3 + item.Item2.Length + item.Item3.Length + 16;
            if (chunk.Count > 0 && (bytes + size > budget || chunk.Count == MaxEntriesPerMessage))
            {
                reply(EntriesMessage(store, chunk, wanted, more: true));
                chunk = [];
                wanted = [];
                bytes = 0;
            }

            chunk.Add(item);
            bytes += size;
        }

        if (chunk.Count > 0 || wanted.Count > 0)
        {
            reply(EntriesMessage(store, chunk, wanted, more: false));
        }
    }

    /// <summary>The most bytes of one anti-entropy message: half a stream frame, leaving room for the envelope.</summary>
    internal static long ChunkBudget(KvStore store) => store.Options.MaxStreamFrameSize / 2;

    internal static byte[] EntriesMessage(KvStore store, List<(string Key, byte[] Value, byte[] Version)> chunk, List<KvKey> wanted, bool more) =>
        Build(store, (ref MessagePackWriter w) =>
        {
            // [2, [entries, wanted], more]: older nodes read the first two and ignore "more" (they take a part of fewer
            // than MaxEntriesPerMessage entries as the last).
            w.WriteArrayHeader(3);
            w.Write(2);
            w.WriteArrayHeader(2);
            w.WriteArrayHeader(chunk.Count);
            foreach (var (key, value, version) in chunk)
            {
                w.WriteArrayHeader(3);
                w.Write(key);
                w.Write(value);
                w.Write(version);
            }

            w.WriteArrayHeader(wanted.Count);
            foreach (var k in wanted)
            {
                w.Write(k.ToString());
            }

            w.Write(more);
        });

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
