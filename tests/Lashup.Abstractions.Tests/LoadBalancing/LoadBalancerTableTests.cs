using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Abstractions.Tests.LoadBalancing;

public sealed class LoadBalancerTableTests
{
    private static readonly VipKey Vip1 = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly VipKey Vip2 = new(IPAddress.Parse("10.0.0.2"), 80, TransportProtocol.Tcp);
    private static readonly VipBackend A = new(IPEndPoint.Parse("10.1.0.1:80"), "node-1", 1);
    private static readonly VipBackend B = new(IPEndPoint.Parse("10.1.0.2:80"), "node-2", 1);

    [Fact]
    public void VipEntry_EqualByValue_InAnyOrder()
    {
        var one = new VipEntry(Vip1, [A, B]);
        var same = new VipEntry(Vip1, ImmutableArray.Create(B, A));

        Assert.Equal(one, same);
        Assert.Equal(one.GetHashCode(), same.GetHashCode());
        Assert.NotEqual(one, new VipEntry(Vip1, [A, B with { Weight = 0 }]));
        Assert.NotEqual(one, new VipEntry(Vip1, [A]));
        Assert.NotEqual(one, new VipEntry(Vip2, [A, B]));
        Assert.Equal(new VipEntry(Vip1, default), new VipEntry(Vip1, []));
    }

    [Fact]
    public void Between_OnlyWhatDiffers()
    {
        var before = LoadBalancerTable.From([new VipEntry(Vip1, [A, B]), new VipEntry(Vip2, [A])]);
        var rebuilt = LoadBalancerTable.From([new VipEntry(Vip1, [B, A])]);

        Assert.True(LoadBalancerDelta.Between(before, before with { }).IsEmpty);
        var removal = LoadBalancerDelta.Between(before, rebuilt);
        Assert.Empty(removal.Upserted);
        Assert.Equal<VipKey>([Vip2], removal.Removed);

        var weighted = LoadBalancerTable.From([new VipEntry(Vip1, [A, B with { Weight = 0 }]), new VipEntry(Vip2, [A])]);
        var change = LoadBalancerDelta.Between(before, weighted);
        Assert.Equal<VipEntry>([new VipEntry(Vip1, [A, B with { Weight = 0 }])], change.Upserted);
        Assert.Empty(change.Removed);
        Assert.Same(weighted, change.Table);
    }
}
