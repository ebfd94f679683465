using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;
using Lashup.Plugins.Core.Tests.Store;
using Lashup.TestSupport.Conformance;

namespace Lashup.Plugins.Core.Tests.Conformance;

/// <summary>
/// The core's store (SQLite in a temporary folder, as in the daemon) held to the conformance suite the kit's
/// in-memory store passes (InMemoryReplicatedStoreConformanceTests). <see cref="Sync"/> is anti-entropy's merge of a
/// whole entry (<see cref="KvStore.MergeEntry"/>).
/// </summary>
public sealed class KvStoreConformanceTests : ReplicatedStoreConformance, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kv-conformance-").FullName;
    private readonly List<KvStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
    }

    protected override async Task<IReplicatedStore> CreateStoreAsync(string replica, int maxValueBytes)
    {
        var store = TestStores.Create(replica, Path.Combine(_dir, replica), new CoreOptions { MaxValueSize = maxValueBytes }, cluster: "conformance");
        _stores.Add(store);
        await store.StartAsync(CancellationToken.None);
        return store;
    }

    protected override void Sync(IReplicatedStore from, IReplicatedStore to, KvKey key)
    {
        var entry = ((KvStore)from).GetRaw(key) ?? throw new InvalidOperationException($"{key} is not in the source store");
        ((KvStore)to).MergeEntry(key, entry.Map, entry.Version);
    }

    /// <summary>The store's identity (<c>node~incarnation</c>), not its node's name.</summary>
    protected override string ReplicaOf(IReplicatedStore store) => ((KvStore)store).ReplicaName;
}
