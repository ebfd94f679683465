using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;

namespace Lashup.Plugins.LoadBalancer.Nftables.Tests;

public sealed class VipProgramTests
{
    private static readonly VipKey Vip = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);

    private static VipBackend Backend(string endpoint, int weight) => new(IPEndPoint.Parse(endpoint), "node-1", weight);

    private static Dictionary<string, int> Counts(VipProgram program) =>
        program.Buckets.GroupBy(b => b.ToString()).ToDictionary(g => g.Key, g => g.Count());

    [Fact]
    public void EqualWeights_OneBucketPerBackend()
    {
        var program = VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.3:80", 5), Backend("10.1.0.2:80", 5), Backend("10.1.0.4:80", 5)]), 16, out _)!;

        Assert.Equal(["10.1.0.2:80", "10.1.0.3:80", "10.1.0.4:80"], program.Buckets.Select(b => b.ToString()));
    }

    [Fact]
    public void UnequalWeights_SharedByWeight_OverTheResolution()
    {
        var program = VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.2:80", 1), Backend("10.1.0.3:80", 3)]), 16, out _)!;

        Assert.Equal(16, program.Buckets.Length);
        Assert.Equal(new Dictionary<string, int> { ["10.1.0.2:80"] = 4, ["10.1.0.3:80"] = 12 }, Counts(program));
    }

    [Fact]
    public void MoreBackendsThanBuckets_EveryOneReached()
    {
        // 20 weighted backends over a resolution of 16: 32 buckets, one at least each.
        var backends = Enumerable.Range(1, 20).Select(i => Backend($"10.1.0.{i}:80", i == 1 ? 1000 : 1)).ToList();
        var program = VipProgram.For(new VipEntry(Vip, [.. backends]), 16, out _)!;

        Assert.Equal(32, program.Buckets.Length);
        Assert.Equal(20, program.Buckets.Distinct().Count());
        Assert.Equal(13, Counts(program)["10.1.0.1:80"]);
    }

    [Fact]
    public void DrainingAndOtherFamily_LeftOut_WithTheReasonWhenNothingIsLeft()
    {
        var program = VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.2:80", 0), Backend("[fd00::2]:80", 1), Backend("10.1.0.3:80", 2)]), 16, out _)!;
        Assert.Equal(["10.1.0.3:80"], program.Buckets.Select(b => b.ToString()));

        Assert.Null(VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.2:80", 0)]), 16, out var draining));
        Assert.Equal("every backend is draining (weight 0): no new connections", draining);
        Assert.Null(VipProgram.For(new VipEntry(Vip, [Backend("[fd00::2]:80", 1)]), 16, out var family));
        Assert.Equal("no backend nftables can send new connections to (the first: not of the VIP's address family: nftables cannot translate between IPv4 and IPv6)", family);
        Assert.Null(VipProgram.For(new VipEntry(Vip, []), 16, out var none));
        Assert.Equal("no backends", none);
    }

    [Fact]
    public void ZonedOrLoopbackMismatchedBackends_LeftOut_WithWhy()
    {
        var v6 = new VipKey(IPAddress.Parse("fd00::9"), 53, TransportProtocol.Udp);
        var program = VipProgram.For(new VipEntry(v6, [Backend("[fe80::1%5]:53", 1), Backend("[fd00::2]:53", 1)]), 16, out _)!;
        Assert.Equal(["[fd00::2]:53"], program.Buckets.Select(b => b.ToString()));
        Assert.Contains("zone", VipProgram.Unusable(v6, IPEndPoint.Parse("[fe80::1%5]:53")), StringComparison.Ordinal);

        var loopback = new VipKey(IPAddress.Parse("127.0.0.50"), 80, TransportProtocol.Tcp);
        Assert.Null(VipProgram.For(new VipEntry(loopback, [Backend("10.1.0.2:80", 1)]), 16, out var why));
        Assert.Contains("loopback", why, StringComparison.Ordinal);
        Assert.Single(VipProgram.For(new VipEntry(loopback, [Backend("10.1.0.2:80", 1), Backend("127.0.0.1:9001", 1)]), 16, out _)!.Buckets);
    }

    [Theory]
    [InlineData(16, new long[] { 1, 1, 1 })]
    [InlineData(16, new long[] { 1000, 1, 1, 1 })]
    [InlineData(7, new long[] { 3, 5, 11, 1, 1, 1, 1 })]
    [InlineData(32, new long[] { 999, 1, 500, 2 })]
    public void Share_SumsToTheSize_OneAtLeastEach_OrderedLikeTheWeights(int size, long[] weights)
    {
        var counts = VipProgram.Share(size, weights);

        Assert.Equal(size, counts.Sum());
        Assert.All(counts, c => Assert.True(c >= 1));
        for (var i = 0; i < weights.Length; i++)
        {
            for (var j = 0; j < weights.Length; j++)
            {
                Assert.True(weights[i] <= weights[j] || counts[i] >= counts[j], $"weight {weights[i]} got {counts[i]}, weight {weights[j]} got {counts[j]}");
            }
        }
    }

    [Fact]
    public void EqualByValue()
    {
        var a = VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.2:80", 1), Backend("10.1.0.3:80", 1)]), 16, out _);
        var b = VipProgram.For(new VipEntry(Vip, [Backend("10.1.0.3:80", 2), Backend("10.1.0.2:80", 2)]), 16, out _);

        Assert.Equal(a, b);
    }
}
