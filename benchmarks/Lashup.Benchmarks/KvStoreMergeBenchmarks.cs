using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Store;

namespace Lashup.Benchmarks;

/// <summary>
/// Incoming deltas on one node: <see cref="KvReplication.Receive"/> of a <c>kv.delta</c> message (decode, then
/// <see cref="KvStore.MergeDelta"/>, which encodes and persists the merged value), the path the replication worker takes
/// for every delta another node broadcasts. The deltas are real: another store (node-2) makes the updates and its
/// deltas are encoded as it broadcasts them, before each iteration; the receiver holds the same 1,000 typical values.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BatchConfig))]
public class KvStoreMergeBenchmarks
{
    private const int KeyCount = 1000;
    private const int Batch = 8192;
    private readonly IReadOnlyList<CrdtOp>[] _setOwner = [[new LwwSet(KvBenchStores.Owner, "team-b")], [new LwwSet(KvBenchStores.Owner, "team-c")]];
    private readonly IReadOnlyList<CrdtOp> _add = [new ORSetAdd(KvBenchStores.Endpoints, "10.255.255.1:8080")];
    private readonly IReadOnlyList<CrdtOp> _remove = [new ORSetRemove(KvBenchStores.Endpoints, "10.255.255.1:8080")];
    private readonly EncodedDeltas _sink = new();
    private string _directory = "";
    private KvStore _writer = null!;
    private KvStore _store = null!;
    private KvReplication _replication = null!;
    private KvKey[] _keys = [];
    private long _expectedMerged;
    private int _next;

    [ParamsAllValues]
    public KvPersistence Persistence { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("lashup-bench-").FullName;
        _writer = KvBenchStores.Open("node-2", KvPersistence.Memory, Path.Combine(_directory, "node-2"), _sink);
        _store = KvBenchStores.Open("node-1", Persistence, Path.Combine(_directory, "node-1"));
        _replication = new KvReplication(_store, new NoNetwork(), new NoDepartures(), new Random(1));
        _keys = KvBenchStores.Fill(_writer, KeyCount);
        Deliver();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [IterationSetup(Target = nameof(LwwSet))]
    public void NextLwwSets()
    {
        Check();
        for (var n = 0; n < Batch; n++, _next++)
        {
            _ = _writer.UpdateAsync(_keys[_next % KeyCount], _setOwner[_next / KeyCount & 1]).Result;
        }
    }

    [IterationSetup(Target = nameof(ORSetAddThenRemove))]
    public void NextAddsAndRemoves()
    {
        Check();
        for (var n = 0; n < Batch; n += 2, _next++)
        {
            var key = _keys[_next % KeyCount];
            _ = _writer.UpdateAsync(key, _add).Result;
            _ = _writer.UpdateAsync(key, _remove).Result;
        }
    }

    /// <summary>Deltas that set the owner register of a key (the value keeps its size).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void LwwSet() => Deliver();

    /// <summary>Pairs of deltas: one adds a 21st endpoint to a key, the next removes it.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void ORSetAddThenRemove() => Deliver();

    private void Deliver()
    {
        foreach (var delta in _sink.Messages)
        {
            _replication.Receive(KvReplication.DeltaTopic, "node-2", delta);
        }

        _expectedMerged += _sink.Messages.Count;
        _sink.Messages.Clear();
    }

    /// <summary>Every delta so far must have been merged (none skipped, none malformed): otherwise the figures are not merges.</summary>
    private void Check()
    {
        if (_store.Stats.DeltasMerged != _expectedMerged || _store.Stats.DeltasSkipped != 0 || _store.Stats.BadMessages != 0)
        {
            throw new InvalidOperationException(
                $"{_store.Stats.DeltasMerged} deltas merged of {_expectedMerged}, {_store.Stats.DeltasSkipped} skipped, {_store.Stats.BadMessages} malformed");
        }
    }

    /// <summary>A fixed number of invocations per iteration, each a batch of fresh deltas made in the iteration's setup.</summary>
    private sealed class BatchConfig : ManualConfig
    {
        public BatchConfig() =>
            AddJob(Job.Default.WithWarmupCount(2).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1).WithId("Batch"));
    }

    private sealed class NoNetwork : IReplicationNetwork
    {
        public string LocalName => "node-1";

        public int MaxPayloadSize => 60_000;

        public IReadOnlyCollection<Lashup.Abstractions.Cluster.Member> Members => [];

        public void Broadcast(string topic, ReadOnlyMemory<byte> payload)
        {
        }

        public void SendDirect(string node, string topic, byte[] payload)
        {
        }

        public ValueTask<IReadOnlyList<string>> ActiveNeighborsAsync() => ValueTask.FromResult<IReadOnlyList<string>>([]);
    }
}
