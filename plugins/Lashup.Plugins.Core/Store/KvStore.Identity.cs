using System.Globalization;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Protocol;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// This replica's identity (<see cref="ReplicaId"/>): drawn when the store file is created, kept in its meta table, and
/// published through membership. A new store file is a new identity, so its update counters never collide with an
/// earlier life of the node: nothing waits for a first exchange. The identity changes only when
/// <list type="bullet">
/// <item>a row of the store file that may hold this replica's updates is unreadable (a new write under it would reuse
/// counters peers have seen): the node moves on to a new identity and keeps its data (unless the cluster turns out to
/// have removed the identity it moved on from: then the data is stale, and is discarded as below);</item>
/// <item>membership records this identity as departed (the node was cut off or down for <c>expire_after</c> while a
/// majority went on): what it holds is stale (replicas pruned meanwhile, its own writes made alone), so it discards its
/// replica and re-syncs from its peers under a new identity; what it wrote alone since it was removed is lost.</item>
/// </list>
/// A node that was away for <c>expire_after</c> or more (by its last-active stamp) may have been removed meanwhile: it
/// holds local writes and anti-entropy until membership has compared departure records with a peer (at most three
/// <c>kv_sync_interval</c>s, and at least 10 s), so that it neither acknowledges writes it would discard nor pushes a
/// removed replica's state. A whole cluster that was down removed nobody, and goes on as it was.
/// </summary>
internal sealed partial class KvStore
{
    private const string MetaReplica = "replica";
    private const string MetaLastActive = "last_active";

    // The identity this store file moved on from (a quarantined own row at start), while its data is kept: if the
    // cluster removed that identity (not this node superseding it), the data is stale and is discarded all the same.
    private const string MetaPrevious = "replica_previous";

    // Left by earlier versions in store files (their pruning state, the new-replica hold): read only to tell an old
    // file from a new one, and dropped with a discarded replica.
    private static readonly string[] LegacyMeta = ["prune_state", "prune_applied", "prune_retired", "fresh"];

    private DateTimeOffset _lastTouched = DateTimeOffset.MinValue;
    private bool _awaiting;
    private DateTimeOffset _awaitingUntil;
    private bool _replicaDiscardPending;
    private long _departuresSeen = -1;
    private string? _movedOnFrom;

    /// <summary>This replica's identity: the replica name of its writes.</summary>
    public string ReplicaName => _replica;

    public DateTimeOffset StartedAt => _startedAt;

    /// <summary>Bumps when the replica is discarded (state kept by others about it, e.g. <see cref="KvPruning"/>'s, is void).</summary>
    public int Generation { get; private set; }

    public CoreOptions Options => _options;

    public TimeProvider Time => _time;

    /// <summary>
    /// Whether local writes and anti-entropy wait for membership to compare departure records with a peer: this node
    /// was away for <c>expire_after</c> or more, and may have been removed meanwhile.
    /// </summary>
    public bool AwaitingDepartures
    {
        get
        {
            // Only set at start: once false it stays false, and every local update asks without queueing for the lock
            // behind the commit in flight (group commit, KvStore.Commit.cs).
            if (!Volatile.Read(ref _awaiting))
            {
                return false;
            }

            lock (_lock)
            {
                return IsAwaiting();
            }
        }
    }

    /// <summary>Opens the identity at start: the stored one, the node name for a store file older than identities, or
    /// a new one for a new file; a new one too if an unreadable row may hold this replica's updates.</summary>
    private void OpenIdentity(IKvPersistence disk, int rows, List<(string Key, byte[] Version, string Reason)> unreadable)
    {
        var stored = disk.GetMeta(MetaReplica);
        if (stored is null)
        {
            // An older build's file writes under the node name, unless it was a new file still in that build's
            // new-store hold ("fresh"): the cluster may hold updates of an earlier life under the bare name, whose
            // counters a write under it would reuse; it never wrote under it itself, so it takes a new identity.
            var fresh = disk.GetMeta("fresh") == "1";
            var legacy = !fresh && (rows > 0 || disk.GetMeta(MetaLastActive) is not null || LegacyMeta.Any(m => disk.GetMeta(m) is not null));
            stored = legacy ? _node.Name : ReplicaId.New(_node.Name, _random);
            disk.PutMeta(MetaReplica, stored);
        }

        _replica = stored;
        _movedOnFrom = disk.GetMeta(MetaPrevious);
        string? previous = null;
        var own = false;
        foreach (var (key, version, reason) in unreadable)
        {
            own |= QuarantineRow(key, version, reason, _replica);
        }

        if (own)
        {
            previous = _replica;
            MoveOn("a quarantined row of the store file may hold updates under its current one");
        }

        if (disk.GetMeta(MetaLastActive) is { } text && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms)
            && _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(ms) >= _options.ExpireAfter.Value)
        {
            _awaiting = true;
            _awaitingUntil = _time.GetUtcNow() + TimeSpan.FromTicks(Math.Max(3 * _options.KvSyncInterval.Value.Ticks, TimeSpan.FromSeconds(10).Ticks));
            LogAwaiting(_replica);
        }

        _departures.PublishReplica(_replica, previous);
        _departuresSeen = _departures.Departures.Version;
        CheckOwnDeparture();
    }

    /// <summary>Under the lock: still waiting for membership to compare departure records (ends the wait once it has,
    /// or once the wait ran out, and then discards the replica if it was removed).</summary>
    private bool IsAwaiting()
    {
        if (!_awaiting)
        {
            return false;
        }

        if (!_departures.Settled && _time.GetUtcNow() < _awaitingUntil)
        {
            return true;
        }

        _awaiting = false;
        CheckOwnDeparture();
        LogSettled(_replica, _departures.Settled ? "membership compared departure records with a peer" : "no peer answered in time");
        return false;
    }

    private async ValueTask<KvEntry> UpdateWhenSettledAsync(KvKey key, IReadOnlyList<CrdtOp> ops, VersionVector? expectedVersion, CancellationToken cancellationToken)
    {
        while (AwaitingDepartures)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }

        return await Enqueue(key, ops, expectedVersion, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Under the lock: discards the replica if membership recorded its identity as departed.</summary>
    private void CheckOwnDeparture()
    {
        var snapshot = _departures.Departures;
        if (_replicaDiscardPending || snapshot.IsDeparted(_replica)
            || (_movedOnFrom is not null && snapshot.Entries.TryGetValue(_movedOnFrom, out var earlier) && earlier.Reason != DepartureReason.Superseded))
        {
            DiscardReplica("the cluster recorded it as departed (this node was cut off or down for expire_after while a majority went on)");
        }
    }

    /// <summary>
    /// Applies what changed in membership's departure record since the last call (run on every anti-entropy tick): this
    /// replica's own departure, retirements (whatever still names a retired replica is cleaned out), and performed
    /// markers that became applicable.
    /// </summary>
    public void SyncDepartures()
    {
        lock (_lock)
        {
            var snapshot = _departures.Departures;
            if (snapshot.Version == _departuresSeen && !_replicaDiscardPending)
            {
                return;
            }

            _departuresSeen = snapshot.Version;
            if (_awaiting)
            {
                IsAwaiting();
            }
            else
            {
                CheckOwnDeparture();
            }

            foreach (var replica in ReplicasInData().Keys.Concat(Markers().Keys).Where(snapshot.IsRetired).Distinct(StringComparer.Ordinal).ToList())
            {
                CleanRetired(replica);
            }

            RefreshPruned();
        }
    }

    /// <summary>Moves to a new identity, keeping the data (the old one departs: nothing writes under it again).</summary>
    private void MoveOn(string why)
    {
        var next = ReplicaId.New(_node.Name, _random);
        _disk?.PutMeta(MetaPrevious, _replica);
        _disk?.PutMeta(MetaReplica, next);
        LogIncarnation(_replica, next, why);
        _movedOnFrom = _replica;
        _replica = next;
    }

    /// <summary>
    /// Under the lock: empties the replica (one transaction: every row and local setting) and starts over under a new
    /// identity, which anti-entropy fills from the peers. Watchers see every key emptied, then refilled. If the store
    /// file cannot be emptied, nothing is written meanwhile and it is retried.
    /// </summary>
    private void DiscardReplica(string why)
    {
        var disk = _disk;
        if (disk is null)
        {
            return;
        }

        var previous = _replica;
        var next = ReplicaId.New(_node.Name, _random);
        try
        {
            disk.Reset([(MetaReplica, next), (MetaLastActive, _time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture))]);
            _diskError = null;
        }
        catch (KvPersistenceException e)
        {
            _diskError = e.Message;
            _replicaDiscardPending = true;
            Stats.WriteFailures++;
            LogDiscardFailed(previous, e.Message);
            return;
        }

        _replicaDiscardPending = false;
        foreach (var key in _entries.Keys)
        {
            Notify(new KvEntry(key, CrdtMap.Empty, VersionVector.Empty), PruneMarker.IsMarker(key));
        }

        _entries = _entries.Clear();
        Array.Clear(_buckets);
        ForgetPrunes();
        ForgetDiskQuarantine();
        _awaiting = false;
        _movedOnFrom = null;
        _replica = next;
        Generation++;
        Stats.ReplicaDiscards++;
        LogDiscarded(previous, next, why);
        _departures.PublishReplica(next, previous);
    }

    /// <summary>
    /// Records that this node is up now (read back at the next start; see <see cref="OpenIdentity"/>), at most every
    /// tenth of <c>expire_after</c> and at least every minute: the check it serves compares with <c>expire_after</c>.
    /// </summary>
    public void TouchLastActive()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            var every = TimeSpan.FromTicks(Math.Min(_options.ExpireAfter.Value.Ticks / 10, TimeSpan.FromMinutes(1).Ticks));
            if (now - _lastTouched < every)
            {
                return;
            }

            _lastTouched = now;
            try
            {
                _disk?.PutMeta(MetaLastActive, now.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
            }
            catch (KvPersistenceException e)
            {
                _diskError = e.Message;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node now writes as {Next} instead of {Previous}: {Why}")]
    private partial void LogIncarnation(string previous, string next, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Previous} discarded, re-syncing from peers as {Next}: {Why}; what it wrote alone since it was removed is lost")]
    private partial void LogDiscarded(string previous, string next, string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "Replica {Previous} was removed by the cluster but its store could not be emptied: {Reason}; no write is taken until it is")]
    private partial void LogDiscardFailed(string previous, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} was away for expire_after or more: local writes and anti-entropy wait until membership has compared departure records with a peer")]
    private partial void LogAwaiting(string replica);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} takes writes again: {Why}")]
    private partial void LogSettled(string replica, string why);
}
