using System.Collections.Immutable;
using System.Globalization;
using Lashup.Abstractions.Data;
using Lashup.Crdt;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// A pruning marker: the reserved key <c>lashup/prune/&lt;replica&gt;</c>, replicated like any key, through which the
/// nodes agree on the prune of one departed replica (<see cref="KvPruning"/>). Its value is a <see cref="CrdtMap"/> of
/// text fields, parsed here:
/// <list type="bullet">
/// <item><c>started</c> (LWW): the identity that opened it;</item>
/// <item><c>acks</c> (OR-set of <c>identity|owner|footprint</c>): each node's acknowledgement that it holds the departed
/// replica's updates with this footprint and takes this owner;</item>
/// <item><c>performed</c> (LWW <c>owner|footprint|updates footprint</c>): written by the owner with its collapse;</item>
/// <item><c>moved</c> (OR-set, with <c>performed</c>): each departed dot the collapse replaced and the fresh dot that
/// replaced it (<c>key \t replica \t counter \t replica \t counter</c>), so every replica can translate a remove of the one
/// into a remove of the other;</item>
/// <item><c>keys</c> (OR-set, with <c>performed</c>): the collapsed keys.</item>
/// </list>
/// Markers are never pruned themselves; each node deletes one <c>prune_marker_ttl</c> after it first held it performed
/// (or first held it, if never performed), measured on its own clock alone, and refuses it for another TTL.
/// </summary>
/// <param name="Acks">The acknowledgements.</param>
/// <param name="StartedAt">When it was opened (Unix ms), if known.</param>
/// <param name="PerformedBy">The owner that performed it, or null.</param>
/// <param name="Footprint">The owner's footprint of the replica when it performed.</param>
/// <param name="UpdatesFootprint">The owner's footprint of the replica's updates when it performed.</param>
/// <param name="PerformedAt">When it was performed (Unix ms), or null.</param>
/// <param name="Moves">Key → departed dot → the fresh dots that replaced it.</param>
/// <param name="Keys">The collapsed keys.</param>
internal sealed record PruneMarker(
    ImmutableArray<PruneAck> Acks,
    long? StartedAt,
    string? PerformedBy,
    ulong Footprint,
    ulong UpdatesFootprint,
    long? PerformedAt,
    Dictionary<KvKey, Dictionary<Dot, Dot[]>> Moves,
    Dictionary<KvKey, bool> Keys)
{
    /// <summary>Where markers live: reserved, refused to local updates, hidden from watches and lists whose prefix is
    /// not under it.</summary>
    public static readonly KvKey Prefix = KvKey.Parse("lashup/prune");

    public static bool IsMarker(KvKey key) => key.StartsWith(Prefix);

    public static KvKey KeyOf(string replica) => Prefix.Child(replica);

    /// <summary>The replica a marker key is about, or null for a key under the prefix that is no marker.</summary>
    public static string? ReplicaOf(KvKey key) => IsMarker(key) && key.Segments.Length == Prefix.Segments.Length + 1 ? key.Segments[^1] : null;

    /// <summary>The parsed marker of <paramref name="value"/> (malformed elements are ignored).</summary>
    public static PruneMarker Parse(CrdtMap value)
    {
        var acks = ImmutableArray.CreateBuilder<PruneAck>();
        foreach (var element in value.GetORSet(Fields.Acks)?.Elements ?? [])
        {
            var parts = element.Split('|');
            if (parts.Length == 3 && ulong.TryParse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var hash))
            {
                acks.Add(new PruneAck(parts[0], parts[1], hash, element));
            }
        }

        var started = value.GetLwwRegister(Fields.Started);
        var performed = value.GetLwwRegister(Fields.Performed);
        string? by = null;
        ulong footprint = 0, updates = 0;
        if (performed?.Value?.Split('|') is [var owner, var hex, var updatesHex]
            && ulong.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h)
            && ulong.TryParse(updatesHex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var u))
        {
            by = owner;
            footprint = h;
            updates = u;
        }

        var moves = new Dictionary<KvKey, Dictionary<Dot, Dot[]>>();
        if (by is not null && value.GetORSet(Fields.Moved) is { } moved)
        {
            foreach (var element in moved.Elements)
            {
                if (element.Split('\t') is [var k, var r, var rc, var f, var fc] && KvKey.TryParse(k, out var key, out _)
                    && ulong.TryParse(rc, NumberStyles.None, CultureInfo.InvariantCulture, out var removedCounter) && removedCounter > 0
                    && ulong.TryParse(fc, NumberStyles.None, CultureInfo.InvariantCulture, out var freshCounter) && freshCounter > 0
                    && r.Length > 0 && f.Length > 0)
                {
                    if (!moves.TryGetValue(key, out var perKey))
                    {
                        perKey = [];
                        moves[key] = perKey;
                    }

                    var dot = new Dot(r, removedCounter);
                    perKey[dot] = [.. perKey.GetValueOrDefault(dot) ?? [], new Dot(f, freshCounter)];
                }
            }
        }

        var keys = new Dictionary<KvKey, bool>();
        if (by is not null && value.GetORSet(Fields.Keys) is { } collapsed)
        {
            foreach (var element in collapsed.Elements)
            {
                if (KvKey.TryParse(element, out var key, out _))
                {
                    keys[key] = true;
                }
            }
        }

        return new PruneMarker(acks.ToImmutable(), started?.Timestamp, by, footprint, updates, by is null ? null : performed!.Timestamp, moves, keys);
    }

    /// <summary>The operations that record a performed prune: <c>performed</c>, <c>moved</c> and <c>keys</c>.</summary>
    public static IReadOnlyList<CrdtOp> PerformedOps(string owner, ulong footprint, ulong updates, Dictionary<KvKey, Dictionary<Dot, Dot[]>> moves, IEnumerable<KvEntry> collapsed) =>
    [
        new LwwSet([Fields.Performed], $"{owner}|{footprint:x16}|{updates:x16}"),
        .. (from key in moves
            from move in key.Value
            from fresh in move.Value
            select new ORSetAdd([Fields.Moved], string.Join('\t', key.Key.Value, move.Key.Replica, move.Key.Counter.ToString(CultureInfo.InvariantCulture),
                fresh.Replica, fresh.Counter.ToString(CultureInfo.InvariantCulture)))),
        .. collapsed.Where(e => !IsMarker(e.Key)).Select(e => new ORSetAdd([Fields.Keys], e.Key.Value)),
    ];

    /// <summary>The operations of <paramref name="me"/>'s acknowledgement (replacing any earlier one of it); without a
    /// <paramref name="held"/> marker, also opening it.</summary>
    public static IReadOnlyList<CrdtOp> AckOps(PruneMarker? held, string me, string owner, ulong footprint)
    {
        var want = PruneAck.Format(me, owner, footprint);
        var ops = new List<CrdtOp>();
        if (held is null)
        {
            ops.Add(new LwwSet([Fields.Started], me));
        }

        ops.AddRange((held?.Acks ?? []).Where(a => a.Node == me && a.Text != want).Select(a => new ORSetRemove([Fields.Acks], a.Text)));
        ops.Add(new ORSetAdd([Fields.Acks], want));
        return ops;
    }

    /// <summary>The field names of a marker.</summary>
    public static class Fields
    {
        public const string Started = "started";
        public const string Acks = "acks";
        public const string Performed = "performed";
        public const string Moved = "moved";
        public const string Keys = "keys";
    }
}

/// <summary>One acknowledgement in a marker: <paramref name="Node"/> (a replica identity) holds the departed replica with
/// <paramref name="Footprint"/> and takes <paramref name="Owner"/> (an identity).</summary>
internal sealed record PruneAck(string Node, string Owner, ulong Footprint, string Text)
{
    public static string Format(string node, string owner, ulong footprint) =>
        $"{node}|{owner}|{footprint.ToString("x16", CultureInfo.InvariantCulture)}";
}
