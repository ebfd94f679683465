using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>Rebuilds values from their public raw parts, the way a serializer would.</summary>
internal static class RawParts
{
    public static CausalContext Rebuild(CausalContext c) => new(new VersionVector(c.Vector.Entries.ToArray()), c.Cloud.ToArray());

    public static T Rebuild<T>(T value)
        where T : class => value switch
        {
            VersionVector v => (T)(object)new VersionVector(v.Entries.ToArray()),
            CausalContext c => (T)(object)Rebuild(c),
            CrdtValue crdt => (T)(object)Rebuild(crdt, standalone: true),
            _ => throw new ArgumentException($"no raw parts for {typeof(T)}"),
        };

    /// <summary>Rebuilds a CRDT; inside a map (<paramref name="standalone"/> false) causal values are written without a context.</summary>
    private static CrdtValue Rebuild(CrdtValue value, bool standalone) => value switch
    {
        GCounter g => new GCounter(g.Counts.ToArray()),
        PnCounter p => new PnCounter(new GCounter(p.Increments.Counts.ToArray()), new GCounter(p.Decrements.Counts.ToArray())),
        LwwRegister l => new LwwRegister(l.Value, l.Timestamp, l.Replica),
        ORSet s => new ORSet(s.Entries.ToArray(), standalone ? Rebuild(s.Context) : CausalContext.Empty),
        MvRegister m => new MvRegister(m.Entries.ToArray(), standalone ? Rebuild(m.Context) : CausalContext.Empty),
        Flag f => new Flag(f.Dots.ToArray(), standalone ? Rebuild(f.Context) : CausalContext.Empty),
        CrdtMap map => new CrdtMap(
            standalone ? Rebuild(map.Context) : CausalContext.Empty,
            map.Entries.Select(e => KeyValuePair.Create(e.Key, new CrdtMapEntry(e.Value.Presence.ToArray(), Rebuild(e.Value.Value, standalone: false))))
                .ToArray()),
        _ => throw new ArgumentException($"unknown CRDT {value.GetType()}"),
    };
}
