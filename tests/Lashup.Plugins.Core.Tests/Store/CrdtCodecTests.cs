using System.Buffers;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using CsCheck;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;
using MessagePack;

namespace Lashup.Plugins.Core.Tests.Store;

public class CrdtCodecTests
{
    private const long Iterations = 400;
    private const long FuzzIterations = 3_000;

    private static readonly string[] Replicas = ["node-a", "node-b", "node-c"];

    private static readonly ImmutableArray<string>[] Paths =
    [
        ["s"], ["r"], ["f"], ["m", "s"], ["m", "c"], ["m", "n", "v"], ["m", "n", "s"],
    ];

    /// <summary>A step of a simulation: which replica, what to do, and arguments (interpreted modulo their range).</summary>
    private static readonly Gen<int[][]> GenSteps = Gen.Int[0, 1_000_000].Array[5].Array[0, 40];

    private delegate void Writing(ref MessagePackWriter writer);

    // ---- round trips ----

    [Fact]
    public void DecodeMap_EmptyMap_RoundTrips()
    {
        var decoded = AssertRoundTrips(CrdtMap.Empty);

        Assert.True(decoded.IsBottom);
    }

    [Fact]
    public void DecodeMap_EveryFieldType_RoundTrips()
    {
        var (map, _) = CrdtMap.Empty.Apply(
            [
                new ORSetAdd(["set"], "10.0.0.7:80"),
                new ORSetAdd(["set"], "10.0.0.8:80"),
                new ORSetRemove(["set"], "10.0.0.7:80"),
                new LwwSet(["lww"], "v1"),
                new LwwSet(["lwwnull"], null),
                new MvSet(["mv"], "blue"),
                new FlagEnable(["flag"]),
                new FlagEnable(["off"]),
                new FlagDisable(["off"]),
                new CounterAdd(["pn"], 5),
                new CounterAdd(["pn"], -7),
                new GCounterAdd(["g"], ulong.MaxValue),
                new ORSetAdd(["nested", "deeper", "set"], "x"),
                new LwwSet(["nested", "name"], "n"),
                new LwwSet(["gone"], "was here"),
                new RemoveField(["gone"]),
            ],
            "node-a",
            timestamp: long.MaxValue - 5);
        var (concurrent, _) = CrdtMap.Empty.Apply(new MvSet(["mv"], "green"), "node-b", 1);
        map = map.Merge(concurrent);

        var decoded = AssertRoundTrips(map);

        Assert.Equal<string>(["10.0.0.8:80"], decoded.GetORSet("set")!.Elements);
        Assert.Equal("v1", decoded.GetLwwRegister("lww")!.Value);
        Assert.Null(decoded.GetLwwRegister("lwwnull")!.Value);
        Assert.Equal<string>(["blue", "green"], decoded.GetMvRegister("mv")!.Values);
        Assert.True(decoded.GetFlag("flag")!.IsEnabled);
        Assert.False(decoded.GetFlag("off")!.IsEnabled);
        Assert.Equal(-2, decoded.GetPnCounter("pn")!.Value);
        Assert.Equal(ulong.MaxValue, decoded.GetGCounter("g")!.Value);
        Assert.Equal<string>(["x"], decoded.GetMap("nested")!.GetMap("deeper")!.GetORSet("set")!.Elements);
        Assert.Null(decoded.Get("gone"));
        Assert.Contains(decoded.Entries, e => e.Key.Name == "gone" && !e.Value.IsPresent);
    }

    [Fact]
    public void DecodeMap_RawPartsWithCloudAndTypeConflicts_RoundTrips()
    {
        var a = new Dot("a", 1);
        var context = new CausalContext(new VersionVector([KeyValuePair.Create("a", 3ul)]), [new Dot("b", 5), new Dot("c", 9)]);
        var map = new CrdtMap(context,
        [
            Slot("x", [a], new GCounter([KeyValuePair.Create("a", 4ul), KeyValuePair.Create("b", 1ul)])),
            Slot("x", [new Dot("b", 5)], new LwwRegister("v", -3, "b")),
            Slot("x", [], new PnCounter(GCounter.Empty, new GCounter([KeyValuePair.Create("c", 2ul)]))),
            Slot("empty-lww", [new Dot("a", 2)], LwwRegister.Empty),
            Slot("mv", [new Dot("c", 9)], new MvRegister([KeyValuePair.Create(new Dot("c", 9), "q"), KeyValuePair.Create(a, "")], CausalContext.Empty)),
            Slot("", [], new ORSet([KeyValuePair.Create("", ImmutableSortedSet.Create(new Dot("d", 7)))], CausalContext.Empty)),
            Slot("flag", [new Dot("a", 3)], new Flag([new Dot("e", 1), new Dot("a", 3)], CausalContext.Empty)),
        ]);

        var decoded = AssertRoundTrips(map);

        Assert.Equal(3, decoded.Entries.Keys.Count(k => k.Name == "x"));
        Assert.Equal(map.Context, decoded.Context);
        Assert.NotEmpty(decoded.Context.Cloud);
    }

    [Fact]
    public void DecodeMap_MapsFromRandomOpSequences_RoundTripCanonically()
    {
        GenSteps.Sample(steps =>
        {
            var (states, deltas) = Simulate(steps);
            foreach (var value in states.Concat(deltas))
            {
                AssertRoundTrips(value);
            }
        }, iter: Iterations);
    }

    [Fact]
    public void Simulate_RandomSteps_CoverCloudsTypeConflictsAndRemovedSlots()
    {
        // Guards the generator: the round-trip properties are only as good as the states they see.
        var random = new Random(11);
        var maps = Enumerable.Range(0, 50)
            .SelectMany(_ => Simulate([.. Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, 5).Select(_ => random.Next(1_000_000)).ToArray())]).States)
            .ToList();

        Assert.Contains(maps, m => !m.Context.Cloud.IsEmpty);
        Assert.Contains(maps, m => m.Entries.Keys.GroupBy(k => k.Name).Any(g => g.Count() > 1));
        Assert.Contains(maps, m => m.Entries.Values.Any(e => !e.IsPresent));
        Assert.Contains(maps, m => m.Entries.Values.Any(e => e.Value is CrdtMap nested && nested.Entries.Values.Any(n => n.Value is CrdtMap)));
    }

    [Fact]
    public void DecodeMap_DeltasFromApply_MergeLikeTheOriginals()
    {
        GenSteps.Sample(steps =>
        {
            var (states, deltas) = Simulate(steps);
            var decoded = deltas.Select(d => CrdtCodec.DecodeMap(CrdtCodec.EncodeMap(d))).ToList();

            var fromOriginals = deltas.Aggregate(CrdtMap.Empty, (s, d) => s.Merge(d));
            var fromDecoded = decoded.Aggregate(CrdtMap.Empty, (s, d) => s.Merge(d));
            Assert.Equal(fromOriginals, fromDecoded);

            for (var i = 0; i < deltas.Count; i++)
            {
                var target = states[i % states.Length];
                Assert.Equal(target.Merge(deltas[i]), target.Merge(decoded[i]));
                Assert.Equal(deltas[i].Merge(target), decoded[i].Merge(target));
            }
        }, iter: Iterations);
    }

    [Fact]
    public void DecodeVersion_RandomVectors_RoundTrip()
    {
        var genVector = Gen.Select(Gen.String[Gen.Char.AlphaNumeric, 1, 12], Gen.ULong[1, ulong.MaxValue]).Array[0, 20]
            .Select(pairs => new VersionVector(pairs.DistinctBy(p => p.Item1).Select(p => KeyValuePair.Create(p.Item1, p.Item2))));

        genVector.Sample(vector =>
        {
            var bytes = CrdtCodec.EncodeVersion(vector);
            var decoded = CrdtCodec.DecodeVersion(bytes);
            Assert.Equal(vector, decoded);
            Assert.Equal(bytes, CrdtCodec.EncodeVersion(decoded));
        }, iter: Iterations);
        Assert.Equal(VersionVector.Empty, CrdtCodec.DecodeVersion(CrdtCodec.EncodeVersion(VersionVector.Empty)));
    }

    // ---- size ----

    [Fact]
    public void EncodeMap_HundredElementORSet_WithinTwiceTheElementsAndDots()
    {
        var ops = Enumerable.Range(0, 100).Select(i => (CrdtOp)new ORSetAdd(["backends"], $"10.0.{i / 16}.{i % 16}:8080")).ToList();
        var (map, _) = CrdtMap.Empty.Apply(ops, "node-1", 1);
        var set = map.GetORSet("backends")!;

        var payload = set.Entries.Sum(e => Encoding.UTF8.GetByteCount(e.Key) + e.Value.Sum(d => Encoding.UTF8.GetByteCount(d.Replica) + sizeof(ulong)));
        var encoded = CrdtCodec.EncodeMap(map);

        Assert.Equal(100, set.Count);
        Assert.True(encoded.Length <= 2 * payload, $"{encoded.Length} bytes for a payload of {payload}");
    }

    [Fact]
    public void EncodeMap_ReplicaNamesRepeatedInDots_WrittenOnce()
    {
        const string Replica = "a-rather-long-replica-name-0123456789";
        var ops = Enumerable.Range(0, 20).Select(i => (CrdtOp)new ORSetAdd(["s"], $"e{i}")).ToList();
        var (map, _) = CrdtMap.Empty.Apply(ops, Replica, 1);

        var encoded = CrdtCodec.EncodeMap(map);

        var text = Encoding.UTF8.GetString(encoded);
        Assert.Equal(1, (text.Length - text.Replace(Replica, string.Empty, StringComparison.Ordinal).Length) / Replica.Length);
    }

    // ---- malformed input ----

    public static TheoryData<string, byte[]> MalformedMaps()
    {
        var data = new TheoryData<string, byte[]>
        {
            { "empty", [] },
            { "not an int", Craft((ref MessagePackWriter w) => w.Write("x")) },
            { "version 2", Craft((ref MessagePackWriter w) => { w.Write(2); Header(ref w, []); }) },
            { "negative version", Craft((ref MessagePackWriter w) => w.Write(-1)) },
            { "truncated", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(0); }) },
            { "trailing bytes", Craft((ref MessagePackWriter w) => { Header(ref w, []); w.WriteArrayHeader(0); w.WriteNil(); }) },
            { "empty name", Craft((ref MessagePackWriter w) => { Header(ref w, [""]); w.WriteArrayHeader(0); }) },
            { "duplicate name", Craft((ref MessagePackWriter w) => { Header(ref w, ["a", "a"]); w.WriteArrayHeader(0); }) },
            { "nil name", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(1); w.WriteNil(); w.WriteMapHeader(0); w.WriteArrayHeader(0); w.WriteArrayHeader(0); }) },
            { "vector counter 0", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(1); w.Write("a"); w.WriteMapHeader(1); w.Write(0); w.Write(0); w.WriteArrayHeader(0); w.WriteArrayHeader(0); }) },
            { "vector index out of range", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(1); w.Write("a"); w.WriteMapHeader(1); w.Write(1); w.Write(3); w.WriteArrayHeader(0); w.WriteArrayHeader(0); }) },
            { "cloud dot counter 0", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"], cloud: [(0, 0)]); w.WriteArrayHeader(0); }) },
            { "cloud duplicate dot", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"], cloud: [(0, 5), (0, 5)]); w.WriteArrayHeader(0); }) },
            { "odd dot array", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(1); w.Write("a"); w.WriteMapHeader(0); w.WriteArrayHeader(1); w.Write(0); w.WriteArrayHeader(0); }) },
            { "negative counter", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"], cloud: [(0, -4)]); w.WriteArrayHeader(0); }) },
            { "unknown type tag", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", 8); w.WriteArrayHeader(0); }) },
            { "type tag 0", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", 0); w.WriteArrayHeader(0); }) },
            { "duplicate field", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); w.WriteArrayHeader(8); for (var i = 0; i < 2; i++) { w.Write("f"); w.Write(3); Dots(ref w, [(0, 1)]); Dots(ref w, [(0, 1)]); } }) },
            { "nil field name", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); w.WriteArrayHeader(4); w.WriteNil(); w.Write(3); Dots(ref w, []); Dots(ref w, []); }) },
            { "wrong value shape", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.LwwRegister); w.WriteArrayHeader(2); w.Write("v"); w.Write(1); }) },
            { "set element without dots", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.ORSet); w.WriteMapHeader(1); w.Write("e"); Dots(ref w, []); }) },
            { "duplicate set element", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.ORSet); w.WriteMapHeader(2); for (var i = 1; i <= 2; i++) { w.Write("e"); Dots(ref w, [(0, i)]); } }) },
            { "nil register value", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.MvRegister); w.WriteArrayHeader(3); w.Write(0); w.Write(1); w.WriteNil(); }) },
            { "duplicate counter replica", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.GCounter); w.WriteMapHeader(2); w.Write(0); w.Write(1); w.Write(0); w.Write(2); }) },
            { "huge name table", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(int.MaxValue); Filler(ref w); }) },
            { "huge vector", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(0); w.WriteMapHeader(int.MaxValue); Filler(ref w); }) },
            { "huge array32 count", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteRaw([0xdd, 0xff, 0xff, 0xff, 0xff]); Filler(ref w); }) },
            { "huge string", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteArrayHeader(1); w.WriteRaw([0xdb, 0x7f, 0xff, 0xff, 0xff]); Filler(ref w); }) },
            { "huge set", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); Slot(ref w, "f", (int)CrdtType.ORSet); w.WriteMapHeader(int.MaxValue); Filler(ref w); }) },
            { "huge dots", Craft((ref MessagePackWriter w) => { Header(ref w, ["a"]); w.WriteArrayHeader(4); w.Write("f"); w.Write(3); w.WriteArrayHeader(int.MaxValue - 1); Filler(ref w); }) },
        };

        data.Add("nested too deep", Craft((ref MessagePackWriter w) =>
        {
            Header(ref w, ["a"]);
            for (var i = 0; i <= CrdtCodec.MaxDepth; i++)
            {
                Slot(ref w, "m", (int)CrdtType.Map);
            }

            w.WriteArrayHeader(0);
        }));
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedMaps))]
    public void DecodeMap_MalformedInput_ThrowsCrdtCodecExceptionWithinBounds(string name, byte[] bytes)
    {
        var stopwatch = Stopwatch.StartNew();
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var ex = Assert.Throws<CrdtCodecException>(() => CrdtCodec.DecodeMap(bytes));

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.False(string.IsNullOrWhiteSpace(ex.Message), name);
        Assert.True(allocated < AllocationBound(bytes.Length), $"{name}: {allocated} bytes allocated for {bytes.Length} bytes of input");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"{name}: took {stopwatch.Elapsed}");
    }

    [Fact]
    public void DecodeMap_DeepestAllowedNesting_Decodes()
    {
        var path = Enumerable.Range(0, CrdtCodec.MaxDepth + 1).Select(i => $"m{i}").ToImmutableArray();
        var (map, _) = CrdtMap.Empty.Apply(new LwwSet(path, "deep"), "a", 1);

        var decoded = AssertRoundTrips(map);

        Assert.NotNull(decoded.Get("m0"));
    }

    [Fact]
    public void DecodeMap_ManySmallDots_AllocatesWithinBound()
    {
        // A valid input that is all dots: the most items per input byte the format allows.
        var bytes = Craft((ref MessagePackWriter w) =>
        {
            Header(ref w, ["a"], cloud: [.. Enumerable.Range(0, 300).Select(i => (0, 1000 + (2 * i)))]);
            w.WriteArrayHeader(0);
        });
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var map = CrdtCodec.DecodeMap(bytes);

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Equal(300, map.Context.Cloud.Count);
        Assert.True(allocated < AllocationBound(bytes.Length), $"{allocated} bytes allocated for {bytes.Length} bytes of input");
    }

    public static TheoryData<string, byte[]> MalformedVersions() => new()
    {
        { "empty", [] },
        { "version 0", Craft((ref MessagePackWriter w) => { w.Write(0); w.WriteMapHeader(0); }) },
        { "empty replica", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteMapHeader(1); w.Write(""); w.Write(1); }) },
        { "counter 0", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteMapHeader(1); w.Write("a"); w.Write(0); }) },
        { "duplicate replica", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteMapHeader(2); w.Write("a"); w.Write(1); w.Write("a"); w.Write(2); }) },
        { "trailing bytes", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteMapHeader(0); w.Write(1); }) },
        { "huge map", Craft((ref MessagePackWriter w) => { w.Write(1); w.WriteMapHeader(int.MaxValue); Filler(ref w); }) },
    };

    [Theory]
    [MemberData(nameof(MalformedVersions))]
    public void DecodeVersion_MalformedInput_ThrowsCrdtCodecException(string name, byte[] bytes)
    {
        var ex = Assert.Throws<CrdtCodecException>(() => CrdtCodec.DecodeVersion(bytes));
        Assert.False(string.IsNullOrWhiteSpace(ex.Message), name);
    }

    // ---- fuzz ----

    [Fact]
    public void DecodeMap_RandomBytes_OnlyThrowsCrdtCodecException()
    {
        Gen.Byte.Array[0, 1500].Sample(bytes =>
        {
            AssertDecodesSafely(bytes);
            AssertDecodesSafely([0x01, .. bytes]);
        }, iter: FuzzIterations);
    }

    [Fact]
    public void DecodeMap_MutatedValidEncodings_OnlyThrowsCrdtCodecException()
    {
        var samples = SampleEncodings();
        Gen.Select(Gen.Int[0, samples.Length - 1], Gen.Int[0, int.MaxValue].Array[3].Array[1, 6]).Sample((index, mutations) =>
        {
            AssertDecodesSafely(Mutate(samples[index], mutations));
        }, iter: FuzzIterations);
    }

    // ---- helpers ----

    private static CrdtMap AssertRoundTrips(CrdtMap map)
    {
        var bytes = CrdtCodec.EncodeMap(map);
        var decoded = CrdtCodec.DecodeMap(bytes);
        Assert.Equal(map, decoded);
        Assert.Equal(bytes, CrdtCodec.EncodeMap(decoded));
        return decoded;
    }

    private static long AllocationBound(int inputLength) => (64L * inputLength) + (1 << 20);

    private static void AssertDecodesSafely(byte[] bytes)
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            _ = CrdtCodec.DecodeMap(bytes);
        }
        catch (CrdtCodecException)
        {
        }

        try
        {
            _ = CrdtCodec.DecodeVersion(bytes);
        }
        catch (CrdtCodecException)
        {
        }

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(allocated < AllocationBound(bytes.Length), $"{allocated} bytes allocated for {bytes.Length} bytes of input");
    }

    private static byte[][] SampleEncodings()
    {
        var samples = new List<byte[]>();
        var random = new Random(7);
        for (var run = 0; run < 8; run++)
        {
            var steps = Enumerable.Range(0, 30).Select(_ => Enumerable.Range(0, 5).Select(_ => random.Next(1_000_000)).ToArray()).ToArray();
            var (states, deltas) = Simulate(steps);
            samples.AddRange(states.Concat(deltas.Take(4)).Select(CrdtCodec.EncodeMap));
            samples.AddRange(states.Select(s => CrdtCodec.EncodeVersion(s.Context.Vector)));
        }

        return [.. samples];
    }

    private static byte[] Mutate(byte[] original, int[][] mutations)
    {
        var bytes = new List<byte>(original);
        foreach (var m in mutations)
        {
            var position = bytes.Count == 0 ? 0 : m[1] % bytes.Count;
            switch (m[0] % 6)
            {
                case 0 when bytes.Count > 0:
                    bytes[position] ^= (byte)(1 << (m[2] % 8));
                    break;
                case 1:
                    bytes.RemoveRange(position, bytes.Count - position);
                    break;
                case 2:
                    bytes.Insert(position, (byte)m[2]);
                    break;
                case 3 when bytes.Count > 0:
                    bytes.RemoveAt(position);
                    break;
                case 4 when bytes.Count > 0:
                    bytes[position] = (byte)m[2];
                    break;
                case 5 when bytes.Count > 0:
                    // Headers that claim large counts: array32, map32, str32 markers.
                    bytes[position] = (byte)(0xdb + (m[2] % 3));
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>
    /// Three replicas apply random ops and deliver random earlier deltas to each other (out of order, so contexts get
    /// clouds and concurrent creations of one name with different types give several slots).
    /// </summary>
    private static (CrdtMap[] States, List<CrdtMap> Deltas) Simulate(int[][] steps)
    {
        var states = Replicas.Select(_ => CrdtMap.Empty).ToArray();
        var deltas = new List<CrdtMap>();
        for (var i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            var replica = s[0] % Replicas.Length;
            var kind = s[1] % 12;
            if (kind >= 10)
            {
                if (deltas.Count > 0)
                {
                    states[replica] = states[replica].Merge(deltas[s[2] % deltas.Count]);
                }

                continue;
            }

            var path = Paths[s[2] % Paths.Length];
            var element = $"10.0.0.{s[3] % 4}:80";
            var amount = (long)(s[4] % 2001) - 1000;
            CrdtOp op = kind switch
            {
                0 => new ORSetAdd(path, element),
                1 => new ORSetRemove(path, element),
                2 => new ORSetClear(path),
                3 => new LwwSet(path, s[3] % 5 == 0 ? null : element),
                4 => new MvSet(path, element),
                5 => new FlagEnable(path),
                6 => new FlagDisable(path),
                7 => new CounterAdd(path, amount),
                8 => new GCounterAdd(path, (ulong)Math.Abs(amount)),
                _ => new RemoveField(path),
            };

            try
            {
                (states[replica], var delta) = states[replica].Apply(op, Replicas[replica], timestamp: i);
                deltas.Add(delta);
            }
            catch (CrdtTypeMismatchException)
            {
            }
        }

        return (states, deltas);
    }

    private static KeyValuePair<CrdtFieldKey, CrdtMapEntry> Slot(string name, Dot[] presence, CrdtValue value) =>
        KeyValuePair.Create(new CrdtFieldKey(name, value.Type), new CrdtMapEntry(presence, value));

    private static byte[] Craft(Writing write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Version, name table, empty vector and the given cloud; the entries follow.</summary>
    private static void Header(ref MessagePackWriter w, string[] names, (int Index, long Counter)[]? cloud = null)
    {
        w.Write(1);
        w.WriteArrayHeader(names.Length);
        foreach (var name in names)
        {
            w.Write(name);
        }

        w.WriteMapHeader(0);
        Dots(ref w, cloud ?? []);
    }

    /// <summary>A one-slot entries array up to the value: name, type tag, empty presence.</summary>
    private static void Slot(ref MessagePackWriter w, string name, int tag)
    {
        w.WriteArrayHeader(4);
        w.Write(name);
        w.Write(tag);
        Dots(ref w, []);
    }

    private static void Dots(ref MessagePackWriter w, (int Index, long Counter)[] dots)
    {
        w.WriteArrayHeader(dots.Length * 2);
        foreach (var (index, counter) in dots)
        {
            w.Write(index);
            w.Write(counter);
        }
    }

    private static void Filler(ref MessagePackWriter w) => w.WriteRaw(Enumerable.Repeat((byte)0x01, 1024).ToArray());
}
