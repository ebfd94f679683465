using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Testing.Tests.LoadBalancing;

public sealed class RecordingLoadBalancerBackendTests
{
    private static readonly VipKey Vip = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly VipBackend A = new(IPEndPoint.Parse("10.1.0.1:80"), "node-1", 1);

    [Fact]
    public async Task Apply_Drift_Reconcile_RecordsAndRepairs()
    {
        var backend = new RecordingLoadBalancerBackend();
        var table = LoadBalancerTable.From([new VipEntry(Vip, [A])]);

        await backend.ApplyAsync(LoadBalancerDelta.Between(LoadBalancerTable.Empty, table), default);
        Assert.Equal(table.Vips, backend.Programmed.Vips);
        Assert.True(backend.Describe(Vip)!.Programmed);

        backend.Drift(_ => LoadBalancerTable.Empty);
        Assert.Null(backend.Describe(Vip));
        Assert.Equal(1, await backend.ReconcileAsync(table, default));
        Assert.Equal(0, await backend.ReconcileAsync(table, default));
        Assert.Equal([LoadBalancerCallKind.Apply, LoadBalancerCallKind.Reconcile, LoadBalancerCallKind.Reconcile], backend.Calls.Select(c => c.Kind));

        backend.Refuse(Vip, "port in use");
        Assert.Equal("port in use", backend.Describe(Vip)!.Reason);
        await backend.ClearAsync(default);
        Assert.Empty(backend.Programmed.Vips);
    }

    [Fact]
    public async Task EnsureSupported_Unsupported_Throws_AndWaitUntil_SeesLaterCalls()
    {
        var backend = new RecordingLoadBalancerBackend { UnsupportedMessage = "no IPVS in this kernel" };
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.EnsureSupportedAsync(default));
        Assert.Equal("no IPVS in this kernel", error.Message);

        var waiting = backend.WaitUntilAsync(b => b.CallsOf(LoadBalancerCallKind.Clear).Length == 1, TimeSpan.FromSeconds(10));
        await backend.ClearAsync(default);
        Assert.True(await waiting);
        Assert.False(await backend.WaitUntilAsync(b => b.CallsOf(LoadBalancerCallKind.Apply).Length > 0, TimeSpan.FromMilliseconds(50)));
    }
}
