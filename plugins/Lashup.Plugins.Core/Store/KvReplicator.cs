using System.Buffers;
using System.Threading.Channels;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.Core.Runtime;
using MessagePack;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Replicates the store between nodes. Every local update's delta goes down the multicast tree at once (Lashup sent
/// the whole value); receivers merge it if it is the origin's next update of that key. Lost or skipped deltas are
/// repaired by anti-entropy: every <c>kv_sync_interval</c> the node sends a random neighbour its 256 bucket digests
/// (the XOR of the version hashes of the keys in each bucket); only buckets that differ are compared key by key, and
/// only keys whose versions differ are transferred, whole, both ways, over TCP in bounded chunks. The cost follows the
/// difference, not the store size. Incoming messages are handled on a worker with a bounded queue: when it is full,
/// messages are dropped (and anti-entropy repairs), never buffered without limit.
/// </summary>
internal sealed partial class KvReplicator(KvStore store, CoreRuntime core, IOptions<CoreOptions> options, TimeProvider time, ILoggerFactory loggers)
    : ILifecycleParticipant
{
    private const string DeltaTopic = "kv.delta";
    private const string SyncTopic = "kv.sync";
    private const int MaxEntriesPerMessage = 512;
    private static readonly MessagePackSerializerOptions Untrusted = MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);
    private readonly ILogger _logger = loggers.CreateLogger("Lashup.Core.Store");
    private readonly Channel<Action> _inbox = Channel.CreateBounded<Action>(new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _subscriptions = [];
    private Task? _worker;
    private ITimer? _timer;

    public int Stage => LifecycleStage.ReplicatedData + 2;

    public string Name => "core.store.replication";

    public long InboxDropped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        store.LocalDelta = OnLocalDelta;
        _subscriptions.Add(core.Subscribe(DeltaTopic, m => Enqueue(m, OnDelta)));
        _subscriptions.Add(core.Subscribe(SyncTopic, m => Enqueue(m, OnSync)));
        _worker = Task.Run(WorkAsync);
        var interval = options.Value.KvSyncInterval.Value;
        _timer = time.CreateTimer(_ => _inbox.Writer.TryWrite(() => _ = SyncRoundAsync()), null, interval, interval);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        store.LocalDelta = null;
        _timer?.Dispose();
        foreach (var s in _subscriptions)
        {
            s.Dispose();
        }

        _inbox.Writer.TryComplete();
        await _stopping.CancelAsync();
        if (_worker is not null)
        {
            await _worker.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        }
    }

    private void OnLocalDelta(KvKey key, CrdtMap delta, ulong counter)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        writer.WriteArrayHeader(4);
        writer.Write(key.ToString());
        writer.Write(core.LocalName);
        writer.Write(counter);
        writer.Write(CrdtCodec.EncodeMap(delta));
        writer.Flush();
        if (buffer.WrittenCount <= core.MaxPayloadSize)
        {
            // Too large a delta is not sent: anti-entropy carries the value.
            core.Broadcast(DeltaTopic, buffer.WrittenMemory);
            store.Stats.DeltasSent++;
        }
    }

    private void Enqueue(MulticastMessage message, Action<string, byte[]> handler)
    {
        var origin = message.Origin;
        var payload = message.Payload.ToArray();
        if (!_inbox.Writer.TryWrite(() => handler(origin, payload)))
        {
            Interlocked.Increment(ref InboxDropped);
        }
    }

    private async Task WorkAsync()
    {
        await foreach (var action in _inbox.Reader.ReadAllAsync())
        {
            try
            {
                action();
            }
            catch (Exception e) when (e is MessagePackSerializationException or CrdtCodecException or KvValidationException or FormatException
                                          or InvalidOperationException or ArgumentException or EndOfStreamException)
            {
                LogBadMessage(e.Message);
            }
        }
    }

    private void OnDelta(string origin, byte[] payload)
    {
        var reader = new MessagePackReader(payload);
        Expect(reader.ReadArrayHeader() == 4);
        var key = KvKey.Parse(reader.ReadString() ?? "");
        var replica = reader.ReadString() ?? throw new FormatException("a delta without origin");
        var counter = reader.ReadUInt64();
        var delta = CrdtCodec.DecodeMap(reader.ReadBytes()?.ToArray() ?? []);
        store.MergeDelta(key, replica, counter, delta);
    }

    private async Task SyncRoundAsync()
    {
        var (_, active, _) = await core.ViewsAsync();
        if (active.Length == 0)
        {
            return;
        }

        store.Stats.SyncRounds++;
        var peer = active[Random.Shared.Next(active.Length)];
        Send(peer, (ref MessagePackWriter w) =>
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
    }

    /// <summary>Anti-entropy messages: 0 digest, 1 keys of differing buckets, 2 entries (+ keys wanted back).</summary>
    private void OnSync(string from, byte[] payload)
    {
        var reader = new MessagePackReader(payload);
        Expect(reader.ReadArrayHeader() == 2);
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

                if (differing.Count == 0)
                {
                    return;
                }

                var keys = store.KeysIn(differing);
                Send(from, (ref MessagePackWriter w) =>
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

                    w.WriteNil();
                });
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

                reader.Skip();
                var mine = store.KeysIn(buckets).ToDictionary(k => k.Key, k => k.Hash);
                var give = mine.Where(k => !theirs.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                var want = theirs.Where(k => !mine.TryGetValue(k.Key, out var h) || h != k.Value).Select(k => k.Key).ToList();
                SendEntries(from, give, want);
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
                    SendEntries(from, wanted, []);
                }

                break;
            }

            default:
                throw new FormatException("unknown anti-entropy message");
        }
    }

    private void SendEntries(string to, List<KvKey> give, List<KvKey> want)
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

            Send(to, (ref MessagePackWriter w) =>
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
            });
        }
    }

    private delegate void Writer(ref MessagePackWriter writer);

    private void Send(string to, Writer write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        store.Stats.SyncBytes += buffer.WrittenCount;
        core.SendDirect(to, SyncTopic, buffer.WrittenSpan.ToArray());
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a malformed store replication message: {Reason}")]
    private partial void LogBadMessage(string reason);
}
