using CsCheck;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>
/// The pure pieces of removed-replica pruning (<c>Collapse</c> into the pruning owner, <c>Cleanup</c> everywhere),
/// on arbitrary values of every type: the merge laws still hold after cleanup; cleanup commutes with merge (so
/// replicas that clean up at different times converge); collapse keeps the value a reader sees and leaves no trace of
/// the removed replica; and cleaning up a state that merged the collapse gives exactly the collapse, for the owner's
/// state and for any replica whose state the owner had merged.
/// </summary>
public sealed class PruningTests
{
    private const int Iterations = 300;
    private const string Removed = "a";
    private const string Owner = "b";

    [Fact]
    public void Cleanup_ORSets_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.ORSet, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => string.Join(",", s.Elements));

    [Fact]
    public void Cleanup_MvRegisters_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.MvRegister, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => string.Join(",", s.Values));

    [Fact]
    public void Cleanup_Flags_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.Flag, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => s.IsEnabled.ToString());

    [Fact]
    public void Cleanup_GCounters_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.GCounter, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => s.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Cleanup_PnCounters_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.PnCounter, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => s.ToString());

    [Fact]
    public void Cleanup_Maps_KeepsLawsCommutesWithMergeAndAbsorbsCollapse() =>
        CheckAll(Generators.Map, (s, r) => s.Cleanup(r), (s, r, o) => s.Collapse(r, o), (s, r) => s.Mentions(r), s => s.ToString());

    [Fact]
    public void CleanupCounts_Maps_CommutesWithMergeDropsOnlyCountsAndAbsorbsCollapsedCounts()
    {
        Gen.Select(Generators.Map, Generators.Map, Generators.Map).Sample((a, b, c) =>
        {
            var (ca, cb, cc) = (a.CleanupCounts(Removed), b.CleanupCounts(Removed), c.CleanupCounts(Removed));
            Laws.Check(ca, cb, cc);
            Simulation.AssertEqual(a.Merge(b).CleanupCounts(Removed), ca.Merge(cb), "cleanupCounts(a ⊔ b) == cleanupCounts(a) ⊔ cleanupCounts(b)");
            Simulation.AssertEqual(ca, ca.CleanupCounts(Removed), "idempotent");
            Simulation.AssertEqual(a.Context, ca.Context, "the causal context stays");
            Simulation.AssertEqual(a.Cleanup(Removed), ca.Cleanup(Removed), "a full cleanup afterwards ends in the same state");

            // A collapse that reaches a replica before the marker: merged, then its counts cleaned, every counter
            // reads what the owner's collapse reads (the removed replica's counts once, not twice).
            var s = a.Merge(b);
            var collapsed = s.Collapse(Removed, Owner);
            var early = a.Merge(collapsed).CleanupCounts(Removed);
            Assert.Equal(Counters(collapsed), Counters(early));
            Simulation.AssertEqual(collapsed, early.Cleanup(Removed), "cleanup(cleanupCounts(a ⊔ collapse)) == collapse");
        }, iter: Iterations);

        static string Counters(CrdtMap map) => string.Join(",", Walk(map, ""));

        static IEnumerable<string> Walk(CrdtMap map, string path)
        {
            foreach (var (key, entry) in map.Entries)
            {
                switch (entry.Value)
                {
                    case GCounter g:
                        yield return $"{path}/{key.Name}={g.Value}";
                        break;
                    case PnCounter p:
                        yield return $"{path}/{key.Name}={p.Value}";
                        break;
                    case CrdtMap nested:
                        foreach (var line in Walk(nested, $"{path}/{key.Name}"))
                        {
                            yield return line;
                        }

                        break;
                }
            }
        }
    }

    [Fact]
    public void Without_VersionVectorsAndContexts_CommutesWithMergeAndDropsReplica()
    {
        Gen.Select(Generators.VersionVector, Generators.VersionVector).Sample((a, b) =>
        {
            Simulation.AssertEqual(a.Merge(b).Without(Removed), a.Without(Removed).Merge(b.Without(Removed)), "without commutes with merge");
            Assert.Equal(0UL, a.Without(Removed)[Removed]);
            Assert.Equal(a[Owner], a.Without(Removed)[Owner]);
        }, iter: Iterations);
        Gen.Select(Generators.Context, Generators.Context).Sample((a, b) =>
        {
            Simulation.AssertEqual(a.Merge(b).Without(Removed), a.Without(Removed).Merge(b.Without(Removed)), "without commutes with merge");
            Assert.False(a.Without(Removed).Mentions(Removed));
            Simulation.AssertEqual(a.Without(Removed), new CausalContext(a.Without(Removed).Vector, a.Without(Removed).Cloud), "still canonical");
        }, iter: Iterations);
    }

    [Fact]
    public void Collapse_MapWithRemovedReplicasFields_KeepsEveryFieldAndDropsTheReplica()
    {
        var map = CrdtMap.Empty;
        (map, _) = map.Apply([new ORSetAdd(["set"], "x"), new ORSetAdd(["set"], "y"), new CounterAdd(["n"], 5), new FlagEnable(["on"]),
            new MvSet(["mv"], "v"), new LwwSet(["lww"], "w"), new ORSetAdd(["nested", "set"], "z")], Removed, 1);
        (map, _) = map.Apply([new ORSetAdd(["set"], "y"), new CounterAdd(["n"], -2)], Owner, 2);

        var collapsed = map.Collapse(Removed, Owner);

        Assert.False(collapsed.Mentions(Removed));
        Assert.Equal(map.ToString(), collapsed.ToString());
        Assert.Equal(3, collapsed.GetPnCounter("n")!.Value);
        Assert.Equal(["x", "y"], collapsed.GetORSet("set")!.Elements);
        Assert.Equal(Removed, collapsed.GetLwwRegister("lww")!.Replica);
        Assert.All(collapsed.Context.Vector.Entries.Keys, r => Assert.Equal(Owner, r));
    }

    [Fact]
    public void Collapse_ReplicaIntoItself_Throws()
    {
        Assert.Throws<ArgumentException>(() => ORSet.Empty.Collapse(Removed, Removed));
        Assert.Throws<ArgumentException>(() => CrdtMap.Empty.Collapse(Removed, Removed));
        Assert.Throws<ArgumentException>(() => GCounter.Empty.Collapse("", Owner));
    }

    private static void CheckAll<T>(Gen<T> gen, Func<T, string, T> cleanup, Func<T, string, string, T> collapse, Func<T, string, bool> mentions, Func<T, string> observe)
        where T : class, IReplicatedData<T>, IEquatable<T>
    {
        Gen.Select(gen, gen, gen).Sample((a, b, c) =>
        {
            var (ca, cb, cc) = (cleanup(a, Removed), cleanup(b, Removed), cleanup(c, Removed));
            Laws.Check(ca, cb, cc);
            Simulation.AssertEqual(cleanup(a.Merge(b), Removed), ca.Merge(cb), "cleanup(a ⊔ b) == cleanup(a) ⊔ cleanup(b)");
            Assert.False(mentions(ca, Removed));
            Simulation.AssertEqual(ca, cleanup(ca, Removed), "cleanup is idempotent");

            // The owner's state s merged everything of the removed replica (here: s = a ⊔ b).
            var s = a.Merge(b);
            var collapsed = collapse(s, Removed, Owner);
            Assert.Equal(observe(s), observe(collapsed));
            Assert.False(mentions(collapsed, Removed));
            Simulation.AssertEqual(collapsed, cleanup(s.Merge(collapsed), Removed), "cleanup(s ⊔ collapse(s)) == collapse(s)");

            // A replica whose state the owner had merged (a ⊑ s) converges to the collapse after merge and cleanup.
            Simulation.AssertEqual(collapsed, cleanup(a.Merge(collapsed), Removed), "cleanup(a ⊔ collapse(a ⊔ b)) == collapse(a ⊔ b)");
            Laws.Check(collapsed, ca, cb);
        }, iter: Iterations);
    }
}
