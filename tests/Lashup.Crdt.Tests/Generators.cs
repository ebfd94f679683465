using System.Collections.Immutable;
using CsCheck;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>CsCheck generators of arbitrary CRDT values (built from raw parts, as a peer could send them).</summary>
internal static class Generators
{
    public static readonly string[] Replicas = ["a", "b", "c", "d", "e"];
    public static readonly string[] Elements = ["x", "y", "z"];

    public static readonly Gen<string> Replica = Gen.OneOf("a", "b", "c", "d");

    public static readonly Gen<Dot> Dot = Gen.Select(Replica, Gen.Int[1, 6], (r, c) => new Dot(r, (ulong)c));

    public static readonly Gen<VersionVector> VersionVector =
        Gen.Int[0, 5].Array[4].Select(counts => new VersionVector(Replicas.Zip(counts, (r, c) => KeyValuePair.Create(r, (ulong)c))));

    public static readonly Gen<CausalContext> Context =
        Gen.Select(VersionVector, Dot.Array[0, 6], (v, dots) => new CausalContext(v, dots));

    public static readonly Gen<GCounter> GCounter =
        Gen.Int[0, 5].Array[4].Select(counts => new GCounter(Replicas.Zip(counts, (r, c) => KeyValuePair.Create(r, (ulong)c))));

    public static readonly Gen<PnCounter> PnCounter = Gen.Select(GCounter, GCounter, (p, n) => new PnCounter(p, n));

    public static readonly Gen<LwwRegister> LwwRegister = Gen.OneOf(
        Gen.Select(Gen.OneOf<string?>(null, "p", "q"), Gen.Long[0, 3], Replica, (v, t, r) => new LwwRegister(v, t, r)),
        Gen.Const(Lashup.Crdt.LwwRegister.Empty));

    public static readonly Gen<ORSet> ORSet = Gen.Select(
        Gen.Select(Gen.OneOf(Elements), Dot.Array[1, 3]).Array[0, 4],
        Context,
        (pairs, context) => new ORSet(
            pairs.GroupBy(p => p.Item1, StringComparer.Ordinal)
                .Select(g => KeyValuePair.Create(g.Key, ImmutableSortedSet.CreateRange(g.SelectMany(p => p.Item2)))),
            context));

    public static readonly Gen<MvRegister> MvRegister = Gen.Select(
        Gen.Select(Dot, Gen.OneOf("p", "q", "r")).Array[0, 3],
        Context,
        (pairs, context) => new MvRegister(
            pairs.DistinctBy(p => p.Item1).Select(p => KeyValuePair.Create(p.Item1, p.Item2)),
            context));

    public static readonly Gen<Flag> Flag = Gen.Select(Dot.Array[0, 3], Context, (dots, context) => new Flag(dots, context));

    public static readonly Gen<CrdtMap> Map = MapOfDepth(2);

    private static Gen<CrdtMap> MapOfDepth(int depth) =>
        Gen.Select(Slot(depth).Array[0, 5], Context, (slots, context) =>
            new CrdtMap(context, slots.DistinctBy(s => s.Key)));

    private static Gen<KeyValuePair<CrdtFieldKey, CrdtMapEntry>> Slot(int depth) =>
        Gen.Select(Gen.OneOf("f", "g", "h"), Dot.Array[0, 2], Value(depth), (name, presence, value) =>
            KeyValuePair.Create(new CrdtFieldKey(name, value.Type), new CrdtMapEntry(presence, value)));

    private static Gen<CrdtValue> Value(int depth)
    {
        var leaves = new[]
        {
            GCounter.Select(c => (CrdtValue)c),
            PnCounter.Select(c => (CrdtValue)c),
            Flag.Select(c => (CrdtValue)c),
            LwwRegister.Select(c => (CrdtValue)c),
            MvRegister.Select(c => (CrdtValue)c),
            ORSet.Select(c => (CrdtValue)c),
        };
        return depth == 0 ? Gen.OneOf(leaves) : Gen.OneOf([.. leaves, MapOfDepth(depth - 1).Select(c => (CrdtValue)c)]);
    }
}
