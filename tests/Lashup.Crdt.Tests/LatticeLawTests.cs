using CsCheck;

namespace Lashup.Crdt.Tests;

/// <summary>
/// The join-semilattice laws on arbitrary values built from raw parts (what a buggy or malicious peer could send),
/// and the raw-parts round trip a serializer relies on. Reachable states are checked by <see cref="ConvergenceTests"/>.
/// </summary>
public sealed class LatticeLawTests
{
    private const int Iterations = 200;

    [Fact]
    public void Merge_VersionVectors_IsJoinSemilattice() =>
        Gen.Select(Generators.VersionVector, Generators.VersionVector, Generators.VersionVector).Sample((a, b, c) => Laws.Check(a, b, c), iter: Iterations);

    [Fact]
    public void Merge_CausalContexts_IsJoinSemilattice() => CheckLaws(Generators.Context);

    [Fact]
    public void Merge_GCounters_IsJoinSemilattice() => CheckLaws(Generators.GCounter);

    [Fact]
    public void Merge_PnCounters_IsJoinSemilattice() => CheckLaws(Generators.PnCounter);

    [Fact]
    public void Merge_LwwRegisters_IsJoinSemilattice() => CheckLaws(Generators.LwwRegister);

    [Fact]
    public void Merge_ORSets_IsJoinSemilattice() => CheckLaws(Generators.ORSet);

    [Fact]
    public void Merge_MvRegisters_IsJoinSemilattice() => CheckLaws(Generators.MvRegister);

    [Fact]
    public void Merge_Flags_IsJoinSemilattice() => CheckLaws(Generators.Flag);

    [Fact]
    public void Merge_Maps_IsJoinSemilattice() => CheckLaws(Generators.Map);

    [Fact]
    public void Constructor_RawPartsOfAnyValue_RebuildsEqualValue()
    {
        Generators.VersionVector.Sample(v => Simulation.AssertEqual(v, RawParts.Rebuild(v), "round trip"), iter: Iterations);
        Generators.Context.Sample(c => Simulation.AssertEqual(c, RawParts.Rebuild(c), "round trip"), iter: Iterations);
        Generators.ORSet.Sample(s => Simulation.AssertEqual(s, RawParts.Rebuild(s), "round trip"), iter: Iterations);
        Generators.MvRegister.Sample(m => Simulation.AssertEqual(m, RawParts.Rebuild(m), "round trip"), iter: Iterations);
        Generators.Flag.Sample(f => Simulation.AssertEqual(f, RawParts.Rebuild(f), "round trip"), iter: Iterations);
        Generators.PnCounter.Sample(p => Simulation.AssertEqual(p, RawParts.Rebuild(p), "round trip"), iter: Iterations);
        Generators.LwwRegister.Sample(l => Simulation.AssertEqual(l, RawParts.Rebuild(l), "round trip"), iter: Iterations);
        Generators.Map.Sample(m => Simulation.AssertEqual(m, RawParts.Rebuild(m), "round trip"), iter: Iterations);
    }

    [Fact]
    public void Merge_WithEmpty_IsIdentity()
    {
        Generators.ORSet.Sample(s => Simulation.AssertEqual(s, s.Merge(ORSet.Empty), "s ⊔ ⊥"), iter: 100);
        Generators.Map.Sample(m => Simulation.AssertEqual(m, CrdtMap.Empty.Merge(m), "⊥ ⊔ m"), iter: 100);
        Generators.Context.Sample(c => Simulation.AssertEqual(c, c.Merge(CausalContext.Empty), "c ⊔ ⊥"), iter: 100);
    }

    private static void CheckLaws<T>(Gen<T> gen, int iterations = Iterations)
        where T : IReplicatedData<T>, IEquatable<T> =>
        Gen.Select(gen, gen, gen).Sample((a, b, c) => Laws.Check(a, b, c), iter: iterations,
            print: t => $"a = {Simulation.Describe(t.Item1)}\nb = {Simulation.Describe(t.Item2)}\nc = {Simulation.Describe(t.Item3)}");
}
