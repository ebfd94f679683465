using Lashup.Abstractions.Data;
using Lashup.TestSupport.Conformance;

namespace Lashup.Testing.Tests.Conformance;

/// <summary>The kit's store held to the conformance suite the core's store passes (KvStoreConformanceTests).</summary>
public sealed class InMemoryReplicatedStoreConformanceTests : ReplicatedStoreConformance
{
    protected override Task<IReplicatedStore> CreateStoreAsync(string replica, int maxValueBytes) =>
        Task.FromResult<IReplicatedStore>(new InMemoryReplicatedStore(replica) { MaxValueBytes = maxValueBytes });

    protected override void Sync(IReplicatedStore from, IReplicatedStore to, KvKey key) =>
        ((InMemoryReplicatedStore)to).MergeRemote(from.Get(key)!);

    protected override string ReplicaOf(IReplicatedStore store) => ((InMemoryReplicatedStore)store).Replica;
}
