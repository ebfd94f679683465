using BenchmarkDotNet.Attributes;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Benchmarks;

/// <summary>
/// <see cref="CrdtCodec"/> on a delta (one endpoint added by node-2, as broadcast) and on the typical value it lands in
/// (20 endpoints and an owner register; the store encodes the whole value to persist it on every update and every
/// merged delta), plus the delta's wire message (<see cref="KvReplication.EncodeDelta"/>: key, writer, counter, delta).
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class CrdtCodecBenchmarks
{
    private readonly KvKey _key = KvKey.Parse("lb/vips/svc-0:80");
    private CrdtMap _value = CrdtMap.Empty;
    private CrdtMap _delta = CrdtMap.Empty;
    private byte[] _valueBytes = [];
    private byte[] _deltaBytes = [];

    [GlobalSetup]
    public void Setup()
    {
        _value = KvBenchStores.TypicalValue("node-1");
        (_, _delta) = _value.Apply(new ORSetAdd(KvBenchStores.Endpoints, "10.255.255.1:8080"), "node-2", 1_700_000_001_000);
        _valueBytes = CrdtCodec.EncodeMap(_value);
        _deltaBytes = CrdtCodec.EncodeMap(_delta);
        Console.WriteLine($"// encoded: delta {_deltaBytes.Length} B, delta message {KvReplication.EncodeDelta(_key, "node-2", 42, _delta).Length} B, value {_valueBytes.Length} B");
    }

    [Benchmark]
    public byte[] EncodeDelta() => CrdtCodec.EncodeMap(_delta);

    [Benchmark]
    public CrdtMap DecodeDelta() => CrdtCodec.DecodeMap(_deltaBytes);

    [Benchmark]
    public byte[] EncodeDeltaMessage() => KvReplication.EncodeDelta(_key, "node-2", 42, _delta);

    [Benchmark]
    public byte[] EncodeValue() => CrdtCodec.EncodeMap(_value);

    [Benchmark]
    public CrdtMap DecodeValue() => CrdtCodec.DecodeMap(_valueBytes);
}
