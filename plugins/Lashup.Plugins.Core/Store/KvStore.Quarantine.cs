using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Entries that cannot be decoded are quarantined one key at a time, never a reason to refuse the store or an
/// anti-entropy exchange: an undecodable row of the store file (written by an older build, or corrupted on disk) is
/// left out of the replica at start, and an undecodable entry from a peer is skipped while the rest of its message is
/// merged. Either is counted, logged with its key, listed by <c>GET /v1/kv-quarantine</c> (<c>lashup kv quarantine</c>)
/// and shown on <c>/ready</c> as a degraded note.
/// </summary>
/// <remarks>
/// <para>
/// A key left out at start is one this replica no longer holds: its digest no longer names it, so the next anti-entropy
/// exchange brings a peer's copy, which overwrites the bad row (the quarantine then ends, logged). If the bad row may
/// hold updates this replica made (its version names this replica, or cannot be read), the replica moves to its next
/// identity before it writes anything (its data stays): a new write under the old one would reuse update counters the
/// cluster has already seen, and be dropped by the peers.
/// </para>
/// <para>
/// What the bad row held that no peer has is lost with it; its bytes stay in the store file until a valid copy replaces
/// them or the operator drops them (<c>DELETE /v1/kv-quarantine/{key}</c>).
/// </para>
/// </remarks>
internal sealed partial class KvStore
{
    /// <summary>At most this many entries refused from peers are listed (the oldest are forgotten first).</summary>
    public const int MaxPeerQuarantine = 256;

    /// <summary>An entry refused from a peer is listed until this long after the last time one was refused for its key.</summary>
    public static readonly TimeSpan PeerQuarantineTtl = TimeSpan.FromMinutes(5);

    private const string DiskSource = "disk";
    private const int MaxQuarantinedKeyLength = 600;
    private const int MaxPeerLogsPerMinute = 20;

    private readonly Dictionary<string, QuarantinedEntry> _quarantine = new(StringComparer.Ordinal);
    private readonly Queue<string> _peerQuarantineOrder = new();
    private DateTimeOffset _peerLogWindow;
    private int _peerLogs;

    /// <summary>A quarantined key.</summary>
    /// <param name="Key">The key's text as stored or sent (it may itself be what is malformed; cut at 600 characters).</param>
    /// <param name="Source"><c>disk</c> for a row of this node's store file, else the peer that sent it.</param>
    /// <param name="Reason">Why it could not be read.</param>
    /// <param name="Since">When it was quarantined.</param>
    /// <param name="Replicas">The replicas its version names (read apart from the value), or null when that is unreadable too.</param>
    public sealed record QuarantinedEntry(string Key, string Source, string Reason, DateTimeOffset Since, IReadOnlyList<string>? Replicas)
    {
        public bool OnDisk => Source == DiskSource;

        /// <summary>When an entry for this key was last refused from a peer.</summary>
        public DateTimeOffset LastSeen { get; init; } = Since;
    }

    /// <summary>The quarantined keys: this store file's rows first, then entries refused from peers, by key.</summary>
    public IReadOnlyList<QuarantinedEntry> Quarantined()
    {
        lock (_lock)
        {
            ExpirePeerQuarantine();
            return [.. _quarantine.Values.OrderBy(q => q.OnDisk ? 0 : 1).ThenBy(q => q.Key, StringComparer.Ordinal)];
        }
    }

    /// <summary>Whether <paramref name="key"/>'s row in the store file is quarantined (under the store's lock).</summary>
    private bool QuarantinedOnDisk(KvKey key) => _quarantine.Count > 0 && _quarantine.TryGetValue(key.ToString(), out var q) && q.OnDisk;

    /// <summary>Leaves an undecodable row of the store file out of the replica (at start).</summary>
    /// <returns>Whether the row may hold updates of <paramref name="replica"/> (its version names it, or is unreadable).</returns>
    private bool QuarantineRow(string key, byte[] version, string reason, string replica)
    {
        Stats.Quarantined++;
        var replicas = ReplicasOf(version);
        _quarantine[key] = new QuarantinedEntry(Cut(key), DiskSource, reason, _time.GetUtcNow(), replicas);
        LogQuarantinedRow(key, reason);
        return replicas is null || replicas.Contains(replica, StringComparer.Ordinal);
    }

    /// <summary>
    /// Records an entry a peer sent that could not be decoded (the rest of its message is still merged), with the
    /// replicas its version names when <paramref name="version"/> can be read.
    /// </summary>
    public void QuarantineFromPeer(string key, string peer, string reason, ReadOnlyMemory<byte>? version = null, string? writer = null)
    {
        key = Cut(key);
        bool log;
        lock (_lock)
        {
            Stats.Quarantined++;
            var now = _time.GetUtcNow();
            IReadOnlyList<string>? replicas = writer is not null ? [writer] : version is { } v ? ReplicasOf(v.ToArray()) : null;
            if (_quarantine.TryGetValue(key, out var held))
            {
                // The row on disk is what the listing is about; a peer's repeat only refreshes its record.
                if (!held.OnDisk)
                {
                    _quarantine[key] = held with { Source = peer, Reason = reason, LastSeen = now, Replicas = Union(held.Replicas, replicas) };
                }

                return;
            }

            while (_peerQuarantineOrder.Count >= MaxPeerQuarantine && _peerQuarantineOrder.TryDequeue(out var oldest))
            {
                if (_quarantine.TryGetValue(oldest, out var q) && !q.OnDisk)
                {
                    _quarantine.Remove(oldest);
                }
            }

            _quarantine[key] = new QuarantinedEntry(key, peer, reason, now, replicas);
            _peerQuarantineOrder.Enqueue(key);
            if (now - _peerLogWindow >= TimeSpan.FromMinutes(1))
            {
                _peerLogWindow = now;
                _peerLogs = 0;
            }

            log = ++_peerLogs <= MaxPeerLogsPerMinute;
        }

        if (log)
        {
            LogQuarantinedFromPeer(key, peer, reason);
        }
    }

    /// <summary>Under the lock, after a discard: the store file's rows are gone, and with them their quarantine.</summary>
    private void ForgetDiskQuarantine()
    {
        foreach (var key in _quarantine.Values.Where(q => q.OnDisk).Select(q => q.Key).ToList())
        {
            _quarantine.Remove(key);
        }
    }

    /// <summary>Forgets refusals from peers that were not repeated for <see cref="PeerQuarantineTtl"/> (under the store's lock).</summary>
    private void ExpirePeerQuarantine()
    {
        if (_quarantine.Count == 0)
        {
            return;
        }

        var now = _time.GetUtcNow();
        foreach (var q in _quarantine.Values.Where(q => !q.OnDisk && now - q.LastSeen >= PeerQuarantineTtl).ToList())
        {
            _quarantine.Remove(q.Key);
        }
    }

    /// <summary>Ends the quarantine of a key once a valid copy is written (under the store's lock).</summary>
    private void EndQuarantine(KvKey key, string how)
    {
        if (_quarantine.Count > 0 && _quarantine.Remove(key.ToString(), out var ended))
        {
            LogQuarantineEnded(ended.Key, ended.Source, how);
        }
    }

    /// <summary>
    /// Drops a quarantined key: its undecodable row is deleted from the store file (what it held is gone for good; a
    /// peer's copy, if any, still arrives by anti-entropy), or a peer's refusal is forgotten.
    /// </summary>
    /// <returns>Whether the key was quarantined.</returns>
    /// <exception cref="KvException">The row could not be deleted.</exception>
    public bool DropQuarantined(string key)
    {
        lock (_lock)
        {
            if (!_quarantine.TryGetValue(key, out var entry))
            {
                return false;
            }

            if (entry.OnDisk)
            {
                var disk = _disk ?? throw new KvException("the store is not open (the node is starting or stopping)");
                try
                {
                    disk.Delete(key);
                }
                catch (KvPersistenceException e)
                {
                    throw new KvException($"the quarantined row of \"{key}\" could not be deleted: {e.Message}");
                }
            }

            _quarantine.Remove(key);
            LogQuarantineEnded(key, entry.Source, "dropped by the operator");
            return true;
        }
    }

    /// <summary>The degraded note of <c>/ready</c>, or null.</summary>
    private string? QuarantineNote()
    {
        lock (_lock)
        {
            ExpirePeerQuarantine();
            if (_quarantine.Count == 0)
            {
                return null;
            }

            var disk = _quarantine.Values.Count(q => q.OnDisk);
            var first = _quarantine.Values.OrderBy(q => q.OnDisk ? 0 : 1).ThenBy(q => q.Key, StringComparer.Ordinal).First();
            return $"{disk} undecodable keys in the store file, {_quarantine.Count - disk} refused from peers in the last " +
                   $"{PeerQuarantineTtl.TotalMinutes:0} min (first: \"{first.Key}\": {first.Reason}); see lashup kv quarantine";
        }
    }

    private static IReadOnlyList<string>? ReplicasOf(byte[] version)
    {
        try
        {
            return [.. CrdtCodec.DecodeVersion(version).Entries.Keys];
        }
        catch (CrdtCodecException)
        {
            return null;
        }
    }

    private static IReadOnlyList<string>? Union(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        a is null || b is null ? null : [.. a.Union(b, StringComparer.Ordinal)];

    private static string Cut(string key) => key.Length <= MaxQuarantinedKeyLength ? key : key[..MaxQuarantinedKeyLength];

    [LoggerMessage(Level = LogLevel.Error, Message = "Quarantined key {Key} of the store file: {Reason}; the other keys load, a peer's copy replaces it")]
    private partial void LogQuarantinedRow(string key, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused the entry of {Key} sent by {Peer}: {Reason}; the rest of its message is merged (at most 20 such lines a minute)")]
    private partial void LogQuarantinedFromPeer(string key, string peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Quarantine of {Key} (from {Source}) ended: {How}")]
    private partial void LogQuarantineEnded(string key, string source, string how);
}
