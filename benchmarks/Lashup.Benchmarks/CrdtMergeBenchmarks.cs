using BenchmarkDotNet.Attributes;
using Lashup.Abstractions.Data;
using Lashup.Crdt;

namespace Lashup.Benchmarks;

/// <summary>
/// The CRDT work of one update, without the store: <see cref="CrdtMap.Merge"/> of another replica's delta into a typical
/// value (an OR-set of 20 endpoints and an owner register), and <see cref="CrdtMap.Apply(CrdtOp, string, long)"/> of a
/// local op (which makes the new value and its delta).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class CrdtMergeBenchmarks
{
    private const long Now = 1_700_000_001_000;
    private readonly CrdtOp _add = new ORSetAdd(KvBenchStores.Endpoints, "10.255.255.1:8080");
    private readonly CrdtOp _set = new LwwSet(KvBenchStores.Owner, "team-b");
    private CrdtMap _value = CrdtMap.Empty;
    private CrdtMap _addDelta = CrdtMap.Empty;
    private CrdtMap _removeDelta = CrdtMap.Empty;
    private CrdtMap _setDelta = CrdtMap.Empty;
    private CrdtMap _withAdded = CrdtMap.Empty;

    [GlobalSetup]
    public void Setup()
    {
        _value = KvBenchStores.TypicalValue("node-1");
        (_withAdded, _addDelta) = _value.Apply(_add, "node-2", Now);
        (_, _removeDelta) = _withAdded.Apply(new ORSetRemove(KvBenchStores.Endpoints, "10.255.255.1:8080"), "node-2", Now);
        (_, _setDelta) = _value.Apply(_set, "node-2", Now);
    }

    /// <summary>Another replica's delta adding a 21st endpoint.</summary>
    [Benchmark]
    public CrdtMap MergeORSetAdd() => _value.Merge(_addDelta);

    /// <summary>Another replica's delta removing that endpoint again, merged into the value that holds it.</summary>
    [Benchmark]
    public CrdtMap MergeORSetRemove() => _withAdded.Merge(_removeDelta);

    /// <summary>Another replica's delta setting the owner register.</summary>
    [Benchmark]
    public CrdtMap MergeLwwSet() => _value.Merge(_setDelta);

    /// <summary>A local add of a 21st endpoint: the new value and its delta.</summary>
    [Benchmark]
    public CrdtMap ApplyORSetAdd() => _value.Apply(_add, "node-1", Now).Delta;

    /// <summary>A local write of the owner register: the new value and its delta.</summary>
    [Benchmark]
    public CrdtMap ApplyLwwSet() => _value.Apply(_set, "node-1", Now).Delta;
}
