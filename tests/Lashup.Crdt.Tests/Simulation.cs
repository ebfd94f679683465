using CsCheck;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>One step of a generated history: a local op, the delivery of a delta, or a full-state sync.</summary>
/// <param name="Kind">0..54 op, 55..89 deliver a delta, 90..99 full-state sync from another replica.</param>
/// <param name="Replica">The acting replica (modulo the replica count).</param>
/// <param name="A">Chooses the op, the delta or the peer.</param>
/// <param name="B">Chooses the op's argument (element, value, amount, timestamp).</param>
internal readonly record struct Step(int Kind, int Replica, int A, int B);

/// <summary>A generated history: 3 to 5 replicas, their steps, and a seed for the final delivery order.</summary>
internal sealed record Script(int ReplicaCount, Step[] Steps, int Seed)
{
    public static readonly Gen<Script> Gen = CsCheck.Gen.Select(
        CsCheck.Gen.Int[3, 5],
        CsCheck.Gen.Select(CsCheck.Gen.Int[0, 99], CsCheck.Gen.Int[0, 4], CsCheck.Gen.Int[0, 9999], CsCheck.Gen.Int[0, 9999],
            (k, r, a, b) => new Step(k, r, a, b)).Array[1, 40],
        CsCheck.Gen.Int,
        (n, steps, seed) => new Script(n, steps, seed));

    public override string ToString() =>
        $"{ReplicaCount} replicas, seed {Seed}: {string.Join(" ", Steps.Select(s => $"({s.Kind},{s.Replica},{s.A},{s.B})"))}";
}

/// <summary>
/// Runs a generated history of local ops on several replicas, with deltas delivered in arbitrary order (and again),
/// and checks the delta-CRDT properties along the way and at the end.
/// </summary>
internal static class Simulation
{
    /// <summary>An op on a replica's state; null when it does not apply (e.g. a type mismatch).</summary>
    public delegate (T Value, T Delta)? Op<T>(T state, string replica, Step step);

    /// <summary>
    /// Runs <paramref name="script"/>: checks <c>old.Merge(delta) == new</c> for every op; then delivers every delta to
    /// every replica in a random order with duplicates and checks that all replicas are equal, equal to the join of
    /// their states before delivery (full-state merging) and to the join of all deltas; and checks the lattice laws on
    /// states and deltas met along the way.
    /// </summary>
    public static void Run<T>(Script script, T empty, Op<T> op)
        where T : class, IReplicatedData<T>, IEquatable<T>
    {
        var n = script.ReplicaCount;
        var states = Enumerable.Repeat(empty, n).ToArray();
        var deltas = new List<T>();
        var seen = new List<T> { empty };
        foreach (var step in script.Steps)
        {
            var r = step.Replica % n;
            if (step.Kind < 55)
            {
                var before = states[r];
                if (op(before, Generators.Replicas[r], step) is { } result)
                {
                    AssertEqual(result.Value, before.Merge(result.Delta), "old.Merge(delta) == new");
                    states[r] = result.Value;
                    deltas.Add(result.Delta);
                    seen.Add(result.Delta);
                }
            }
            else if (step.Kind < 90)
            {
                if (deltas.Count > 0)
                {
                    states[r] = states[r].Merge(deltas[step.A % deltas.Count]);
                }
            }
            else
            {
                states[r] = states[r].Merge(states[step.A % n]);
            }

            seen.Add(states[r]);
        }

        var fullStateJoin = states.Aggregate((a, b) => a.Merge(b));
        var deltaJoin = deltas.Aggregate(empty, (a, b) => a.Merge(b));
        var random = new Random(script.Seed);
        for (var r = 0; r < n; r++)
        {
            var delivery = deltas.Concat(deltas.Where(_ => random.Next(3) == 0)).ToArray();
            random.Shuffle(delivery);
            states[r] = delivery.Aggregate(states[r], (s, d) => s.Merge(d));
        }

        for (var r = 1; r < n; r++)
        {
            AssertEqual(states[0], states[r], $"replica {Generators.Replicas[r]} converged with replica a");
        }

        AssertEqual(fullStateJoin, states[0], "delta delivery == full-state merge");
        AssertEqual(deltaJoin, states[0], "join of all deltas == converged state");

        for (var i = 0; i < 12 && seen.Count > 0; i++)
        {
            Laws.Check(seen[random.Next(seen.Count)], seen[random.Next(seen.Count)], seen[random.Next(seen.Count)]);
        }
    }

    public static void AssertEqual<T>(T expected, T actual, string what)
        where T : IEquatable<T>
    {
        if (!expected.Equals(actual))
        {
            Assert.Fail($"{what}: expected {Describe(expected)}, got {Describe(actual)}");
        }
    }

    public static string Describe<T>(T value) => value switch
    {
        ORSet s => $"{s} entries [{string.Join(", ", s.Entries.Select(e => $"{e.Key}:{{{string.Join(",", e.Value)}}}"))}] ctx {s.Context}",
        MvRegister m => $"{m} entries [{string.Join(", ", m.Entries)}] ctx {m.Context}",
        Flag f => $"{f} dots {{{string.Join(",", f.Dots)}}} ctx {f.Context}",
        CrdtMap m => $"{m} slots [{string.Join("; ", m.Entries.Select(e => $"{e.Key}={e.Value}"))}] ctx {m.Context}",
        LwwRegister l => $"{l}@{l.Timestamp}/{l.Replica}",
        GCounter g => $"{g} {string.Join(",", g.Counts)}",
        _ => value?.ToString() ?? "null",
    };
}

/// <summary>The join-semilattice laws.</summary>
internal static class Laws
{
    public static void Check<T>(T a, T b, T c)
        where T : IReplicatedData<T>, IEquatable<T>
    {
        Simulation.AssertEqual(a, a.Merge(a), "idempotent: a ⊔ a == a");
        Simulation.AssertEqual(a.Merge(b), b.Merge(a), "commutative: a ⊔ b == b ⊔ a");
        Simulation.AssertEqual(a.Merge(b).Merge(c), a.Merge(b.Merge(c)), "associative: (a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)");
        Simulation.AssertEqual(a.Merge(b), a.Merge(b).Merge(b), "a ⊔ b absorbs b");
    }

    /// <summary>The same laws for the contract's <see cref="VersionVector"/>, whose join is <see cref="VersionVectors.Merge"/>.</summary>
    public static void Check(VersionVector a, VersionVector b, VersionVector c)
    {
        Simulation.AssertEqual(a, a.Merge(a), "idempotent: a ⊔ a == a");
        Simulation.AssertEqual(a.Merge(b), b.Merge(a), "commutative: a ⊔ b == b ⊔ a");
        Simulation.AssertEqual(a.Merge(b).Merge(c), a.Merge(b.Merge(c)), "associative: (a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)");
        Simulation.AssertEqual(a.Merge(b), a.Merge(b).Merge(b), "a ⊔ b absorbs b");
    }
}
