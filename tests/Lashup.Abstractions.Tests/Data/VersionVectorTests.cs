using Lashup.Abstractions.Data;

namespace Lashup.Abstractions.Tests.Data;

/// <summary>The contract's version vector: an immutable value (its algebra is Lashup.Crdt's, tested there).</summary>
public sealed class VersionVectorTests
{
    private static VersionVector V(params (string Replica, ulong Counter)[] entries) =>
        new(entries.Select(e => KeyValuePair.Create(e.Replica, e.Counter)));

    [Fact]
    public void Constructor_ZeroCounters_AreDroppedSoVectorsCompareEqual()
    {
        Assert.Equal(VersionVector.Empty, V(("a", 0)));
        Assert.True(V(("a", 0)).IsEmpty);
    }

    [Fact]
    public void Equals_SameCountersWhateverTheSource_AreEqualWithEqualHashes()
    {
        var fromPairs = V(("b", 1), ("a", 3));
        var fromDictionary = new VersionVector(new Dictionary<string, ulong> { ["a"] = 3, ["b"] = 1, ["c"] = 0 });

        Assert.Equal(fromPairs, fromDictionary);
        Assert.Equal(fromPairs.GetHashCode(), fromDictionary.GetHashCode());
        Assert.NotEqual(fromPairs, V(("a", 3)));
        Assert.Equal(["a", "b"], fromPairs.Entries.Keys);
        Assert.Equal(3UL, fromPairs["a"]);
        Assert.Equal(0UL, fromPairs["z"]);
        Assert.Equal("[a:3, b:1]", fromPairs.ToString());
    }

    [Fact]
    public void Constructor_EmptyReplicaName_Throws()
    {
        Assert.Throws<ArgumentException>(() => V(("", 1)));
    }

    [Fact]
    public void Constructor_DuplicateReplica_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => V(("a", 1), ("a", 2)));

        Assert.Contains("\"a\" appears twice", e.Message, StringComparison.Ordinal);
    }
}
