using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Plugins.LoadBalancer.Names;
using Lashup.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.LoadBalancer.Tests.Names;

public sealed class NamedVipAllocatorTests
{
    private static readonly IPNetwork Small = IPNetwork.Parse("10.200.0.0/29");

    [Fact]
    public void FirstFree_SameNameSameRange_SameAddressEverywhere_InsideTheRange()
    {
        var range = IPNetwork.Parse("10.200.0.0/16");
        var address = NamedVipAllocator.FirstFree("web", range, new HashSet<IPAddress>());

        Assert.Equal(address, NamedVipAllocator.FirstFree("web", range, new HashSet<IPAddress>()));
        Assert.True(range.Contains(address!));
        Assert.NotEqual(IPAddress.Parse("10.200.0.0"), address);
        Assert.NotEqual(IPAddress.Parse("10.200.255.255"), address);
    }

    [Fact]
    public void FirstFree_Taken_ProbesToTheNextAddress_Wrapping()
    {
        var taken = new HashSet<IPAddress>();
        var seen = new List<IPAddress>();
        for (var i = 0; i < 6; i++)
        {
            var address = NamedVipAllocator.FirstFree("web", Small, taken)!;
            seen.Add(address);
            taken.Add(address);
        }

        // The six usable addresses of a /29 (not .0, not .7), each once.
        Assert.Equal(Enumerable.Range(1, 6).Select(i => IPAddress.Parse($"10.200.0.{i}")), seen.OrderBy(a => a.GetAddressBytes()[3]));
        Assert.Null(NamedVipAllocator.FirstFree("web", Small, taken));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Resolve_ConcurrentClaimsOfOneAddress_MergedInEitherOrder_SameDistinctAddresses(bool node2First)
    {
        var (first, second) = CollidingNames(Small);
        var address = NamedVipAllocator.FirstFree(first, Small, new HashSet<IPAddress>())!;

        // Two nodes, each unaware of the other's claim, claim the same address for two names; node-1's claim is older.
        var time1 = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
        var time2 = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:05Z"));
        var node1 = new InMemoryReplicatedStore("node-1", time1);
        var node2 = new InMemoryReplicatedStore("node-2", time2);
        var claim1 = await node1.UpdateAsync(VipNames.KeyOf(first), VipNames.SetAddress(address), null, CancellationToken.None);
        var claim2 = await node2.UpdateAsync(VipNames.KeyOf(second), VipNames.SetAddress(address), null, CancellationToken.None);

        // A third node gets both, in one order or the other; the two nodes get each other's.
        var node3 = new InMemoryReplicatedStore("node-3");
        foreach (var entry in node2First ? new[] { claim2, claim1 } : [claim1, claim2])
        {
            node3.MergeRemote(entry);
        }

        node1.MergeRemote(claim2);
        node2.MergeRemote(claim1);
        string[] needed = [first, second];
        var allocations = new[] { node1, node2, node3 }.Select(s => NamedVipAllocator.Resolve(ClaimsOf(s), needed, Small)).ToList();

        // Everyone agrees: the older claim keeps the address, the other name moves, and they write the same move.
        foreach (var allocation in allocations)
        {
            Assert.Equal(address, allocation.Resolved[first]);
            Assert.False(allocation.Resolved.ContainsKey(second));
            Assert.Equal(allocations[0].Writes.Single(), allocation.Writes.Single());
            Assert.Contains($"{address} is also claimed by {first}", allocation.Unresolved[second], StringComparison.Ordinal);
        }

        var moved = allocations[0].Writes[second];
        Assert.NotEqual(address, moved);

        // Any node may write the move (here two of them do, concurrently); after merging, all resolve the same.
        var move2 = await node2.UpdateAsync(VipNames.KeyOf(second), VipNames.SetAddress(moved), null, CancellationToken.None);
        var move3 = await node3.UpdateAsync(VipNames.KeyOf(second), VipNames.SetAddress(moved), null, CancellationToken.None);
        node1.MergeRemote(move2);
        node1.MergeRemote(move3);
        node2.MergeRemote(move3);
        node3.MergeRemote(move2);
        foreach (var store in new[] { node1, node2, node3 })
        {
            var final = NamedVipAllocator.Resolve(ClaimsOf(store), needed, Small);
            Assert.Equal(address, final.Resolved[first]);
            Assert.Equal(moved, final.Resolved[second]);
            Assert.Empty(final.Writes);
        }
    }

    [Fact]
    public void Resolve_SameTimestamp_LowerNameKeepsTheAddress()
    {
        var address = IPAddress.Parse("10.200.0.3");
        var claims = new Dictionary<string, VipNameClaim>
        {
            ["zeta"] = new("zeta", address, 1000),
            ["alpha"] = new("alpha", address, 1000),
        };

        var allocation = NamedVipAllocator.Resolve(claims, ["alpha", "zeta"], Small);

        Assert.Equal(address, allocation.Resolved["alpha"]);
        Assert.True(allocation.Writes.ContainsKey("zeta"));
    }

    [Fact]
    public void Resolve_NameWithoutClaim_GetsAWrite_NeverOnAClaimedAddress()
    {
        var claims = new Dictionary<string, VipNameClaim>();
        for (var i = 1; i <= 5; i++)
        {
            claims[$"n{i}"] = new($"n{i}", IPAddress.Parse($"10.200.0.{i}"), i);
        }

        var allocation = NamedVipAllocator.Resolve(claims, ["fresh"], Small);

        Assert.Equal(IPAddress.Parse("10.200.0.6"), allocation.Writes["fresh"]);
        Assert.Equal("claiming 10.200.0.6", allocation.Unresolved["fresh"]);
    }

    [Fact]
    public void Resolve_RangeExhausted_NameUnresolvedWithWhy()
    {
        var range = IPNetwork.Parse("10.200.0.0/30");
        var claims = new Dictionary<string, VipNameClaim>
        {
            ["a"] = new("a", IPAddress.Parse("10.200.0.1"), 1),
            ["b"] = new("b", IPAddress.Parse("10.200.0.2"), 2),
        };

        var allocation = NamedVipAllocator.Resolve(claims, ["a", "b", "c"], range);

        Assert.Equal(2, allocation.Resolved.Count);
        Assert.Empty(allocation.Writes);
        Assert.Equal("named_vip_range 10.200.0.0/30 is exhausted: every address is claimed", allocation.Unresolved["c"]);
    }

    [Fact]
    public void Resolve_ClaimOutsideTheRange_MovedIn()
    {
        var claims = new Dictionary<string, VipNameClaim> { ["web"] = new("web", IPAddress.Parse("192.0.2.1"), 1) };

        var allocation = NamedVipAllocator.Resolve(claims, ["web"], Small);

        Assert.False(allocation.Resolved.ContainsKey("web"));
        Assert.True(Small.Contains(allocation.Writes["web"]));
    }

    [Fact]
    public async Task Release_FreesTheAddress_ForTheNextName()
    {
        var (first, second) = CollidingNames(Small);
        var store = new InMemoryReplicatedStore("node-1");
        var address = NamedVipAllocator.FirstFree(first, Small, new HashSet<IPAddress>())!;
        await store.UpdateAsync(VipNames.KeyOf(first), VipNames.SetAddress(address), null, CancellationToken.None);
        Assert.NotEqual(address, NamedVipAllocator.Resolve(ClaimsOf(store), [second], Small).Writes[second]);

        await store.UpdateAsync(VipNames.KeyOf(first), VipNames.Release(), null, CancellationToken.None);

        Assert.Empty(ClaimsOf(store));
        Assert.Equal(address, NamedVipAllocator.Resolve(ClaimsOf(store), [second], Small).Writes[second]);
    }

    [Fact]
    public void Resolve_ClaimOfANameNoVipNeeds_KeepsItsAddress_NoWrite()
    {
        var claims = new Dictionary<string, VipNameClaim> { ["old"] = new("old", IPAddress.Parse("10.200.0.2"), 1) };

        var allocation = NamedVipAllocator.Resolve(claims, [], Small);

        Assert.Equal(IPAddress.Parse("10.200.0.2"), allocation.Resolved["old"]);
        Assert.Empty(allocation.Writes);
    }

    private static Dictionary<string, VipNameClaim> ClaimsOf(IReplicatedStore store) =>
        store.List(VipNames.Prefix).Select(VipNames.ReadClaim).OfType<VipNameClaim>().ToDictionary(c => c.Name, StringComparer.Ordinal);

    /// <summary>Two names that hash to the same address of <paramref name="range"/>.</summary>
    private static (string First, string Second) CollidingNames(IPNetwork range)
    {
        var byAddress = new Dictionary<IPAddress, string>();
        for (var i = 0; ; i++)
        {
            var name = $"svc{i}";
            var address = NamedVipAllocator.FirstFree(name, range, new HashSet<IPAddress>())!;
            if (byAddress.TryGetValue(address, out var other))
            {
                return (other, name);
            }

            byAddress[address] = name;
        }
    }
}
