using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

public sealed class CrdtMapTests
{
    private static CrdtMap Apply(CrdtMap map, string replica, long timestamp, params CrdtOp[] ops) => map.Apply(ops, replica, timestamp).Value;

    [Fact]
    public void Apply_EachOpKind_TypedGettersSeeTheValues()
    {
        var map = Apply(CrdtMap.Empty, "a", 100,
            new ORSetAdd(["backends"], "10.0.0.7:80"),
            new ORSetAdd(["backends"], "10.0.0.8:80"),
            new LwwSet(["name"], "web"),
            new MvSet(["owner"], "team-a"),
            new FlagEnable(["enabled"]),
            new CounterAdd(["balance"], 5),
            new CounterAdd(["balance"], -7),
            new GCounterAdd(["hits"], 3),
            new ORSetAdd(["vip", "ports"], "80"));

        Assert.Equal(["10.0.0.7:80", "10.0.0.8:80"], map.GetORSet("backends")!.Elements);
        Assert.Equal("web", map.GetLwwRegister("name")!.Value);
        Assert.Equal<string>(["team-a"], map.GetMvRegister("owner")!.Values);
        Assert.True(map.GetFlag("enabled")!.IsEnabled);
        Assert.Equal(-2, map.GetPnCounter("balance")!.Value);
        Assert.Equal(3UL, map.GetGCounter("hits")!.Value);
        Assert.Equal(["80"], map.GetMap("vip")!.GetORSet("ports")!.Elements);
        Assert.Equal(["backends", "balance", "enabled", "hits", "name", "owner", "vip"], map.Fields.Select(f => f.Name));
        Assert.Null(map.GetORSet("name"));
        Assert.Null(map.Get("missing"));
        Assert.False(map.IsEmpty);
        Assert.Equal(
            """{"backends":["10.0.0.7:80","10.0.0.8:80"],"balance":-2,"enabled":true,"hits":3,"name":"web","owner":["team-a"],"vip":{"ports":["80"]}}""",
            map.ToString());
    }

    [Fact]
    public void Apply_TypedGetter_ReturnsStandaloneValueWithMapContext()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["s"], "x"));

        var set = map.GetORSet("s")!;
        var (other, _) = ORSet.Empty.Add("b", "y");

        Assert.Same(map.Context, set.Context);
        Assert.Equal(["x", "y"], set.Merge(other).Elements);
    }

    [Fact]
    public void Apply_OpOnFieldOfOtherType_ThrowsNamingPathTypeAndOp()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new LwwSet(["vip", "name"], "web"));
        var op = new ORSetAdd(["vip", "name"], "x");

        var e = Assert.Throws<CrdtTypeMismatchException>(() => map.Apply(op, "a", 2));

        Assert.Equal<string>(["vip", "name"], e.Path);
        Assert.Equal(CrdtType.LwwRegister, e.ActualType);
        Assert.Equal(CrdtType.ORSet, e.ExpectedType);
        Assert.Same(op, e.Op);
        Assert.Equal("cannot apply ORSetAdd to \"vip/name\": the field is an LwwRegister, not an ORSet", e.Message);
    }

    [Fact]
    public void Apply_PathThroughNonMapField_ThrowsNamingThatField()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new CounterAdd(["vip"], 1));

        var e = Assert.Throws<CrdtTypeMismatchException>(() => map.Apply(new FlagEnable(["vip", "on"]), "a", 2));

        Assert.Equal<string>(["vip"], e.Path);
        Assert.Equal(CrdtType.PnCounter, e.ActualType);
        Assert.Equal(CrdtType.Map, e.ExpectedType);
        Assert.Contains("field \"vip\" is a PnCounter, not a map (the path goes through it)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_BatchWithMismatchedOp_ThrowsAndChangesNothing()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new LwwSet(["name"], "web"));
        var before = RawParts.Rebuild(map);

        Assert.Throws<CrdtTypeMismatchException>(() =>
            map.Apply([new ORSetAdd(["backends"], "x"), new GCounterAdd(["hits"], 1), new MvSet(["name"], "oops")], "a", 2));

        Assert.Equal(before, map);
        Assert.Null(map.Get("backends"));
    }

    [Fact]
    public void Apply_RemovalOnMissingField_DoesNothing()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new LwwSet(["name"], "web"));

        foreach (var op in new CrdtOp[] { new ORSetRemove(["s"], "x"), new ORSetClear(["s"]), new FlagDisable(["f"]), new RemoveField(["m", "x"]) })
        {
            var (value, delta) = map.Apply(op, "a", 2);
            Assert.Same(map, value);
            Assert.True(delta.IsBottom);
        }
    }

    [Fact]
    public void Apply_ORSetClearAndFlagDisable_KeepFieldPresent()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["s"], "x"), new FlagEnable(["f"]));

        map = Apply(map, "a", 2, new ORSetClear(["s"]), new FlagDisable(["f"]));

        Assert.Equal(0, map.GetORSet("s")!.Count);
        Assert.False(map.GetFlag("f")!.IsEnabled);
    }

    [Fact]
    public void RemoveField_ConcurrentWithUpdate_UpdateWinsWithOnlyUnseenElements()
    {
        var shared = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["backends"], "x"));
        var (removed, removal) = shared.Apply(new RemoveField(["backends"]), "a", 2);
        var (updated, update) = shared.Apply(new ORSetAdd(["backends"], "y"), "b", 2);

        Assert.Null(removed.Get("backends"));
        foreach (var merged in new[] { removed.Merge(updated), updated.Merge(removed), shared.Merge(update).Merge(removal), shared.Merge(removal).Merge(update) })
        {
            Assert.Equal(["y"], merged.GetORSet("backends")!.Elements);
        }
    }

    [Fact]
    public void RemoveField_SeenEverywhere_LeavesNoTombstone()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["s"], "x"), new MvSet(["m"], "v"), new FlagEnable(["f"]));

        var removed = Apply(map, "b", 2, new RemoveField(["s"]), new RemoveField(["m"]), new RemoveField(["f"]));

        Assert.True(removed.IsEmpty);
        Assert.Empty(removed.Entries);
        Assert.Empty(removed.Fields);
        Assert.True(removed.Merge(map).IsEmpty);
    }

    [Fact]
    public void RemoveField_LwwRegisterWithClockBehind_WritesNullPastTheCurrentTimestamp()
    {
        var map = Apply(CrdtMap.Empty, "a", 100, new LwwSet(["name"], "web"));

        var (removed, _) = map.Apply(new RemoveField(["name"]), "b", 50);

        Assert.Null(removed.Get("name"));
        var slot = removed.Entries[new CrdtFieldKey("name", CrdtType.LwwRegister)];
        Assert.False(slot.IsPresent);
        Assert.Equal(new LwwRegister(null, 101, "b"), slot.Value);
        Assert.Null(removed.Merge(map).Get("name"));
    }

    [Fact]
    public void LwwSet_ClockBehindCurrentWrite_StillSupersedesIt()
    {
        var map = Apply(CrdtMap.Empty, "a", 100, new LwwSet(["name"], "web"));

        map = Apply(map, "b", 10, new LwwSet(["name"], "api"));

        Assert.Equal("api", map.GetLwwRegister("name")!.Value);
        Assert.Equal(101, map.GetLwwRegister("name")!.Timestamp);
    }

    [Fact]
    public void RemoveField_ConcurrentLaterLwwSet_FieldPresentWithTheLaterValue()
    {
        var shared = Apply(CrdtMap.Empty, "a", 100, new LwwSet(["name"], "web"));
        var removed = Apply(shared, "a", 101, new RemoveField(["name"]));
        var updated = Apply(shared, "b", 200, new LwwSet(["name"], "api"));

        Assert.Equal("api", removed.Merge(updated).GetLwwRegister("name")!.Value);
        Assert.Equal("api", updated.Merge(removed).GetLwwRegister("name")!.Value);
    }

    [Fact]
    public void RemoveField_Counter_RemovesPresenceOnlyAndLaterAddKeepsTotal()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new CounterAdd(["n"], 5));

        map = Apply(map, "a", 2, new RemoveField(["n"]));
        Assert.Null(map.Get("n"));
        Assert.True(map.IsEmpty);

        map = Apply(map, "a", 3, new CounterAdd(["n"], 1));
        Assert.Equal(6, map.GetPnCounter("n")!.Value);
    }

    [Fact]
    public void RemoveField_NestedMap_RemovesRecursivelyButConcurrentNestedUpdateSurvives()
    {
        var shared = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["vip", "backends"], "x"), new LwwSet(["vip", "name"], "web"));
        var (removed, removal) = shared.Apply(new RemoveField(["vip"]), "a", 2);
        var (updated, update) = shared.Apply(new ORSetAdd(["vip", "backends"], "y"), "b", 2);

        Assert.Null(removed.Get("vip"));
        var merged = removed.Merge(updated);
        Assert.Equal(merged, shared.Merge(update).Merge(removal));
        var vip = merged.GetMap("vip")!;
        Assert.Equal(["y"], vip.GetORSet("backends")!.Elements);
        Assert.Null(vip.Get("name"));
    }

    [Fact]
    public void Merge_ConcurrentCreationWithDifferentTypes_LargerTypeVisibleOnEveryReplica()
    {
        var asRegister = Apply(CrdtMap.Empty, "a", 1, new LwwSet(["f"], "v"));
        var asSet = Apply(CrdtMap.Empty, "b", 1, new ORSetAdd(["f"], "x"));

        var merged = asRegister.Merge(asSet);

        Assert.Equal(merged, asSet.Merge(asRegister));
        Assert.Equal(CrdtType.ORSet, merged.Get("f")!.Type);
        Assert.Null(merged.GetLwwRegister("f"));
        Assert.Throws<CrdtTypeMismatchException>(() => merged.Apply(new LwwSet(["f"], "w"), "a", 2));

        var cleaned = Apply(merged, "a", 2, new RemoveField(["f"]), new LwwSet(["f"], "w"));
        Assert.Equal("w", cleaned.GetLwwRegister("f")!.Value);
        Assert.Single(cleaned.Fields);
    }

    [Fact]
    public void Apply_WriteThroughMissingMaps_CreatesThem()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, new ORSetAdd(["a", "b", "c"], "x"));

        Assert.Equal(["x"], map.GetMap("a")!.GetMap("b")!.GetORSet("c")!.Elements);
    }

    [Fact]
    public void Apply_OneAddToLargeSet_DeltaStaysSmall()
    {
        var map = Apply(CrdtMap.Empty, "a", 1, [.. Enumerable.Range(0, 1000).Select(i => new ORSetAdd(["backends"], $"10.0.{i / 256}.{i % 256}:80"))]);

        var (value, delta) = map.Apply(new ORSetAdd(["backends"], "10.9.9.9:80"), "b", 2);

        Assert.Equal(1001, value.GetORSet("backends")!.Count);
        Assert.True(map.EstimateSize() > 1000 * 12, $"state estimate {map.EstimateSize()}");
        Assert.True(delta.EstimateSize() < 200, $"delta estimate {delta.EstimateSize()}");
        Assert.Equal(value, map.Merge(delta));
    }

    [Fact]
    public void Constructor_SlotKeyOfOtherType_Throws()
    {
        var entry = new CrdtMapEntry([new Dot("a", 1)], new LwwRegister("v", 1, "a"));

        var e = Assert.Throws<ArgumentException>(() => new CrdtMap(CausalContext.Empty, [KeyValuePair.Create(new CrdtFieldKey("f", CrdtType.ORSet), entry)]));

        Assert.Contains("declared ORSet but holds a LwwRegister", e.Message, StringComparison.Ordinal);
    }
}
