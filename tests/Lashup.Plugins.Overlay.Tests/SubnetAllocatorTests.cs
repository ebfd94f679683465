using System.Net;
using Lashup.Abstractions.Overlay;

namespace Lashup.Plugins.Overlay.Tests;

public sealed class SubnetAllocatorTests
{
    private static readonly SubnetAllocator Allocator = new(IPNetwork.Parse("10.240.0.0/16"), 24);

    private static OverlayClaim Claim(string node, string subnet, long at) =>
        new(node, IPNetwork.Parse(subnet), at, IPAddress.Parse("192.168.1.1"), null, null);

    [Fact]
    public void FirstFree_IsAHashOfTheName_ThenTheNextFree_Wrapping()
    {
        var first = Allocator.FirstFree("node-1", new HashSet<IPNetwork>())!.Value;
        Assert.True(Allocator.IsSubnet(first));
        Assert.Equal(first, Allocator.FirstFree("node-1", new HashSet<IPNetwork>()));

        var next = Allocator.FirstFree("node-1", new HashSet<IPNetwork> { first })!.Value;
        var index = (first.BaseAddress.GetAddressBytes()[2] + 1) % 256;
        Assert.Equal(IPNetwork.Parse($"10.240.{index}.0/24"), next);

        var small = new SubnetAllocator(IPNetwork.Parse("10.240.0.0/23"), 24);
        Assert.Null(small.FirstFree("x", new HashSet<IPNetwork> { IPNetwork.Parse("10.240.0.0/24"), IPNetwork.Parse("10.240.1.0/24") }));
    }

    [Fact]
    public void Resolve_EarlierClaimWins_ThenLowerName_OutsideTheRangeSetApart()
    {
        var (winners, invalid) = Allocator.Resolve([
            Claim("node-b", "10.240.1.0/24", 100),
            Claim("node-a", "10.240.1.0/24", 200),
            Claim("node-d", "10.240.2.0/24", 100),
            Claim("node-c", "10.240.2.0/24", 100),
            Claim("node-e", "10.99.0.0/24", 1),
            Claim("node-f", "10.240.3.0/25", 1),
        ]);

        Assert.Equal("node-b", winners[IPNetwork.Parse("10.240.1.0/24")].Node);
        Assert.Equal("node-c", winners[IPNetwork.Parse("10.240.2.0/24")].Node);
        Assert.Equal(["node-e", "node-f"], invalid.Select(c => c.Node));
    }

    [Theory]
    [InlineData("10.240.0.0/16", 16)]
    [InlineData("10.240.0.0/16", 31)]
    public void APrefixThatDoesNotFit_IsRefused(string range, int prefix) =>
        Assert.Throws<ArgumentException>(() => new SubnetAllocator(IPNetwork.Parse(range), prefix));

    [Fact]
    public void Catalog_WritesAndReads_AClaim_AndSkipsMalformedOnes()
    {
        var store = new Lashup.Testing.InMemoryReplicatedStore("node-1");
        var claim = new OverlayClaim("node-1", IPNetwork.Parse("10.240.7.0/24"), 1234, IPAddress.Parse("192.168.1.1"), IPAddress.Parse("10.240.7.0"), OverlayCatalog.VtepMacOf("node-1"));
        var entry = store.ApplyRemote("node-1", OverlayCatalog.KeyOf("node-1"), OverlayCatalog.Write(claim));

        Assert.Equal(claim, OverlayCatalog.Read(entry, out var malformed));
        Assert.False(malformed);
        var mac = OverlayCatalog.VtepMacOf("node-1").GetAddressBytes();
        Assert.Equal(0x02, mac[0] & 0x03);
        Assert.Equal(OverlayCatalog.VtepMacOf("node-1"), OverlayCatalog.VtepMacOf("node-1"));
        Assert.NotEqual(OverlayCatalog.VtepMacOf("node-1"), OverlayCatalog.VtepMacOf("node-2"));

        var bad = store.ApplyRemote("node-2", OverlayCatalog.KeyOf("node-2"), [new Lashup.Abstractions.Data.LwwSet(["subnet"], "not a subnet"), new Lashup.Abstractions.Data.LwwSet(["claimed_at"], "1"), new Lashup.Abstractions.Data.LwwSet(["underlay"], "192.168.1.2")]);
        Assert.Null(OverlayCatalog.Read(bad, out malformed));
        Assert.True(malformed);

        var released = store.ApplyRemote("node-1", OverlayCatalog.KeyOf("node-1"), OverlayCatalog.Release());
        Assert.Null(OverlayCatalog.Read(released, out malformed));
        Assert.False(malformed);
        Assert.Throws<ArgumentException>(() => OverlayCatalog.KeyOf("a/b"));
    }
}
