using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

public sealed class CausalContextTests
{
    [Fact]
    public void Add_ContiguousDot_ExtendsVector()
    {
        var c = CausalContext.Empty.Add(new Dot("a", 1)).Add(new Dot("a", 2));

        Assert.Equal(2UL, c.Vector["a"]);
        Assert.Empty(c.Cloud);
    }

    [Fact]
    public void Add_DotAfterGap_GoesToCloudUntilGapFills()
    {
        var c = CausalContext.Empty.Add(new Dot("a", 1)).Add(new Dot("a", 3)).Add(new Dot("a", 4));

        Assert.Equal(1UL, c.Vector["a"]);
        Assert.Equal([new Dot("a", 3), new Dot("a", 4)], c.Cloud);
        Assert.False(c.Contains(new Dot("a", 2)));
        Assert.True(c.Contains(new Dot("a", 4)));

        var filled = c.Add(new Dot("a", 2));

        Assert.Equal(4UL, filled.Vector["a"]);
        Assert.Empty(filled.Cloud);
    }

    [Fact]
    public void Constructor_CloudCoveredOrContiguous_IsCompacted()
    {
        var vector = new VersionVector([KeyValuePair.Create("a", 2UL)]);

        var c = new CausalContext(vector, [new Dot("a", 1), new Dot("a", 3), new Dot("a", 5), new Dot("b", 1)]);

        Assert.Equal(3UL, c.Vector["a"]);
        Assert.Equal(1UL, c.Vector["b"]);
        Assert.Equal([new Dot("a", 5)], c.Cloud);
        Assert.Equal(c, CausalContext.FromDots([new Dot("a", 1), new Dot("a", 2), new Dot("a", 3), new Dot("a", 5), new Dot("b", 1)]));
    }

    [Fact]
    public void Merge_NonContiguousContexts_UnionsAndCompacts()
    {
        var left = CausalContext.FromDots([new Dot("a", 1), new Dot("a", 3)]);
        var right = CausalContext.FromDots([new Dot("a", 2), new Dot("b", 2)]);

        var merged = left.Merge(right);

        Assert.Equal(3UL, merged.Vector["a"]);
        Assert.Equal([new Dot("b", 2)], merged.Cloud);
    }

    [Fact]
    public void Next_ReplicaWithCloudDots_IsPastTheHighest()
    {
        var c = CausalContext.FromDots([new Dot("a", 1), new Dot("a", 7)]);

        Assert.Equal(new Dot("a", 8), c.Next("a"));
        Assert.Equal(new Dot("b", 1), c.Next("b"));
    }

    [Fact]
    public void Dot_ZeroCounterOrEmptyReplica_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dot("a", 0));
        Assert.Throws<ArgumentException>(() => new Dot("", 1));
    }
}
