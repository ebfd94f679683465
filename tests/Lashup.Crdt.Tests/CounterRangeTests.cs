using System.Numerics;
using CsCheck;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>
/// Counters at the edges of their range: an add that would leave it is refused and changes nothing; the value never
/// wraps, and concurrent adds that together pass the range saturate at its end.
/// </summary>
public sealed class CounterRangeTests
{
    private static readonly Gen<long> Amount = Gen.Frequency(
        (4, Gen.OneOf(Gen.Const(long.MaxValue), Gen.Const(long.MinValue), Gen.Const(long.MaxValue - 1), Gen.Const(long.MinValue + 1))),
        (4, Gen.Long[-3, 3]),
        (2, Gen.Long));

    private static readonly Gen<ulong> UAmount = Gen.Frequency(
        (4, Gen.OneOf(Gen.Const(ulong.MaxValue), Gen.Const(ulong.MaxValue - 1), Gen.Const((ulong)long.MaxValue))),
        (4, Gen.ULong[0, 3]),
        (2, Gen.ULong));

    [Fact]
    public void PnCounter_RandomAddsAtTheBoundaries_AcceptedKeepTheExactSumRefusedChangeNothing()
    {
        Gen.Select(Gen.OneOf("a", "b", "c"), Amount).Array[1, 12].Sample(adds =>
        {
            var counter = PnCounter.Empty;
            BigInteger exact = 0;
            foreach (var (replica, amount) in adds)
            {
                try
                {
                    var (next, delta) = counter.Increment(replica, amount);
                    Assert.Equal(next, counter.Merge(delta));
                    counter = next;
                    exact += amount;
                }
                catch (OverflowException e)
                {
                    Assert.Contains("range", e.Message, StringComparison.Ordinal);
                    var after = exact + amount;
                    Assert.True(after > long.MaxValue || after < long.MinValue || Sums(counter, amount) > ulong.MaxValue, $"refused {amount} at {exact}");
                }

                Assert.Equal(exact, (BigInteger)counter.Value);
            }
        });
    }

    [Fact]
    public void GCounter_RandomAddsAtTheBoundaries_AcceptedKeepTheExactSumRefusedChangeNothing()
    {
        Gen.Select(Gen.OneOf("a", "b", "c"), UAmount).Array[1, 12].Sample(adds =>
        {
            var counter = GCounter.Empty;
            BigInteger exact = 0;
            foreach (var (replica, amount) in adds)
            {
                try
                {
                    var (next, delta) = counter.Increment(replica, amount);
                    Assert.Equal(next, counter.Merge(delta));
                    counter = next;
                    exact += amount;
                }
                catch (OverflowException)
                {
                    Assert.True(exact + amount > ulong.MaxValue, $"refused {amount} at {exact}");
                }

                Assert.Equal(exact, (BigInteger)counter.Value);
            }
        });
    }

    [Theory]
    [InlineData(long.MaxValue, long.MaxValue, long.MaxValue)]
    [InlineData(long.MinValue, long.MinValue, long.MinValue)]
    [InlineData(long.MaxValue, 1, long.MaxValue)]
    [InlineData(long.MaxValue, long.MinValue, -1)]
    public void PnCounter_ConcurrentAddsPastTheRange_MergedValueSaturates(long onA, long onB, long expected)
    {
        var (a, _) = PnCounter.Empty.Increment("a", onA);
        var (b, _) = PnCounter.Empty.Increment("b", onB);

        Assert.Equal(expected, a.Merge(b).Value);
        Assert.Equal(expected, b.Merge(a).Value);
    }

    [Fact]
    public void GCounter_ConcurrentAddsPastTheRange_MergedValueSaturates()
    {
        var (a, _) = GCounter.Empty.Increment("a", ulong.MaxValue);
        var (b, _) = GCounter.Empty.Increment("b", 5);

        var merged = a.Merge(b);

        Assert.Equal(ulong.MaxValue, merged.Value);
        Assert.Throws<OverflowException>(() => merged.Increment("c", 1));
    }

    [Fact]
    public void CrdtMap_CounterAddPastTheRange_ThrowsNamingTheOpAndTheMapIsUnchanged()
    {
        var (map, _) = CrdtMap.Empty.Apply(new CounterAdd(["hits"], long.MaxValue), "a", 1);

        var e = Assert.Throws<OverflowException>(() => map.Apply([new LwwSet(["x"], "y"), new CounterAdd(["hits"], 1)], "a", 2));

        Assert.StartsWith("cannot apply CounterAdd hits 1: ", e.Message, StringComparison.Ordinal);
        Assert.Equal(long.MaxValue, map.GetPnCounter("hits")!.Value);
        Assert.Null(map.Get("x"));
    }

    [Fact]
    public void GCounter_CollapseOfCountsSummingPastTheRange_Saturates()
    {
        // Two nodes each acknowledged a large add (each saw only its own); the merged sum is past ulong.MaxValue.
        var merged = GCounter.Empty.Increment("a", ulong.MaxValue - 1).Value.Merge(GCounter.Empty.Increment("b", 5).Value);

        var collapsed = merged.Collapse("b", "a");

        Assert.Equal(ulong.MaxValue, collapsed.Value);
        Assert.Equal(ulong.MaxValue, collapsed.Counts["a"]);
        Assert.False(collapsed.Mentions("b"));
    }

    /// <summary>The half an add of <paramref name="amount"/> goes to, summed with it.</summary>
    private static BigInteger Sums(PnCounter counter, long amount) =>
        amount >= 0
            ? (BigInteger)counter.Increments.Value + amount
            : (BigInteger)counter.Decrements.Value - (BigInteger)amount;
}
