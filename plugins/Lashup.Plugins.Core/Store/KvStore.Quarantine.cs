using Lashup.Abstractions.Data;
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
/// incarnation before it writes anything: a new write under the old name would reuse update counters the cluster has
/// already seen, and be dropped by the peers (the emptied-data-folder problem, for one key).
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

    private readonly Dictionary<string, QuarantinedEntry> _quarantine = new(StringComparer.Ordinal);

    /// <summary>A quarantined key.</summary>
    /// <param name="Key">The key's text as stored or sent (it may itself be what is malformed).</param>
    /// <param name="Source"><c>disk</c> for a row of this node's store file, else the peer that sent it.</param>
    /// <param name="Reason">Why it could not be read.</param>
    /// <param name="Since">When it was quarantined (last refused, for a peer's).</param>
    public sealed record QuarantinedEntry(string Key, string Source, string Reason, DateTimeOffset Since)
    {
        public bool OnDisk => Source == DiskSource;
    }

    private const string DiskSource = "disk";

    /// <summary>The quarantined keys: this store file's rows first, then entries refused from peers, by key.</summary>
    public IReadOnlyList<QuarantinedEntry> Quarantined()
    {
        lock (_lock)
        {
            return [.. _quarantine.Values.OrderBy(q => q.OnDisk ? 0 : 1).ThenBy(q => q.Key, StringComparer.Ordinal)];
        }
    }

    /// <summary>Leaves an undecodable row of the store file out of the replica (at start).</summary>
    /// <returns>Whether the row may hold updates of <paramref name="replica"/> (its version names it, or is unreadable).</returns>
    private bool QuarantineRow(string key, byte[] version, string reason, string replica)
    {
        Stats.Quarantined++;
        _quarantine[key] = new QuarantinedEntry(key, DiskSource, reason, _time.GetUtcNow());
        LogQuarantinedRow(key, reason);
        try
        {
            return CrdtCodec.DecodeVersion(version)[replica] != 0;
        }
        catch (CrdtCodecException)
        {
            return true;
        }
    }

    /// <summary>Records an entry a peer sent that could not be decoded (the rest of its message is still merged).</summary>
    public void QuarantineFromPeer(string key, string peer, string reason)
    {
        lock (_lock)
        {
            Stats.Quarantined++;
            if (_quarantine.TryGetValue(key, out var held) && held.OnDisk)
            {
                return; // the row on disk is what the listing is about; the peer's copy is bad too
            }

            if (!_quarantine.ContainsKey(key) && _quarantine.Values.Count(q => !q.OnDisk) >= MaxPeerQuarantine)
            {
                _quarantine.Remove(_quarantine.Values.Where(q => !q.OnDisk).MinBy(q => q.Since)!.Key);
            }

            _quarantine[key] = new QuarantinedEntry(key, peer, reason, _time.GetUtcNow());
        }

        LogQuarantinedFromPeer(key, peer, reason);
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
                catch (Microsoft.Data.Sqlite.SqliteException e)
                {
                    throw new KvException($"the quarantined row of \"{key}\" could not be deleted from {disk.Path}: {e.Message}");
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
            if (_quarantine.Count == 0)
            {
                return null;
            }

            var disk = _quarantine.Values.Count(q => q.OnDisk);
            var first = _quarantine.Values.OrderBy(q => q.OnDisk ? 0 : 1).ThenBy(q => q.Key, StringComparer.Ordinal).First();
            return $"{disk} undecodable keys in the store file, {_quarantine.Count - disk} refused from peers (first: \"{first.Key}\": {first.Reason}); see lashup kv quarantine";
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Quarantined key {Key} of the store file: {Reason}; the other keys load, a peer's copy replaces it")]
    private partial void LogQuarantinedRow(string key, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused the entry of {Key} sent by {Peer}: {Reason}; the rest of its message is merged")]
    private partial void LogQuarantinedFromPeer(string key, string peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Quarantine of {Key} (from {Source}) ended: {How}")]
    private partial void LogQuarantineEnded(string key, string source, string how);
}
