using System.Collections.Immutable;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core;
using Lashup.Plugins.Core.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Lashup.Benchmarks;

/// <summary>Where a benchmark's store keeps its entries.</summary>
public enum KvPersistence
{
    /// <summary>The daemon's SQLite file (WAL, <c>synchronous = FULL</c>: every write fsyncs), in a temporary folder.</summary>
    Sqlite,

    /// <summary>Rows in memory, as the simulator keeps them: the store's CPU cost without the disk.</summary>
    Memory,
}

/// <summary>The simulator's in-memory "disk" (<c>tests/Lashup.Simulator/SimReplica.cs</c>): a sorted dictionary of rows.</summary>
internal sealed class MemoryKvPersistence : IKvPersistence
{
    private readonly SortedDictionary<string, (byte[] Value, byte[] Version)> _rows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _meta = new(StringComparer.Ordinal);

    public string Path => "memory";

    public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll() => [.. _rows.Select(r => (r.Key, r.Value.Value, r.Value.Version))];

    public void Put(string key, byte[] value, byte[] version) => _rows[key] = (value, version);

    public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta)
    {
        foreach (var (key, value, version) in rows)
        {
            _rows[key] = (value, version);
        }

        foreach (var (name, value) in meta)
        {
            _meta[name] = value;
        }
    }

    public void Delete(string key) => _rows.Remove(key);

    public void Reset(IReadOnlyList<(string Name, string Value)> meta)
    {
        _rows.Clear();
        _meta.Clear();
        foreach (var (name, value) in meta)
        {
            _meta[name] = value;
        }
    }

    public string? GetMeta(string name) => _meta.GetValueOrDefault(name);

    public void PutMeta(string name, string value) => _meta[name] = value;

    public void Dispose()
    {
    }
}

/// <summary>Stores and values shared by the store benchmarks: typical values are an OR-set of 20 endpoints and an owner register.</summary>
internal static class KvBenchStores
{
    public const int EndpointCount = 20;

    public static readonly ImmutableArray<string> Endpoints = ["endpoints"];

    public static readonly ImmutableArray<string> Owner = ["owner"];

    /// <summary>Opens a store of <paramref name="node"/> in <paramref name="directory"/> (its SQLite file goes in <c>core/kv.db</c>).</summary>
    public static KvStore Open(string node, KvPersistence persistence, string directory, IKvBroadcast? broadcast = null)
    {
        var store = new KvStore(
            Options.Create(new CoreOptions()), new NodeInfo(node, "bench", directory), TimeProvider.System, NullLoggerFactory.Instance,
            new NoDepartures(), broadcast ?? new EncodedDeltas(),
            persistence == KvPersistence.Memory ? () => new MemoryKvPersistence() : null);
        store.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        return store;
    }

    /// <summary>Gives <paramref name="count"/> keys a typical value each (one update per key).</summary>
    public static KvKey[] Fill(KvStore store, int count)
    {
        var keys = new KvKey[count];
        for (var i = 0; i < count; i++)
        {
            keys[i] = KvKey.Parse($"lb/vips/svc-{i}:80");
            store.UpdateAsync(keys[i], TypicalValueOps(i)).AsTask().GetAwaiter().GetResult();
        }

        return keys;
    }

    /// <summary>The ops that build a typical value: 20 endpoints and an owner.</summary>
    public static IReadOnlyList<CrdtOp> TypicalValueOps(int i)
    {
        var ops = new List<CrdtOp>(EndpointCount + 1);
        for (var e = 0; e < EndpointCount; e++)
        {
            ops.Add(new ORSetAdd(Endpoints, $"10.{i / 250 % 250}.{i % 250}.{e + 1}:8080"));
        }

        ops.Add(new LwwSet(Owner, "team-a"));
        return ops;
    }

    /// <summary>A typical value, written by <paramref name="node"/>.</summary>
    public static CrdtMap TypicalValue(string node) => CrdtMap.Empty.Apply(TypicalValueOps(0), node, 1_700_000_000_000).Value;
}

/// <summary>A departure record with nobody departed (the benchmarks run one store, or two that never prune).</summary>
internal sealed class NoDepartures : IDepartureRecord
{
    public Lashup.Plugins.Core.Protocol.DepartureSnapshot Departures => Lashup.Plugins.Core.Protocol.DepartureSnapshot.Empty;

    public bool HasMajority => true;

    public bool Settled => true;

    public void PublishReplica(string replica, string? previous)
    {
    }

    public void Retire(string replica)
    {
    }

    public void Mention(IReadOnlyCollection<string> replicas)
    {
    }
}

/// <summary>Keeps each local update's delta as the wire message a peer would receive (<see cref="KvReplication.EncodeDelta"/>).</summary>
internal sealed class EncodedDeltas : IKvBroadcast
{
    public List<byte[]> Messages { get; } = [];

    public bool Delta(KvKey key, string writer, ulong counter, CrdtMap delta)
    {
        Messages.Add(KvReplication.EncodeDelta(key, writer, counter, delta));
        return true;
    }

    public bool Entry(KvEntry entry, string sender) => true;
}
