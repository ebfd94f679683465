
namespace Lashup.Crdt.Tests;

public sealed class ORSetTests
{
    [Fact]
    public void Add_Element_IsContainedAndDeltaReproducesIt()
    {
        var (set, delta) = ORSet.Empty.Add("a", "x");

        Assert.True(set.Contains("x"));
        Assert.Equal(["x"], set.Elements);
        Assert.Equal(set, ORSet.Empty.Merge(delta));
    }

    [Fact]
    public void Add_ConcurrentWithRemove_AddWins()
    {
        var (shared, _) = ORSet.Empty.Add("a", "x");
        var (removed, removal) = shared.Remove("x");
        var (readded, addition) = shared.Add("b", "x");

        Assert.True(removed.Merge(readded).Contains("x"));
        Assert.True(readded.Merge(removed).Contains("x"));
        Assert.True(shared.Merge(removal).Merge(addition).Contains("x"));
        Assert.True(shared.Merge(addition).Merge(removal).Contains("x"));
    }

    [Fact]
    public void Remove_ObservedAdd_RemovesEverywhereWithoutTombstone()
    {
        var (a, _) = ORSet.Empty.Add("a", "x");
        var b = ORSet.Empty.Merge(a);

        var (removed, delta) = b.Remove("x");
        var merged = a.Merge(delta);

        Assert.False(merged.Contains("x"));
        Assert.Empty(merged.Entries);
        Assert.True(merged.Context.Contains(new Dot("a", 1)));
        Assert.Equal(removed, merged);
    }

    [Fact]
    public void Remove_StaleCopyMergedLater_DoesNotResurrect()
    {
        var (a, _) = ORSet.Empty.Add("a", "x");
        var stale = a;
        var (removed, _) = a.Remove("x");

        Assert.False(removed.Merge(stale).Contains("x"));
        Assert.False(stale.Merge(removed).Contains("x"));
    }

    [Fact]
    public void Add_SameElementAgain_ReplacesObservedDots()
    {
        var (once, _) = ORSet.Empty.Add("a", "x");
        var (twice, delta) = once.Add("a", "x");

        Assert.Equal([new Dot("a", 2)], twice.Entries["x"]);
        Assert.True(delta.Context.Contains(new Dot("a", 1)));
        Assert.Equal(twice, once.Merge(delta));
    }

    [Fact]
    public void Clear_ConcurrentAdd_KeepsOnlyTheConcurrentAdd()
    {
        var (s, _) = ORSet.Empty.Add("a", "x");
        (s, _) = s.Add("a", "y");
        var (cleared, _) = s.Clear();
        var (added, _) = s.Add("b", "z");

        Assert.Equal(["x", "y", "z"], added.Elements);
        Assert.Equal(["z"], cleared.Merge(added).Elements);
    }

    [Fact]
    public void Constructor_DotsMissingFromContext_AreAddedToIt()
    {
        var set = new ORSet([KeyValuePair.Create("x", System.Collections.Immutable.ImmutableSortedSet.Create(new Dot("a", 4)))], CausalContext.Empty);

        Assert.True(set.Context.Contains(new Dot("a", 4)));
        Assert.Equal("[\"x\"]", set.ToString());
    }
}
