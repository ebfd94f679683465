using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.TestSupport.Conformance;

namespace Lashup.Testing.Tests.Conformance;

/// <summary>The kit's membership held to the conformance suite the core's passes (CoreRuntimeMembershipConformanceTests).</summary>
public sealed class FakeClusterMembershipConformanceTests : ClusterMembershipConformance
{
    protected override int WatchBacklog => 16;

    protected override Task<IClusterMembership> StartAsync(string localName) =>
        Task.FromResult<IClusterMembership>(new FakeClusterMembership(localName) { WatchBacklog = WatchBacklog });

    protected override Task JoinAsync(IClusterMembership membership, string name)
    {
        ((FakeClusterMembership)membership).AddMember(name, new IPEndPoint(IPAddress.Loopback, 7480));
        return Task.CompletedTask;
    }

    protected override Task LeaveAsync(IClusterMembership membership, string name)
    {
        ((FakeClusterMembership)membership).SetState(name, MemberState.Left);
        return Task.CompletedTask;
    }
}
