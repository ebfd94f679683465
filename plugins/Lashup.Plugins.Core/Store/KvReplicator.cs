using System.Threading.Channels;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.Core.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Replicates the store between the daemon's nodes (the protocol itself is <see cref="KvReplication"/>, which the
/// simulator runs too). Every local update's delta goes down the multicast tree at once (Lashup sent
/// the whole value); receivers merge it if it is the origin's next update of that key. Lost or skipped deltas are
/// repaired by anti-entropy: every <c>kv_sync_interval</c> the node sends a random neighbour its 256 bucket digests
/// (the XOR of the version hashes of the keys in each bucket); only buckets that differ are compared key by key, and
/// only keys whose versions differ are transferred, whole, both ways, over TCP in bounded chunks. The cost follows the
/// difference, not the store size. Incoming messages are handled on a worker with a bounded queue: when it is full,
/// messages are dropped (and anti-entropy repairs), never buffered without limit. The worker takes what has queued up
/// (at most <see cref="MaxBatch"/> messages) at a time, so that the deltas among them are merged with one commit.
/// </summary>
internal sealed partial class KvReplicator(KvStore store, CoreRuntime core, IOptions<CoreOptions> options, TimeProvider time, ILoggerFactory loggers)
    : ILifecycleParticipant
{
    private readonly KvReplication _replication = new(store, core, core, Random.Shared);
    private readonly ILogger _logger = loggers.CreateLogger("Lashup.Core.Store");
    /// <summary>At most this many inbox messages are handled (their deltas committed) together.</summary>
    internal const int MaxBatch = 256;

    private readonly Channel<Inbound> _inbox = Channel.CreateBounded<Inbound>(new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _subscriptions = [];
    private Task? _worker;
    private ITimer? _timer;

    public int Stage => LifecycleStage.ReplicatedData + 2;

    public string Name => "core.store.replication";

    public long InboxDropped;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _subscriptions.Add(core.Subscribe(KvReplication.DeltaTopic, Enqueue));
        _subscriptions.Add(core.Subscribe(KvReplication.SyncTopic, Enqueue));
        _worker = Task.Run(WorkAsync);
        var interval = options.Value.KvSyncInterval.Value;
        _timer = time.CreateTimer(_ => _inbox.Writer.TryWrite(default), null, interval, interval);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
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

    private void Enqueue(MulticastMessage message)
    {
        if (!_inbox.Writer.TryWrite(new Inbound(message.Topic, message.Origin, message.Payload.ToArray())))
        {
            Interlocked.Increment(ref InboxDropped);
        }
    }

    private async Task WorkAsync()
    {
        var batch = new List<(string Topic, string From, byte[] Payload)>(MaxBatch);
        while (await _inbox.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < MaxBatch && _inbox.Reader.TryRead(out var item))
            {
                if (item.Topic is not null)
                {
                    batch.Add((item.Topic, item.Origin!, item.Payload!));
                    continue;
                }

                // The timer's tick: an anti-entropy round starts after the messages before it.
                Handle(batch);
                StartSyncRound();
            }

            Handle(batch);
        }
    }

    private void Handle(List<(string Topic, string From, byte[] Payload)> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            foreach (var error in _replication.ReceiveAll(batch))
            {
                LogBadMessage(error);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // One failing message must not end replication for good (what the rest of its batch carried, anti-entropy
            // repairs: a malformed message is counted and skipped inside ReceiveAll, so this is a bug's way out).
            LogWorkFailed(e);
        }

        batch.Clear();
    }

    /// <summary>A message of the inbox, or (no topic) the timer's tick of an anti-entropy round.</summary>
    private readonly record struct Inbound(string? Topic, string? Origin, byte[]? Payload);

    [LoggerMessage(Level = LogLevel.Error, Message = "A store replication step failed; replication goes on")]
    private partial void LogWorkFailed(Exception exception);

    private void StartSyncRound()
    {
        try
        {
            _replication.SyncRoundAsync().ContinueWith(
                t => LogSyncFailed(t.Exception!.GetBaseException().Message), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogWorkFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "An anti-entropy round failed: {Reason}")]
    private partial void LogSyncFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a malformed store replication message: {Reason}")]
    private partial void LogBadMessage(string reason);
}
