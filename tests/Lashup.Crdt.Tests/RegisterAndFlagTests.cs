
namespace Lashup.Crdt.Tests;

public sealed class RegisterAndFlagTests
{
    [Fact]
    public void LwwSet_LaterTimestamp_Wins()
    {
        var (early, _) = LwwRegister.Empty.Set("old", 10, "z");
        var (late, _) = LwwRegister.Empty.Set("new", 11, "a");

        Assert.Equal("new", early.Merge(late).Value);
        Assert.Equal("new", late.Merge(early).Value);
    }

    [Fact]
    public void LwwSet_SameTimestamp_LargerReplicaWins()
    {
        var (fromA, _) = LwwRegister.Empty.Set("from a", 10, "node-a");
        var (fromB, _) = LwwRegister.Empty.Set("from b", 10, "node-b");

        Assert.Equal("from b", fromA.Merge(fromB).Value);
        Assert.Equal("from b", fromB.Merge(fromA).Value);
    }

    [Fact]
    public void LwwSet_OlderThanCurrent_KeepsCurrentValue()
    {
        var (current, _) = LwwRegister.Empty.Set("current", 10, "a");

        var (after, delta) = current.Set("stale", 5, "a");

        Assert.Equal("current", after.Value);
        Assert.Equal(after, current.Merge(delta));
    }

    [Fact]
    public void LwwEmpty_IsBottom()
    {
        Assert.True(LwwRegister.Empty.IsBottom);
        Assert.False(LwwRegister.Empty.Set(null, long.MinValue, "a").Value.IsBottom);
    }

    [Fact]
    public void MvSet_ConcurrentWrites_KeepsAllValues()
    {
        var (a, _) = MvRegister.Empty.Set("a", "blue");
        var (b, _) = MvRegister.Empty.Set("b", "green");

        var merged = a.Merge(b);

        Assert.Equal<string>(["blue", "green"], merged.Values);
        Assert.Equal(merged, b.Merge(a));
    }

    [Fact]
    public void MvSet_AfterSeeingConcurrentValues_ReplacesThemAll()
    {
        var (a, _) = MvRegister.Empty.Set("a", "blue");
        var (b, _) = MvRegister.Empty.Set("b", "green");
        var merged = a.Merge(b);

        var (resolved, delta) = merged.Set("c", "red");

        Assert.Equal<string>(["red"], resolved.Values);
        Assert.Equal<string>(["red"], a.Merge(delta).Merge(b).Values);
    }

    [Fact]
    public void FlagEnable_ConcurrentWithDisable_EnableWins()
    {
        var (on, _) = Flag.Empty.Enable("a");
        var (off, _) = on.Disable();
        var (onAgain, _) = on.Enable("b");

        Assert.False(off.IsEnabled);
        Assert.True(off.Merge(onAgain).IsEnabled);
        Assert.True(onAgain.Merge(off).IsEnabled);
    }

    [Fact]
    public void FlagDisable_ObservedEnable_TurnsOffEverywhere()
    {
        var (on, _) = Flag.Empty.Enable("a");
        var (off, delta) = Flag.Empty.Merge(on).Disable();

        Assert.False(on.Merge(delta).IsEnabled);
        Assert.Equal(off, on.Merge(delta));
    }

    [Fact]
    public void GCounterIncrement_SeveralReplicas_SumsAndDeltaIsOneEntry()
    {
        var (a, _) = GCounter.Empty.Increment("a", 2);
        var (b, delta) = a.Increment("b", 3);

        Assert.Equal(5UL, b.Value);
        Assert.Equal([KeyValuePair.Create("b", 3UL)], delta.Counts);
        Assert.Equal(5UL, a.Merge(delta).Merge(delta).Value);
    }

    [Fact]
    public void GCounterIncrement_PastMaximum_Throws()
    {
        var (c, _) = GCounter.Empty.Increment("a", ulong.MaxValue);

        Assert.Throws<OverflowException>(() => c.Increment("a", 1));
    }

    [Fact]
    public void PnCounterIncrement_NegativeAmounts_Subtract()
    {
        var (c, _) = PnCounter.Empty.Increment("a", 5);
        (c, _) = c.Increment("b", -7);
        var (min, _) = PnCounter.Empty.Increment("a", long.MinValue);

        Assert.Equal(-2, c.Value);
        Assert.Equal(7UL, c.Decrements.Value);
        Assert.Equal(long.MinValue, min.Value);
    }
}
