using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>The algebra of the contract's <see cref="VersionVector"/> (<see cref="VersionVectors"/>).</summary>
public sealed class VersionVectorsTests
{
    private static VersionVector V(params (string Replica, ulong Counter)[] entries) =>
        new(entries.Select(e => KeyValuePair.Create(e.Replica, e.Counter)));

    [Theory]
    [InlineData(new ulong[] { 1, 2 }, new ulong[] { 1, 2 }, CausalOrder.Equal)]
    [InlineData(new ulong[] { 1, 1 }, new ulong[] { 1, 2 }, CausalOrder.Before)]
    [InlineData(new ulong[] { 0, 0 }, new ulong[] { 0, 1 }, CausalOrder.Before)]
    [InlineData(new ulong[] { 2, 2 }, new ulong[] { 1, 2 }, CausalOrder.After)]
    [InlineData(new ulong[] { 2, 1 }, new ulong[] { 1, 2 }, CausalOrder.Concurrent)]
    public void Compare_TwoVectors_ReturnsCausalOrder(ulong[] left, ulong[] right, CausalOrder expected)
    {
        var a = V(("a", left[0]), ("b", left[1]));
        var b = V(("a", right[0]), ("b", right[1]));

        Assert.Equal(expected, a.Compare(b));
    }

    [Fact]
    public void Merge_TwoVectors_TakesPointwiseMaximum()
    {
        var merged = V(("a", 3), ("b", 1)).Merge(V(("b", 4), ("c", 2)));

        Assert.Equal(V(("a", 3), ("b", 4), ("c", 2)), merged);
    }

    [Fact]
    public void Increment_Replica_AddsOneAndLeavesOriginal()
    {
        var v = V(("a", 1));

        var next = v.Increment("a").Increment("b");

        Assert.Equal(V(("a", 2), ("b", 1)), next);
        Assert.Equal(1UL, v["a"]);
        Assert.Equal(0UL, v["b"]);
    }

    [Fact]
    public void Contains_Dot_IsTrueUpToTheCounter()
    {
        var v = V(("a", 2));

        Assert.True(v.Contains(new Dot("a", 2)));
        Assert.False(v.Contains(new Dot("a", 3)));
        Assert.False(v.Contains(new Dot("b", 1)));
    }
}
