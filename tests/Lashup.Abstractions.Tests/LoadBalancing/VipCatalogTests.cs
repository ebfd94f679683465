using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Testing;

namespace Lashup.Abstractions.Tests.LoadBalancing;

public sealed class VipCatalogTests
{
    private static readonly VipId Web = VipId.ForName("web", 80, TransportProtocol.Tcp);
    private static readonly IPEndPoint A = IPEndPoint.Parse("10.0.0.5:8080");
    private static readonly IPEndPoint B = IPEndPoint.Parse("10.0.0.6:8080");

    [Fact]
    public void KeyOf_IsTheKeyText_AndIdOfReadsItBack()
    {
        var key = VipCatalog.KeyOf(Web);

        Assert.Equal("lb/vips/tcp/web:80", key.Value);
        Assert.Equal(Web, VipCatalog.IdOf(key));
        Assert.Equal("lb/vips/udp/[fd00::1]:53", VipCatalog.KeyOf(VipId.ForAddress(IPAddress.Parse("fd00::1"), 53, TransportProtocol.Udp)).Value);
        Assert.Null(VipCatalog.IdOf(KvKey.Parse("lb/vips/tcp/WEB:80")));
        Assert.Null(VipCatalog.IdOf(KvKey.Parse("lb/vips/sctp/web:80")));
        Assert.Null(VipCatalog.IdOf(KvKey.Parse("lb/vips/tcp")));
    }

    [Fact]
    public async Task SetBackend_ThenRead_BackendsServiceAndUpdates()
    {
        var store = new InMemoryReplicatedStore();
        var key = VipCatalog.KeyOf(Web);
        await store.UpdateAsync(key, VipCatalog.Declare());
        await store.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(B, "node-2", 1)));
        await store.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(A, "node-1", 5)));
        await store.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(A, "node-1", 0)));
        var entry = await store.UpdateAsync(key, VipCatalog.SetService(new VipServiceRef("shop", 8080)));

        var vip = VipCatalog.Read(entry, out var malformed);

        Assert.Equal(0, malformed);
        Assert.Equal(Web, vip!.Id);
        Assert.Equal<VipBackend>([new VipBackend(A, "node-1", 0), new VipBackend(B, "node-2", 1)], vip.Backends);
        Assert.Equal(new VipServiceRef("shop", 8080), vip.Service);
    }

    [Fact]
    public async Task Declare_AloneMakesAVip_RemoveDeletesIt()
    {
        var store = new InMemoryReplicatedStore();
        var key = VipCatalog.KeyOf(Web);
        var declared = await store.UpdateAsync(key, VipCatalog.Declare());
        Assert.Empty(VipCatalog.Read(declared, out _)!.Backends);

        await store.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(A, "node-1", 1)));
        var removed = await store.UpdateAsync(key, VipCatalog.Remove(store.Get(key)!.Value));

        Assert.True(removed.IsEmpty);
        Assert.Null(VipCatalog.Read(removed, out _));
    }

    [Fact]
    public async Task RemoveBackend_ConcurrentReAddElsewhere_Wins()
    {
        var here = new InMemoryReplicatedStore("node-1");
        var there = new InMemoryReplicatedStore("node-2");
        var key = VipCatalog.KeyOf(Web);
        there.MergeRemote(await here.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(A, "node-1", 1))));

        await here.UpdateAsync(key, VipCatalog.RemoveBackend(A));
        await there.UpdateAsync(key, VipCatalog.SetBackend(new VipBackend(A, "node-1", 2)));
        here.MergeRemote(there.Get(key)!);
        there.MergeRemote(here.Get(key)!);

        Assert.Equal<VipBackend>([new VipBackend(A, "node-1", 2)], VipCatalog.Read(here.Get(key)!, out _)!.Backends);
        Assert.Equal<VipBackend>([new VipBackend(A, "node-1", 2)], VipCatalog.Read(there.Get(key)!, out _)!.Backends);
    }

    [Fact]
    public async Task Read_MalformedParts_SkippedAndCounted()
    {
        var store = new InMemoryReplicatedStore();
        var key = VipCatalog.KeyOf(Web);
        var entry = await store.UpdateAsync(key,
        [
            .. VipCatalog.SetBackend(new VipBackend(A, "node-1", 1)),
            new LwwSet(["backends", "not-an-endpoint", "node"], "node-1"),
            new LwwSet(["backends", "not-an-endpoint", "weight"], "1"),
            new LwwSet(["backends", "10.0.0.7:80", "weight"], "1"),
            new LwwSet(["backends", "10.0.0.8:80", "node"], "node-1"),
            new LwwSet(["backends", "10.0.0.8:80", "weight"], "1001"),
            new LwwSet(["service"], "shop"),
        ]);

        var vip = VipCatalog.Read(entry, out var malformed);

        Assert.Equal<VipBackend>([new VipBackend(A, "node-1", 1)], vip!.Backends);
        Assert.Null(vip.Service);
        Assert.Equal(4, malformed);
    }

    [Fact]
    public void SetBackend_BadWeightOrNode_Throws()
    {
        Assert.Throws<ArgumentException>(() => VipCatalog.SetBackend(new VipBackend(A, "node-1", 1001)));
        Assert.Throws<ArgumentException>(() => VipCatalog.SetBackend(new VipBackend(A, "", 1)));
    }

    [Theory]
    [InlineData("web", 80, "web:80")]
    [InlineData("Web:8080", 80, "web:8080")]
    public void VipServiceRef_Parse(string text, int defaultPort, string stored)
    {
        Assert.True(VipServiceRef.TryParse(text, (ushort)defaultPort, out var service, out _));
        Assert.Equal(stored, service!.ToString());
    }

    [Theory]
    [InlineData("node")]
    [InlineData("web:0")]
    [InlineData("web:x")]
    [InlineData("")]
    public void VipServiceRef_Invalid(string text) => Assert.False(VipServiceRef.TryParse(text, 80, out _, out _));

    [Fact]
    public async Task VipNames_ClaimCarriesItsTimestamp_ReleaseEmptiesIt()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));
        var store = new InMemoryReplicatedStore("node-1", time);
        var claimed = await store.UpdateAsync(VipNames.KeyOf("web"), VipNames.SetAddress(IPAddress.Parse("10.200.0.7")));

        Assert.Equal(new VipNameClaim("web", IPAddress.Parse("10.200.0.7"), 1_000_000), VipNames.ReadClaim(claimed));
        Assert.Equal("web", VipNames.NameOf(claimed.Key));

        var released = await store.UpdateAsync(VipNames.KeyOf("web"), VipNames.Release());
        Assert.Null(VipNames.ReadClaim(released));
        Assert.Null(VipNames.Read(released));
    }
}
