using BenchmarkDotNet.Attributes;
using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Store;

namespace Lashup.Benchmarks;

/// <summary>
/// Local updates on one node (<see cref="KvStore.UpdateAsync"/>, as <c>PUT /v1/kv</c> calls it), on 1,000 keys holding a
/// typical value (20 endpoints in an OR-set, an owner register), with the daemon's SQLite persistence (each update is
/// fsynced before it returns) and with in-memory rows (the store's CPU cost alone). No replication attached: the
/// delta's encoding is measured by <see cref="CrdtCodecBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class KvStoreUpdateBenchmarks
{
    private const int KeyCount = 1000;
    private const int Writers = 8;
    private const int ConcurrentUpdates = 64;
    private readonly IReadOnlyList<CrdtOp>[] _setOwner = [[new LwwSet(KvBenchStores.Owner, "team-b")], [new LwwSet(KvBenchStores.Owner, "team-c")]];
    private readonly IReadOnlyList<CrdtOp> _add = [new ORSetAdd(KvBenchStores.Endpoints, "10.255.255.1:8080")];
    private readonly IReadOnlyList<CrdtOp> _remove = [new ORSetRemove(KvBenchStores.Endpoints, "10.255.255.1:8080")];
    private string _directory = "";
    private KvStore _store = null!;
    private KvKey[] _keys = [];
    private int _next;
    private int _minWorkers;
    private int _minIo;

    [ParamsAllValues]
    public KvPersistence Persistence { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("lashup-bench-").FullName;
        _store = KvBenchStores.Open("node-1", Persistence, _directory);
        _keys = KvBenchStores.Fill(_store, KeyCount);

        // Parallel.For below must get its 8 writers at once, not through the thread pool's slow injection.
        ThreadPool.GetMinThreads(out _minWorkers, out _minIo);
        ThreadPool.SetMinThreads(Math.Max(_minWorkers, Writers * 2), _minIo);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        ThreadPool.SetMinThreads(_minWorkers, _minIo);
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Sets the owner register of the next key (the value keeps its size).</summary>
    [Benchmark]
    public KvEntry LwwSet()
    {
        var i = _next++;
        return _store.UpdateAsync(_keys[i % KeyCount], _setOwner[i & 1]).Result;
    }

    /// <summary>Adds a 21st endpoint to the next key, then removes it: two updates.</summary>
    [Benchmark(OperationsPerInvoke = 2)]
    public KvEntry ORSetAddThenRemove()
    {
        var key = _keys[_next++ % KeyCount];
        _ = _store.UpdateAsync(key, _add).Result;
        return _store.UpdateAsync(key, _remove).Result;
    }

    /// <summary>64 owner updates on distinct keys from 8 threads at once: what concurrent clients get.</summary>
    [Benchmark(OperationsPerInvoke = ConcurrentUpdates)]
    public void LwwSetEightWriters()
    {
        var start = _next;
        _next += ConcurrentUpdates;
        Parallel.For(0, ConcurrentUpdates, new ParallelOptions { MaxDegreeOfParallelism = Writers }, j =>
        {
            var i = start + j;
            _ = _store.UpdateAsync(_keys[i % KeyCount], _setOwner[i & 1]).Result;
        });
    }
}
