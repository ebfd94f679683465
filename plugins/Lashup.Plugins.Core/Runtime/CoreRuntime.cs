using System.Collections.Immutable;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Store;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// Runs the protocol in the daemon: binds the sockets, bumps the persisted epoch, starts the node on its loop, and
/// offers it to other plugins as <see cref="IClusterMembership"/> and <see cref="IClusterMulticast"/>. On stop it
/// leaves gracefully (floods a "left" record and disconnects its neighbours) before closing the sockets.
/// </summary>
internal sealed partial class CoreRuntime
    : ILifecycleParticipant, IReadinessCheck, IClusterMembership, IClusterMulticast, IReplicationNetwork, IDepartureRecord, IAsyncDisposable
{
    private const int MaxPendingFrames = 4096;
    private readonly CoreOptions _options;
    private readonly NodeInfo _nodeInfo;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly NodeLoop _loop;
    private readonly Lock _watchLock = new();
    private readonly List<Channel<MembershipEvent>> _watchers = [];
    private SocketTransport? _transport;
    private LashupNode? _node;
    private ImmutableArray<Member> _members = [];
    private volatile bool _ready;
    private int _pendingFrames;

    public CoreRuntime(IOptions<CoreOptions> options, NodeInfo nodeInfo, TimeProvider time, ILoggerFactory loggers)
    {
        _options = options.Value;
        _nodeInfo = nodeInfo;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Lashup.Core");
        _loop = new NodeLoop(loggers.CreateLogger<NodeLoop>());
    }

    /// <summary>How many changes a membership watcher may fall behind before it gets a snapshot instead.</summary>
    internal int WatchBacklog { get; init; } = 1024;

    public int Stage => LifecycleStage.Membership;

    public string Name => "core";

    public string LocalName => _nodeInfo.Name;

    public ImmutableArray<Member> Members => _members;

    public NodeStats Stats => _node?.Stats ?? new NodeStats();

    public int MaxPayloadSize => _node?.MaxMulticastPayload ?? 48 * 1024;

    /// <summary>The address other nodes reach this one at (known after start).</summary>
    public string? Address => _node?.Self.Address;

    internal NodeLoop Loop => _loop;

    internal FrameCodec? Codec { get; private set; }

    internal LashupNode? Node => _node;

    internal SocketTransport? Transport => _transport;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var listen = IPEndPoint.Parse(_options.Listen);
        var keyring = Keyring.Parse(_options.Keyring);
        var epoch = EpochStore.Next(Path.Combine(_nodeInfo.DataDirectory, "core"));
        var codec = new FrameCodec(_nodeInfo.ClusterName, keyring, _options.MaxStreamFrameSize);
        Codec = codec;
        var stats = new NodeStats();
        _transport = new SocketTransport(codec, _options.MaxDatagramSize, stats, _logger, _time);
        _transport.Bind(listen);
        var advertise = _options.Advertise.Length > 0 ? _options.Advertise : _transport.LocalEndPoint!.ToString();
        var metadata = new Dictionary<string, string>(_options.Metadata, StringComparer.Ordinal);
        metadata.Remove(KeyringMetadata.Key);
        metadata.Remove(ReplicaId.MetadataKey);
        if (keyring is not null)
        {
            // Published so that `lashup keys` on any node can tell which rotation step would cut this node off.
            metadata[KeyringMetadata.Key] = KeyringMetadata.Format(keyring.KeyIds);
        }

        // With a keyring every frame the node sees was sealed by a key holder, so the addresses in them are vouched for.
        var settings = NodeSettings.From(_options) with { AuthenticatedFrames = keyring is not null };
        _node = new LashupNode(
            new NodeRef(_nodeInfo.Name, advertise), epoch, settings, _options.Seeds, metadata, _time,
            new Random(), _transport, _loop, _loggers.CreateLogger("Lashup.Core.Protocol"), stats, ProbeNonce,
            new MembershipFile(Path.Combine(_nodeInfo.DataDirectory, "core")));
        _node.MembersChanged += OnMembersChanged;
        _loop.Start();
        var node = _node;

        // The node lists itself as it starts: Members holds the local node once StartAsync completes.
        var started = _loop.InvokeAsync(() =>
        {
            node.Start();
            return true;
        });
        _transport.Start(envelope =>
        {
            // A bounded hand-off (memberlist's HandoffQueueDepth): a flood faster than the protocol thread would
            // otherwise queue without limit.
            if (Interlocked.Increment(ref _pendingFrames) > MaxPendingFrames)
            {
                Interlocked.Decrement(ref _pendingFrames);
                stats.Drop(DropReason.Overloaded);
                return;
            }

            _loop.Post(() =>
            {
                Interlocked.Decrement(ref _pendingFrames);
                node.Receive(envelope);
            });
        }, node.Hello);
        _ready = true;
        LogStarted(_nodeInfo.Name, advertise, epoch, _options.Seeds.Count == 0 ? "(none)" : string.Join(", ", _options.Seeds), keyring is not null);
        return started;
    }

    /// <summary>
    /// Probe ids an off-path forger cannot guess, so that an answer proves its address and confirms an epoch. From
    /// <see cref="Guid.NewGuid"/>, the runtime's cryptographic source that needs no OpenSSL (RandomNumberGenerator would
    /// load it, megabytes a plaintext node otherwise never needs); 60 of its 64 bits are random.
    /// </summary>
    private static ulong ProbeNonce()
    {
        Span<byte> bytes = stackalloc byte[16];
        Guid.NewGuid().TryWriteBytes(bytes);
        return BitConverter.ToUInt64(bytes);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _ready = false;
        if (_node is { } node)
        {
            await _loop.InvokeAsync(() =>
            {
                node.Stop(graceful: true);
                return true;
            }).WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);

            // Give the goodbye messages a moment on the wire before the sockets close.
            await Task.Delay(TimeSpan.FromMilliseconds(200), _time, cancellationToken);
        }

        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_transport is not null)
        {
            await _transport.DisposeAsync();
            _transport = null;
        }

        await _loop.DisposeAsync();
        lock (_watchLock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Writer.TryComplete();
            }
        }
    }

    public Readiness Check()
    {
        var node = _node;
        if (!_ready || node is null)
        {
            return Readiness.NotReady("not started");
        }

        if (node.FatalError is { } fatal)
        {
            return Readiness.NotReady(fatal);
        }

        return _options.Seeds.Count > 0 && node.ActiveView.Count == 0
            ? Readiness.NotReady($"joining: no seed has answered yet ({string.Join(", ", _options.Seeds)})")
            : Readiness.Ready;
    }

    public ValueTask SetLocalMetadataAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key.Length > MessageValidator.MaxMetadataKeyLength || value?.Length > MessageValidator.MaxMetadataValueLength)
        {
            throw new ArgumentException($"metadata keys are 1-{MessageValidator.MaxMetadataKeyLength} characters and values at most {MessageValidator.MaxMetadataValueLength}");
        }

        if (key == KeyringMetadata.Key)
        {
            throw new ArgumentException($"metadata key {KeyringMetadata.Key} is reserved: the core publishes its key ids there");
        }

        if (key == ReplicaId.MetadataKey)
        {
            throw new ArgumentException($"metadata key {ReplicaId.MetadataKey} is reserved: the core publishes its store's identity there");
        }

        var node = _node ?? throw new InvalidOperationException("the core is not started");
        return new ValueTask(_loop.InvokeAsync(() =>
        {
            node.SetMetadata(key, value);
            return true;
        }));
    }

    /// <summary>
    /// Replaces the keyring at run time, unless the change would cut a reachable member off (see
    /// <see cref="KeyRotationCheck"/>) and <paramref name="force"/> is false. The check, the swap and the publication
    /// of the new key ids run as one step of the protocol thread, against the member graph as it stands then: two
    /// changes cannot interleave, and no member's record can change in between.
    /// </summary>
    /// <exception cref="InvalidOperationException">This node runs without encryption.</exception>
    internal Task<(KeyRotationCheck Check, bool Applied)> ReplaceKeyringAsync(Keyring keyring, bool force)
    {
        var node = _node ?? throw new InvalidOperationException("the core is not started");
        var codec = Codec ?? throw new InvalidOperationException("the core is not started");
        return _loop.InvokeAsync(() =>
        {
            var current = codec.Keyring ?? throw new InvalidOperationException("this node runs without encryption; set core.keyring and restart to enable it");
            var check = KeyRotationCheck.Of(LocalName, current.KeyIds, keyring.KeyIds, node.Members);
            if (!check.Safe && !force)
            {
                return (check, false);
            }

            codec.ReplaceKeyring(keyring);
            node.SetMetadata(KeyringMetadata.Key, KeyringMetadata.Format(keyring.KeyIds));
            if (check.Safe)
            {
                LogKeyringReplaced(string.Join(", ", keyring.KeyIds));
            }
            else
            {
                LogKeyringForced(string.Join(", ", keyring.KeyIds), string.Join("; ", check.Describe(LocalName)));
            }

            return (check, true);
        });
    }

    public async IAsyncEnumerable<MembershipEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<MembershipEvent>();
        lock (_watchLock)
        {
            channel.Writer.TryWrite(new MembershipEvent(_members, null));
            _watchers.Add(channel);
        }

        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken))
            {
                while (channel.Reader.TryRead(out var e))
                {
                    yield return e;
                }
            }
        }
        finally
        {
            lock (_watchLock)
            {
                _watchers.Remove(channel);
            }
        }
    }

    public void Broadcast(string topic, ReadOnlyMemory<byte> payload)
    {
        if (string.IsNullOrEmpty(topic) || topic.Length > MessageValidator.MaxTopicLength)
        {
            throw new ArgumentException($"a topic is 1-{MessageValidator.MaxTopicLength} characters", nameof(topic));
        }

        if (payload.Length > MaxPayloadSize)
        {
            throw new ArgumentException($"a broadcast payload is at most {MaxPayloadSize} bytes, this one is {payload.Length}", nameof(payload));
        }

        var node = _node ?? throw new InvalidOperationException("the core is not started");
        var copy = payload.ToArray();
        _loop.Post(() => node.Broadcast(topic, copy));
    }

    public IDisposable Subscribe(string topic, Action<MulticastMessage> handler)
    {
        var node = _node ?? throw new InvalidOperationException("the core is not started");
        var subscription = new DeferredSubscription();
        _loop.Post(() => subscription.Set(node.Subscribe(topic, handler)));
        return subscription;
    }

    /// <summary>Sends a direct message to one member's subscribers of <paramref name="topic"/> (see <see cref="Subscribe"/>).</summary>
    public void SendDirect(string node, string topic, byte[] payload)
    {
        if (_node is { } n)
        {
            _loop.Post(() => n.SendDirect(node, topic, payload));
        }
    }

    /// <summary>A snapshot of the node's views, taken on the protocol thread.</summary>
    public Task<(long Epoch, string[] Active, int Passive)> ViewsAsync()
    {
        var node = _node ?? throw new InvalidOperationException("the core is not started");
        return _loop.InvokeAsync(() => (node.Epoch, node.ActiveView.Order(StringComparer.Ordinal).ToArray(), node.PassiveView.Count()));
    }

    IReadOnlyCollection<Member> IReplicationNetwork.Members => _members;

    DepartureSnapshot IDepartureRecord.Departures => _node?.Departures ?? DepartureSnapshot.Empty;

    bool IDepartureRecord.HasMajority => _node?.HasMajority ?? false;

    bool IDepartureRecord.Settled => _node?.DeparturesSettled ?? false;

    void IDepartureRecord.PublishReplica(string replica, string? previous) => OnNode(n => n.SetLocalReplica(replica, previous));

    void IDepartureRecord.Retire(string replica) => OnNode(n => n.Retire(replica));

    void IDepartureRecord.Mention(IReadOnlyCollection<string> replicas) => OnNode(n => n.Mention(replicas));

    /// <summary>Runs <paramref name="action"/> on the protocol thread (in order with everything else posted there).</summary>
    private void OnNode(Action<LashupNode> action)
    {
        if (_node is { } node)
        {
            _loop.Post(() => action(node));
        }
    }

    async ValueTask<IReadOnlyList<string>> IReplicationNetwork.ActiveNeighborsAsync() => (await ViewsAsync()).Active;

    private void OnMembersChanged(IReadOnlyList<MembershipChange> changes)
    {
        var snapshot = _node!.Members.OrderBy(m => m.Name, StringComparer.Ordinal).ToImmutableArray();

        // Connections from the addresses of members seen alive are not held to the transport's caps per source address.
        _transport?.SetMembers(snapshot.Where(m => m.State == MemberState.Alive && m.Name != _nodeInfo.Name).Select(m => m.Address.Address));
        lock (_watchLock)
        {
            _members = snapshot;
            foreach (var watcher in _watchers)
            {
                if (watcher.Reader.Count + changes.Count > WatchBacklog)
                {
                    // A watcher this far behind gets the current list instead of the backlog.
                    while (watcher.Reader.TryRead(out _))
                    {
                    }

                    watcher.Writer.TryWrite(new MembershipEvent(snapshot, null));
                    continue;
                }

                foreach (var change in changes)
                {
                    watcher.Writer.TryWrite(new MembershipEvent(default, change));
                }
            }
        }
    }

    private sealed class DeferredSubscription : IDisposable
    {
        private readonly Lock _lock = new();
        private IDisposable? _inner;
        private bool _disposed;

        public void Set(IDisposable inner)
        {
            lock (_lock)
            {
                if (_disposed)
                {
                    inner.Dispose();
                    return;
                }

                _inner = inner;
            }
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _disposed = true;
                _inner?.Dispose();
                _inner = null;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Keyring replaced at run time: key ids {KeyIds} (primary first); core.keyring in the config file is unchanged")]
    private partial void LogKeyringReplaced(string keyIds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Keyring replaced at run time with --force: key ids {KeyIds} (primary first), although {Problems}; core.keyring in the config file is unchanged")]
    private partial void LogKeyringForced(string keyIds, string problems);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {Name} listening at {Address} (epoch {Epoch}); seeds: {Seeds}; encryption: {Encrypted}")]
    private partial void LogStarted(string name, string address, long epoch, string seeds, bool encrypted);
}
