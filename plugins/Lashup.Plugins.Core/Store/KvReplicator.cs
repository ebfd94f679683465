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
        _timer = time.CreateTimer(_ => _inbox.Writer.TryWrite(StartSyncRound), null, interval, interval);
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

    private void StartSyncRound() => SyncRoundAsync().ContinueWith(
        t => LogSyncFailed(t.Exception!.GetBaseException().Message), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private async Task SyncRoundAsync()
    {
        var (_, active, _) = await core.ViewsAsync();
        if (active.Length == 0)
        {
            return;
        }

        store.Stats.SyncRounds++;
        var peer = active[Random.Shared.Next(active.Length)];
        core.SendDirect(peer, SyncTopic, AntiEntropy.Digest(store));
    }

    private void OnSync(string from, byte[] payload) =>
        AntiEntropy.Handle(store, payload, reply => core.SendDirect(from, SyncTopic, reply));


    private static void Expect(bool condition)
    {
        if (!condition)
        {
            throw new FormatException("malformed store replication message");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "An anti-entropy round failed: {Reason}")]
    private partial void LogSyncFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a malformed store replication message: {Reason}")]
    private partial void LogBadMessage(string reason);
}
