using System.Collections.Immutable;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Every node's side of pruning: applying a performed marker (cleaning the departed replica out of what this node holds,
/// once, and out of every delta and entry it merges afterwards), deleting markers past their time, and cleaning out,
/// for good, replicas whose prune is complete (<em>retired</em> in membership's departure record).
/// </summary>
/// <remarks>
/// A performed marker is applied only for a replica membership recorded as departed (never for a live one, whatever a
/// marker says); a departed replica never writes again, so applying it is final. When a performed marker is deleted
/// (<c>prune_marker_ttl</c> after the prune) the node marks the replica retired in the departure record, which every
/// node keeps for good: whatever still names a retired replica, whenever and from wherever it comes (a node that was
/// down or cut off, a peer with a slower clock), is stale, since every state held its collapse by then, and is cleaned
/// out as it is merged. That is what keeps a long-gone replica's entries from coming back after its marker is gone.
/// </remarks>
internal sealed partial class KvStore
{
    private ImmutableDictionary<string, PruneMarker> _pruned = ImmutableDictionary.Create<string, PruneMarker>(StringComparer.Ordinal);

    // The moves of every performed prune applied here (from the markers' "moved" field): departed replica → key → each
    // departed dot the owner's collapse replaced → the fresh dots that replaced it.
    private ImmutableDictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> _moves =
        ImmutableDictionary.Create<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>>(StringComparer.Ordinal);

    // Pruned replicas whose cleanup of some key could not be written: retried on every tick (RetryCleanup).
    private readonly HashSet<string> _cleanupPending = new(StringComparer.Ordinal);

    /// <summary>Replicas whose prune is applied here (performed marker known, not yet deleted), with their markers.</summary>
    public IReadOnlyDictionary<string, PruneMarker> Pruned => _pruned;

    /// <summary>The moves of the prunes applied here (departed replica → key → departed dot → fresh dots).</summary>
    public IReadOnlyDictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>> Moves => _moves;

    /// <summary>Deletes markers past their dissemination window (performed, or opened and never performed); a performed
    /// one's replica is retired in the departure record, and its collapse tombstones go.</summary>
    /// <returns>The replicas whose markers were deleted.</returns>
    public List<string> DeleteExpiredMarkers()
    {
        lock (_lock)
        {
            var deleted = new List<string>();
            var performed = new Dictionary<string, Dictionary<KvKey, Dictionary<Dot, Dot[]>>>(StringComparer.Ordinal);
            foreach (var (key, entry) in _entries)
            {
                if (PruneMarker.ReplicaOf(key) is not { } replica || !MarkerExpired(replica, entry.Map))
                {
                    continue;
                }

                var marker = PruneMarker.Parse(entry.Map);
                try
                {
                    _disk?.Delete(key.ToString());
                }
                catch (KvPersistenceException e)
                {
                    _diskError = e.Message;
                    Stats.WriteFailures++;
                    continue;
                }

                _buckets[Bucket(key)] ^= VersionHash(entry);
                _entries = _entries.Remove(key);
                Stats.MarkersDeleted++;
                deleted.Add(replica);
                MarkerClock().Remove(replica);
                if (marker.PerformedBy is not null)
                {
                    _markersDeleted[replica] = _time.GetUtcNow().ToUnixTimeMilliseconds();
                }
                if (marker.PerformedBy is not null && _departures.Departures.IsDeparted(replica))
                {
                    performed[replica] = marker.Moves;
                }
            }

            var ttl = (long)_options.PruneMarkerTtl.Value.TotalMilliseconds;
            foreach (var (replica, at) in _markersDeleted.ToList())
            {
                if (_time.GetUtcNow().ToUnixTimeMilliseconds() - at >= ttl)
                {
                    _markersDeleted.Remove(replica);
                }
            }

            if (deleted.Count > 0)
            {
                SaveMarkerClock();
                RefreshPruned();
                foreach (var (replica, moves) in performed)
                {
                    if (_entries.Any(e => !PruneMarker.IsMarker(e.Key) && e.Value.Version[replica] is not 0 and not CollapsedVersion))
                    {
                        // A key the owner collapsed whose collapse never arrived (the owner went down before it spread,
                        // and left): it keeps the replica, as do the others' copies, and the replica is pruned again;
                        // the tombstones stay until then.
                        LogNotRetired(replica);
                        continue;
                    }

                    // Every state held its collapse by now: what still names it anywhere is stale, for good.
                    _departures.Retire(replica);
                    CleanRetired(replica, moves);
                }
            }

            return deleted;
        }
    }

    // A marker is deleted prune_marker_ttl after it was performed (or opened), by its own timestamps, so that every node
    // deletes it at about the same time when clocks agree; but never sooner than half of prune_marker_ttl after this
    // node first held it (performed, or at all), measured on its own clock: a marker whose timestamps look old here (a
    // slower clock wrote them) is still acknowledged, applied and passed on, instead of refused as expired, which left
    // prunes opened by a slow-clocked owner unable to complete. Incoming markers are refused by what is known of them
    // here (retired, or performed and deleted here in the last TTL), never by their timestamps. The first-held times
    // and the deletions are persisted (meta row "marker_clock").
    private const string MetaMarkerClock = "marker_clock";
    private Dictionary<string, (long Seen, long Performed)>? _markerClock;
    private readonly Dictionary<string, long> _markersDeleted = new(StringComparer.Ordinal);

    private Dictionary<string, (long Seen, long Performed)> MarkerClock()
    {
        if (_markerClock is null)
        {
            _markerClock = new(StringComparer.Ordinal);
            foreach (var line in (_disk?.GetMeta(MetaMarkerClock) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var parts = line.Split(' ');
                if (parts.Length == 4 && long.TryParse(parts[2], System.Globalization.CultureInfo.InvariantCulture, out var a)
                    && long.TryParse(parts[3], System.Globalization.CultureInfo.InvariantCulture, out var b))
                {
                    if (parts[0] == "m")
                    {
                        _markerClock[parts[1]] = (a, b);
                    }
                    else if (parts[0] == "d")
                    {
                        _markersDeleted[parts[1]] = a;
                    }
                }
            }
        }

        return _markerClock;
    }

    /// <summary>Under the lock: notes when a marker (and its performed state) was first held here.</summary>
    private void NoteMarker(string replica, CrdtMap value)
    {
        var clock = MarkerClock();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var performed = PruneMarker.Parse(value).PerformedBy is not null;
        var held = clock.GetValueOrDefault(replica, (Seen: now, Performed: 0L));
        var next = (held.Seen, Performed: held.Performed == 0 && performed ? now : held.Performed);
        if (!clock.TryGetValue(replica, out var old) || old != next)
        {
            clock[replica] = next;
            SaveMarkerClock();
        }
    }

    private void SaveMarkerClock()
    {
        try
        {
            _disk?.PutMeta(MetaMarkerClock, string.Join('\n',
                MarkerClock().Select(c => FormattableString.Invariant($"m {c.Key} {c.Value.Seen} {c.Value.Performed}"))
                    .Concat(_markersDeleted.Select(d => FormattableString.Invariant($"d {d.Key} {d.Value} 0")))));
        }
        catch (KvPersistenceException e)
        {
            _diskError = e.Message;
        }
    }

    /// <summary>Whether <paramref name="replica"/>'s marker is past its time here: prune_marker_ttl after it was
    /// performed (or opened), by its timestamps, and half of that after this node first held it so.</summary>
    private bool MarkerExpired(string replica, CrdtMap value)
    {
        var marker = PruneMarker.Parse(value);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var ttl = (long)_options.PruneMarkerTtl.Value.TotalMilliseconds;
        if ((marker.PerformedAt ?? marker.StartedAt) is not { } stamp || now - stamp < ttl)
        {
            return false;
        }

        var clock = MarkerClock().GetValueOrDefault(replica, (Seen: now, Performed: 0L));
        var held = marker.PerformedBy is not null && clock.Performed != 0 ? clock.Performed : clock.Seen;
        return now - held >= ttl / 2;
    }

    /// <summary>Whether a performed marker of <paramref name="replica"/> was deleted here in the last TTL (a copy a
    /// peer still holds is refused; a new, unperformed one is taken: the replica is being pruned again).</summary>
    private bool PerformedMarkerDeletedHere(string replica) => MarkerClock() is not null && _markersDeleted.ContainsKey(replica);

    /// <summary>
    /// Under the lock: cleans a retired replica out of every key, tombstone included (moves translated first when they
    /// are known). A key whose collapse never reached this node loses the replica's part until a peer's copy, which
    /// holds the collapse, arrives.
    /// </summary>
    private void CleanRetired(string replica, Dictionary<KvKey, Dictionary<Dot, Dot[]>>? moves = null)
    {
        moves ??= _moves.GetValueOrDefault(replica);
        foreach (var (key, current) in _entries)
        {
            if (PruneMarker.IsMarker(key) || (current.Version[replica] == 0 && !current.Map.Mentions(replica)))
            {
                continue;
            }

            var value = TranslateRemoves(key, current.Map, replica, moves).Cleanup(replica);
            Stats.PrunedEntriesCleaned++;
            Persist(current, new KvEntry(key, value, current.Version.Without(replica)));
        }
    }

    /// <summary>Applies performed markers that became acceptable since they arrived (their replica's departure was
    /// learnt since).</summary>
    public void RecheckPruned()
    {
        lock (_lock)
        {
            if (Markers().Any(m => m.Value.PerformedBy is not null && !_pruned.ContainsKey(m.Key)))
            {
                RefreshPruned();
            }
        }
    }

    /// <summary>Under the lock, after a discard: no prune is applied to an empty replica.</summary>
    private void ForgetPrunes()
    {
        _markerClock = null;
        _markersDeleted.Clear();
        _pruned = _pruned.Clear();
        _moves = _moves.Clear();
        _cleanupPending.Clear();
        _tooLargeLogged.Clear();
    }

    /// <summary>
    /// Recomputes the applied prunes from the markers: a performed marker is applied once its replica is departed in
    /// membership's record (and not retired: then it is cleaned out whole), and not this replica's own (which would be
    /// discarded instead). For each newly applied one: a replica whose footprint of the departed replica differs from
    /// the owner's is counted (it may have held updates the owner had not; they are dropped with the cleanup), and
    /// every key is cleaned up once.
    /// </summary>
    private void RefreshPruned()
    {
        var departures = _departures.Departures;
        var performed = Markers()
            .Where(m => m.Value.PerformedBy is not null && departures.IsDeparted(m.Key) && !departures.IsRetired(m.Key)
                        && !string.Equals(m.Key, _replica, StringComparison.Ordinal))
            .ToImmutableDictionary(StringComparer.Ordinal);
        var added = performed.Keys.Where(r => !_pruned.ContainsKey(r)).ToList();
        _pruned = performed;
        if (added.Count > 0 || _moves.Count != performed.Count)
        {
            _moves = performed.ToImmutableDictionary(p => p.Key, p => p.Value.Moves, StringComparer.Ordinal);
        }

        foreach (var removed in added)
        {
            var marker = performed[removed];

            // Not judged where a collapsed key arrived before the marker (its count of the replica's updates is gone).
            var mine = ReplicasInData().ContainsKey(removed) && !_entries.Values.Any(e => e.Version[removed] == CollapsedVersion)
                ? UpdatesFootprint(removed) : marker.UpdatesFootprint;
            if (mine != marker.UpdatesFootprint)
            {
                Stats.PruneMismatches++;
                LogPruneMismatch(removed, marker.PerformedBy!);
            }

            CleanAll(removed);
            LogPruned(removed, marker.PerformedBy!);
        }
    }

    /// <summary>Cleans <paramref name="removed"/> out of every key that names it; a key whose cleanup cannot be
    /// written leaves the replica pending, retried by <see cref="RetryCleanup"/>.</summary>
    private void CleanAll(string removed)
    {
        var failed = false;
        foreach (var (key, current) in _entries)
        {
            if (PruneMarker.IsMarker(key) || (current.Version[removed] == 0 && !current.Map.Mentions(removed)))
            {
                continue;
            }

            // A key the owner collapsed whose collapse has not arrived keeps the replica until it does (CleanMerged).
            var (value, version) = CleanMerged(key, current.Map, current.Version);
            if (value.Equals(current.Value) && version.Equals(current.Version))
            {
                continue;
            }

            if (!Persist(current, new KvEntry(key, value, version)))
            {
                failed = true;
            }
        }

        if (failed)
        {
            _cleanupPending.Add(removed);
        }
        else
        {
            _cleanupPending.Remove(removed);
        }
    }

    /// <summary>Retries the cleanups that could not be written (run on every tick).</summary>
    public void RetryCleanup()
    {
        lock (_lock)
        {
            foreach (var removed in _cleanupPending.ToList())
            {
                if (_pruned.ContainsKey(removed))
                {
                    CleanAll(removed);
                }
                else
                {
                    _cleanupPending.Remove(removed);
                }
            }
        }
    }

    /// <summary>
    /// The cleanup of a merged (or held) entry. A retired replica goes whole, tombstone included. A key holding a
    /// departed replica at <see cref="CollapsedVersion"/> holds the owner's collapse of it: the replica's counts there
    /// are the owner's now and go at once (<see cref="CrdtMap.CleanupCounts"/>), and once this node applied the prune
    /// everything of the replica goes (moved dots' removes translated first). The version keeps the replica at
    /// <see cref="CollapsedVersion"/> for as long as the marker lives, as the evidence that the collapse is in the
    /// value, whatever happens to the owner's own entries since (its replica may be pruned in turn). A key the marker
    /// lists whose collapse has not arrived keeps the replica, and reads as before, until it does; a key the marker
    /// does not list (the owner held nothing of the replica there) is cleaned at once. Cleanup commutes with merge, so
    /// cleaning the merged state equals merging cleaned states.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The merged (or held) value.</param>
    /// <param name="version">Its version.</param>
    /// <param name="incoming">What was merged into the held value, if anything: only it is walked for the replicas it
    /// names (a held value names no replica its version does not, once cleaned), so a merge costs the delta's size.</param>
    private (CrdtMap Value, VersionVector Version) CleanMerged(KvKey key, CrdtMap value, VersionVector version, CrdtMap? incoming = null)
    {
        if (PruneMarker.IsMarker(key))
        {
            return (value, version);
        }

        // The fast path of every merge while nothing is applied or departed here: one pass over the version (its
        // struct enumerator; the Values view would allocate one per merge).
        var departures = _departures.Departures;
        var collapsed = false;
        var departed = false;
        foreach (var (replica, counter) in version.Entries)
        {
            collapsed |= counter == CollapsedVersion;
            departed |= departures.Count > 0 && departures.IsRetired(replica);
        }

        var walk = !_pruned.IsEmpty || departures.Count > 0;
        if (!walk && !collapsed && !departed)
        {
            return (value, version);
        }

        var named = new HashSet<string>(version.Entries.Keys, StringComparer.Ordinal);
        if (walk)
        {
            ValueWalk.NamedIn(incoming ?? value, named);
        }

        foreach (var replica in named)
        {
            var atCollapse = version[replica] == CollapsedVersion;
            if (departures.IsRetired(replica))
            {
                // Its prune is complete everywhere: whatever names it is stale (tombstone or not).
                if (value.Mentions(replica) || version[replica] != 0)
                {
                    value = TranslateRemoves(key, value, replica).Cleanup(replica);
                    version = version.Without(replica);
                    Stats.PrunedEntriesCleaned++;
                }
            }
            else if (_pruned.TryGetValue(replica, out var marker))
            {
                if ((atCollapse || !marker.Keys.ContainsKey(key)) && value.Mentions(replica))
                {
                    value = TranslateRemoves(key, value, replica).Cleanup(replica);
                    Stats.PrunedEntriesCleaned++;
                }

                if (!atCollapse && !marker.Keys.ContainsKey(key))
                {
                    version = WithCollapsed(version, replica);
                }
            }
            else if (atCollapse)
            {
                value = value.CleanupCounts(replica);
            }
        }

        return (value, version);
    }

    /// <summary>
    /// Translates removes of moved dots: where <paramref name="value"/> has seen a dot of <paramref name="removed"/>
    /// that the owner's collapse replaced, and no longer holds it (it was removed or overwritten, possibly concurrently
    /// with the collapse), the fresh dots that replaced it are removed too. Applied before every cleanup, so the evidence
    /// of such a remove is never lost: it reaches every replica as the removal of the fresh dots.
    /// </summary>
    private CrdtMap TranslateRemoves(KvKey key, CrdtMap value, string removed, Dictionary<KvKey, Dictionary<Dot, Dot[]>>? moves = null)
    {
        if ((moves is null && !_moves.TryGetValue(removed, out moves)) || !moves.TryGetValue(key, out var moved))
        {
            return value;
        }

        HashSet<Dot>? held = null;
        List<Dot>? gone = null;
        foreach (var (dot, fresh) in moved)
        {
            if (value.Context.Contains(dot))
            {
                held ??= ValueWalk.HeldDots(value);
                if (!held.Contains(dot))
                {
                    (gone ??= []).AddRange(fresh);
                }
            }
        }

        if (gone is null)
        {
            return value;
        }

        var translated = value.Merge(new CrdtMap(CausalContext.FromDots(gone), []));
        if (!translated.Equals(value))
        {
            Stats.RemovesTranslated++;
        }

        return translated;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The marker of replica {Replica} expired but a key here still holds it without its collapse (the owner left before spreading it): it is pruned again")]
    private partial void LogNotRetired(string replica);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Removed} was pruned (its updates collapsed into {Owner}'s); cleaned up")]
    private partial void LogPruned(string removed, string owner);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Removed} was pruned by {Owner}, who held other updates of it than this node: updates of {Removed} that only this node held are dropped")]
    private partial void LogPruneMismatch(string removed, string owner);
}
