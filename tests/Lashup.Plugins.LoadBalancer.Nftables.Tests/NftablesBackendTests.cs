using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Nftables.Tests;

/// <summary>The nft text the backend writes, against a runner that records it (the kernel tests run it for real).</summary>
public sealed class NftablesBackendTests : IDisposable
{
    private static readonly VipKey Web = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly VipKey Dns6 = new(IPAddress.Parse("fd00::9"), 53, TransportProtocol.Udp);
    private readonly string _state = Directory.CreateTempSubdirectory("lashup-nft-").FullName;
    private readonly RecordingRunner _nft = new();

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private NftablesBackend NewBackend() =>
        new(_nft, new NftablesOptions { Table = "t", Buckets = 4 }, _state, NullLogger<NftablesBackend>.Instance);

    private static VipBackend Backend(string endpoint, int weight = 1) => new(IPEndPoint.Parse(endpoint), "node-1", weight);

    private static LoadBalancerTable Table(params VipEntry[] entries) => LoadBalancerTable.From(entries);

    [Fact]
    public async Task FirstReconcile_NoTable_BuildsItWhole_InOneTransaction()
    {
        var backend = NewBackend();

        var repairs = await backend.ReconcileAsync(Table(
            new VipEntry(Web, [Backend("10.1.0.2:8080"), Backend("10.1.0.3:8080")]),
            new VipEntry(Dns6, [Backend("[fd00::2]:5353")])), default);

        var script = Assert.Single(_nft.Scripts);
        Assert.StartsWith("add table inet t\ndelete table inet t\ntable inet t {", script, StringComparison.Ordinal);
        Assert.Contains("add chain inet t b1\n", script, StringComparison.Ordinal);
        Assert.Contains("add rule inet t b2 dnat ip to ip daddr . meta l4proto . th dport . symhash mod 2 map @addrs4 : ip daddr . meta l4proto . th dport . symhash mod 2 map @ports4\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t classes4 { 10.0.0.1 . tcp . 80 : jump b2 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t addrs4 { 10.0.0.1 . tcp . 80 . 0 : 10.1.0.2, 10.0.0.1 . tcp . 80 . 1 : 10.1.0.3 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t ports4 { 10.0.0.1 . tcp . 80 . 0 : 8080, 10.0.0.1 . tcp . 80 . 1 : 8080 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t classes6 { fd00::9 . udp . 53 : jump b1 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t addrs6 { fd00::9 . udp . 53 . 0 : fd00::2 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t vipaddrs4 { 10.0.0.1 }\n", script, StringComparison.Ordinal);
        Assert.Contains("add element inet t hairpin4 { 10.1.0.2 . 10.1.0.2, 10.1.0.3 . 10.1.0.3 }\n", script, StringComparison.Ordinal);
        Assert.Equal(3, repairs);
        Assert.Equal("t\n", File.ReadAllText(Path.Combine(_state, NftablesBackend.StateFile)));
    }

    [Fact]
    public async Task Apply_WritesOnlyWhatDiffers()
    {
        var backend = NewBackend();
        var before = Table(new VipEntry(Web, [Backend("10.1.0.2:8080"), Backend("10.1.0.3:8080")]), new VipEntry(Dns6, [Backend("[fd00::2]:5353")]));
        await backend.ReconcileAsync(before, default);
        _nft.Scripts.Clear();

        // 10.1.0.3 goes (the VIP keeps one bucket, a chain of its size exists already); the IPv6 VIP is untouched.
        var after = Table(new VipEntry(Web, [Backend("10.1.0.2:8080")]), new VipEntry(Dns6, [Backend("[fd00::2]:5353")]));
        await backend.ApplyAsync(LoadBalancerDelta.Between(before, after), default);

        Assert.Equal(
            """
            delete element inet t addrs4 { 10.0.0.1 . tcp . 80 . 1 }
            delete element inet t classes4 { 10.0.0.1 . tcp . 80 }
            delete element inet t hairpin4 { 10.1.0.3 . 10.1.0.3 }
            delete element inet t ports4 { 10.0.0.1 . tcp . 80 . 1 }
            add element inet t classes4 { 10.0.0.1 . tcp . 80 : jump b1 }

            """.ReplaceLineEndings("\n"),
            Assert.Single(_nft.Scripts));
    }

    [Fact]
    public async Task Apply_NewBucketCount_AddsItsChainFirst_AndWeightsShareTheResolution()
    {
        var backend = NewBackend();
        var before = Table(new VipEntry(Web, [Backend("10.1.0.2:8080")]));
        await backend.ReconcileAsync(before, default);
        _nft.Scripts.Clear();

        var after = Table(new VipEntry(Web, [Backend("10.1.0.2:8080", 1), Backend("10.1.0.3:8080", 3)]));
        await backend.ApplyAsync(LoadBalancerDelta.Between(before, after), default);

        var script = Assert.Single(_nft.Scripts);
        Assert.True(script.IndexOf("add chain inet t b4\n", StringComparison.Ordinal) < script.IndexOf("jump b4", StringComparison.Ordinal), script);
        Assert.Contains("add element inet t addrs4 { 10.0.0.1 . tcp . 80 . 1 : 10.1.0.3, 10.0.0.1 . tcp . 80 . 2 : 10.1.0.3, 10.0.0.1 . tcp . 80 . 3 : 10.1.0.3 }\n", script, StringComparison.Ordinal);
        Assert.DoesNotContain("addrs4 { 10.0.0.1 . tcp . 80 . 0", script, StringComparison.Ordinal);
        var status = backend.Describe(Web)!;
        Assert.True(status.Programmed);
        Assert.Equal(["1 of 4 buckets", "3 of 4 buckets"], status.Backends.Select(b => b.Reason));
    }

    [Fact]
    public async Task RefusedTransaction_NotReady_KeepsWhatWasProgrammed_UntilOneSucceeds()
    {
        var backend = NewBackend();
        var before = Table(new VipEntry(Web, [Backend("10.1.0.2:8080")]));
        await backend.ReconcileAsync(before, default);
        var after = Table(new VipEntry(Web, [Backend("10.1.0.3:8080")]));
        _nft.FailNext = "Error: Could not process rule: No such file or directory";

        await Assert.ThrowsAsync<NftException>(async () => await backend.ApplyAsync(LoadBalancerDelta.Between(before, after), default));

        var readiness = ((IReadinessCheck)backend).Check();
        Assert.False(readiness.IsReady);
        Assert.Contains("No such file or directory", readiness.Reason, StringComparison.Ordinal);
        Assert.StartsWith("nft refused the change: ", backend.Describe(Web)!.Reason, StringComparison.Ordinal);

        // The load balancer follows with a reconcile; the kernel still holds the old element, and the new one is written.
        _nft.Listing = null;
        await backend.ReconcileAsync(after, default);
        Assert.True(((IReadinessCheck)backend).Check().IsReady);
        Assert.True(backend.Describe(Web)!.Programmed);
    }

    [Fact]
    public async Task Describe_DrainingAndNoBackends()
    {
        var backend = NewBackend();
        var other = new VipKey(IPAddress.Parse("10.0.0.2"), 80, TransportProtocol.Tcp);
        await backend.ReconcileAsync(Table(
            new VipEntry(Web, [Backend("10.1.0.2:8080", 0), Backend("10.1.0.3:8080")]),
            new VipEntry(other, [Backend("10.1.0.2:8080", 0)])), default);

        Assert.Equal(["draining: open connections go on, no new ones", "1 of 1 buckets"], backend.Describe(Web)!.Backends.Select(b => b.Reason));
        Assert.Equal(VipProgramStatus.NotProgrammed("every backend is draining (weight 0): no new connections"), backend.Describe(other));
        Assert.Null(backend.Describe(new VipKey(IPAddress.Parse("10.9.9.9"), 1, TransportProtocol.Tcp)));
    }

    [Fact]
    public void KernelState_ReadsNftJson()
    {
        var state = KernelState.Parse(Sample);

        var web = state.Vips[new VipKey(IPAddress.Parse("10.99.0.1"), 80, TransportProtocol.Tcp)];
        Assert.Equal("b2", web.Chain);
        Assert.Equal([new KernelBucket(IPAddress.Parse("10.1.0.2"), 8080), new KernelBucket(IPAddress.Parse("10.1.0.3"), 8080)], web.Buckets.Values);
        var dns = state.Vips[new VipKey(IPAddress.Parse("fd00::9"), 53, TransportProtocol.Udp)];
        Assert.Equal("b1", dns.Chain);
        Assert.Equal([new KernelBucket(IPAddress.Parse("fd00::2"), 5353)], dns.Buckets.Values);
        Assert.True(web.Is(new VipProgram(new VipKey(IPAddress.Parse("10.99.0.1"), 80, TransportProtocol.Tcp), [IPEndPoint.Parse("10.1.0.2:8080"), IPEndPoint.Parse("10.1.0.3:8080")])));
        Assert.Contains(IPAddress.Parse("fd00::9"), state.VipAddresses);
        Assert.Contains(IPAddress.Parse("10.1.0.3"), state.Hairpin);
        Assert.Equal(0, state.Unreadable);
    }

    [Fact]
    public void KernelState_NotNftJson_IsAClearError()
    {
        var e = Assert.Throws<NftException>(() => KernelState.Parse("{\"nftables\": [{\"map\": {\"name\": 3}}]}"));
        Assert.StartsWith("nft's JSON listing could not be read", e.Message, StringComparison.Ordinal);
    }

    /// <summary>What nft 1.0.6 listed for a table with an IPv4 and an IPv6 VIP (the maps and sets; chains left out).</summary>
    private const string Sample = """
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "lashup_lb", "handle": 8}}, {"map": {"family": "inet", "name": "classes4", "table": "lashup_lb", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 5, "map": "verdict", "elem": [[{"concat": ["10.99.0.1", "tcp", 80]}, {"jump": {"target": "b2"}}]]}}, {"map": {"family": "inet", "name": "classes6", "table": "lashup_lb", "type": ["ipv6_addr", "inet_proto", "inet_service"], "handle": 6, "map": "verdict", "elem": [[{"concat": ["fd00::9", "udp", 53]}, {"jump": {"target": "b1"}}]]}}, {"map": {"family": "inet", "name": "addrs4", "table": "lashup_lb", "type": ["ipv4_addr", "inet_proto", "inet_service", "integer"], "handle": 7, "map": "ipv4_addr", "elem": [[{"concat": ["10.99.0.1", "tcp", 80, 0]}, "10.1.0.2"], [{"concat": ["10.99.0.1", "tcp", 80, 1]}, "10.1.0.3"]]}}, {"map": {"family": "inet", "name": "ports4", "table": "lashup_lb", "type": ["ipv4_addr", "inet_proto", "inet_service", "integer"], "handle": 8, "map": "inet_service", "elem": [[{"concat": ["10.99.0.1", "tcp", 80, 0]}, 8080], [{"concat": ["10.99.0.1", "tcp", 80, 1]}, 8080]]}}, {"map": {"family": "inet", "name": "addrs6", "table": "lashup_lb", "type": ["ipv6_addr", "inet_proto", "inet_service", "integer"], "handle": 9, "map": "ipv6_addr", "elem": [[{"concat": ["fd00::9", "udp", 53, 0]}, "fd00::2"]]}}, {"map": {"family": "inet", "name": "ports6", "table": "lashup_lb", "type": ["ipv6_addr", "inet_proto", "inet_service", "integer"], "handle": 10, "map": "inet_service", "elem": [[{"concat": ["fd00::9", "udp", 53, 0]}, 5353]]}}, {"set": {"family": "inet", "name": "vipaddrs4", "table": "lashup_lb", "type": "ipv4_addr", "handle": 11, "elem": ["10.99.0.1"]}}, {"set": {"family": "inet", "name": "vipaddrs6", "table": "lashup_lb", "type": "ipv6_addr", "handle": 12, "elem": ["fd00::9"]}}, {"set": {"family": "inet", "name": "hairpin4", "table": "lashup_lb", "type": ["ipv4_addr", "ipv4_addr"], "handle": 13, "elem": [{"concat": ["10.1.0.2", "10.1.0.2"]}, {"concat": ["10.1.0.3", "10.1.0.3"]}]}}, {"set": {"family": "inet", "name": "hairpin6", "table": "lashup_lb", "type": ["ipv6_addr", "ipv6_addr"], "handle": 14, "elem": [{"concat": ["fd00::2", "fd00::2"]}]}}]}
        """;

    private sealed class RecordingRunner : INftRunner
    {
        public List<string> Scripts { get; } = [];

        public string? Listing { get; set; }

        public string? FailNext { get; set; }

        public Task RunAsync(string script, CancellationToken cancellationToken)
        {
            if (FailNext is { } failure)
            {
                FailNext = null;
                throw new NftException(failure);
            }

            Scripts.Add(script);
            return Task.CompletedTask;
        }

        public Task<string?> ListTableAsync(string table, CancellationToken cancellationToken) => Task.FromResult(Listing);
    }
}
