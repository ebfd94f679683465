using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Host.Tests.Support;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Nftables.Tests;

/// <summary>
/// The backend against the real kernel and nft, in a network namespace of each test's own (root; on CI): what it
/// builds, adopts, repairs and removes, and that it touches no other table.
/// </summary>
public sealed class NftablesKernelTests : IAsyncLifetime
{
    private static readonly VipKey Web = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly VipKey Dns6 = new(IPAddress.Parse("fd00::9"), 53, TransportProtocol.Udp);
    private readonly string _state = Directory.CreateTempSubdirectory("lashup-nft-").FullName;
    private NetworkNamespace? _ns;
    private LibNftablesRunner? _library;

    private NetworkNamespace Ns => _ns!;

    public async Task InitializeAsync()
    {
        if (Environment.IsPrivilegedProcess && TestEnvironment.HasCommand("nft") && TestEnvironment.HasCommand("ip"))
        {
            _ns = await NetworkNamespace.CreateAsync("nft");
            _library = LibNftablesRunner.TryCreate(_ns.Name, out var why) ?? throw new InvalidOperationException(why);
        }
    }

    public Task DisposeAsync()
    {
        _library?.Dispose();
        _ns?.Dispose();
        Directory.Delete(_state, recursive: true);
        return Task.CompletedTask;
    }

    private void SkipUnlessRoot()
    {
        Skip.If(_ns is null && !TestEnvironment.IsCi, "needs root, ip and nft (network namespaces, nftables)");
        Assert.NotNull(_ns);
    }

    /// <summary>A backend on libnftables (the daemon's runner) inside the test's namespace, or on the nft command.</summary>
    private NftablesBackend NewBackend(string table = "lashup_lb", int buckets = 16, bool command = false) =>
        new(command ? new ProcessNftRunner(Ns.Name) : _library!, new NftablesOptions { Table = table, Buckets = buckets }, _state, NullLogger<NftablesBackend>.Instance);

    private static VipBackend Backend(string endpoint, int weight = 1) => new(IPEndPoint.Parse(endpoint), "node-1", weight);

    private static readonly LoadBalancerTable Two = LoadBalancerTable.From([
        new VipEntry(Web, [Backend("10.1.0.2:8080"), Backend("10.1.0.3:8080", 3)]),
        new VipEntry(Dns6, [Backend("[fd00::2]:5353")]),
    ]);

    private async Task<NftablesBackend> StartedAsync(LoadBalancerTable table, bool command = false)
    {
        var backend = NewBackend(command: command);
        await backend.EnsureSupportedAsync(default);
        await backend.ReconcileAsync(table, default);
        return backend;
    }

    private Task<string> ListAsync(string table = "lashup_lb") => Ns.RunAsync("nft", "list", "table", "inet", table);

    [SkippableFact]
    public async Task Builds_Adopts_WithoutRepairOrDuplicate()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        var listed = await ListAsync();
        Assert.Contains("10.0.0.1 . tcp . 80 : jump b16", listed, StringComparison.Ordinal);
        Assert.Contains("fd00::9 . udp . 53 : jump b1", listed, StringComparison.Ordinal);
        Assert.Contains("10.0.0.1 . tcp . 80 . 15 : 10.1.0.3", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("_probe", await Ns.RunAsync("nft", "list", "tables"), StringComparison.Ordinal);
        Assert.True(backend.Describe(Web)!.Programmed);

        // A restart (crash or not): a new instance adopts the table as it is.
        var restarted = await StartedAsync(Two);
        Assert.Equal(0, await restarted.ReconcileAsync(Two, default));
        Assert.Equal(listed, await ListAsync());
    }

    [SkippableFact]
    public async Task Drift_RuleDeleted_ElementChanged_StaleAdded_RepairedInOneReconcile_ForeignTableUntouched()
    {
        SkipUnlessRoot();
        await Ns.RunCheckedAsync("nft", "add table inet foreign; add chain inet foreign c { type nat hook prerouting priority dstnat; }; add rule inet foreign c tcp dport 81 dnat ip to 10.9.9.9");
        var foreign = await ListAsync("foreign");
        var backend = await StartedAsync(Two);
        var clean = await ListAsync();

        // An element changed and a stale one added by hand: repaired element by element.
        await Ns.RunCheckedAsync("nft", "delete element inet lashup_lb addrs4 { 10.0.0.1 . tcp . 80 . 0 }; add element inet lashup_lb addrs4 { 10.0.0.1 . tcp . 80 . 0 : 10.6.6.6 }; add element inet lashup_lb classes4 { 10.0.0.7 . tcp . 80 : jump b16 }");
        Assert.Equal(2, await backend.ReconcileAsync(Two, default));
        Assert.Equal(clean, await ListAsync());

        // A rule deleted by hand: the table is rebuilt in one transaction.
        var handle = (await Ns.RunAsync("nft", "-a", "list", "chain", "inet", "lashup_lb", "vips")).Split('\n').First(l => l.Contains("classes4", StringComparison.Ordinal)).Split("# handle ")[1].Trim();
        await Ns.RunCheckedAsync("nft", "delete", "rule", "inet", "lashup_lb", "vips", "handle", handle);
        Assert.True(await backend.ReconcileAsync(Two, default) >= 1);
        Assert.Equal(Normalize(clean), Normalize(await ListAsync()));

        // A class chain's rule edited by hand (another bucket count): found too.
        await Ns.RunCheckedAsync("nft", "flush", "chain", "inet", "lashup_lb", "b16");
        Assert.True(await backend.ReconcileAsync(Two, default) >= 1);
        Assert.Equal(Normalize(clean), Normalize(await ListAsync()));
        Assert.Equal(0, await backend.ReconcileAsync(Two, default));

        Assert.Equal(foreign, await ListAsync("foreign"));
    }

    [SkippableFact]
    public async Task Changes_ApplyIncrementally_UnusedChainsGoAtReconcile_ClearRemovesTheTable()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        var equal = LoadBalancerTable.From([
            new VipEntry(Web, [Backend("10.1.0.2:8080"), Backend("10.1.0.3:8080")]),
            new VipEntry(Dns6, [Backend("[fd00::2]:5353"), Backend("[fd00::3]:5353", 0)]),
        ]);

        await backend.ApplyAsync(LoadBalancerDelta.Between(Two, equal), default);

        var listed = await ListAsync();
        Assert.Contains("10.0.0.1 . tcp . 80 : jump b2", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("10.0.0.1 . tcp . 80 . 2 ", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("fd00::3", listed, StringComparison.Ordinal);
        Assert.Contains("chain b16", listed, StringComparison.Ordinal);
        Assert.Equal(["draining: open connections go on, no new ones"], backend.Describe(Dns6)!.Backends.Where(b => !b.Programmed).Select(b => b.Reason));

        // b16 serves no VIP any more: the next reconcile removes it, and that is not drift.
        Assert.Equal(0, await backend.ReconcileAsync(equal, default));
        Assert.DoesNotContain("chain b16", await ListAsync(), StringComparison.Ordinal);

        var removed = LoadBalancerTable.From([equal.Vips[Dns6]]);
        await backend.ApplyAsync(LoadBalancerDelta.Between(equal, removed), default);
        listed = await ListAsync();
        Assert.DoesNotContain("10.0.0.1", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("10.1.0.2", listed, StringComparison.Ordinal);

        await backend.ClearAsync(default);
        Assert.DoesNotContain("lashup_lb", await Ns.RunAsync("nft", "list", "tables"), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_state, NftablesBackend.StateFile)));
    }

    [SkippableFact]
    public async Task RefusedTransaction_KeepsTheRules_NotReady_UntilAReconcile()
    {
        SkipUnlessRoot();
        var backend = await StartedAsync(Two);
        // Someone removes an element this backend will delete: nft refuses the whole change.
        await Ns.RunCheckedAsync("nft", "delete element inet lashup_lb ports6 { fd00::9 . udp . 53 . 0 }");
        var before = await ListAsync();
        var after = LoadBalancerTable.From([Two.Vips[Web], new VipEntry(Dns6, [Backend("[fd00::4]:5353")])]);

        await Assert.ThrowsAsync<NftException>(async () => await backend.ApplyAsync(LoadBalancerDelta.Between(Two, after), default));

        Assert.False(((IReadinessCheck)backend).Check().IsReady);
        Assert.Equal(before, await ListAsync());
        Assert.True(await backend.ReconcileAsync(after, default) >= 1);
        Assert.True(((IReadinessCheck)backend).Check().IsReady);
        Assert.Contains("fd00::9 . udp . 53 . 0 : 5353", await ListAsync(), StringComparison.Ordinal);
        Assert.Contains("fd00::9 . udp . 53 . 0 : fd00::4", await ListAsync(), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task TheNftCommand_BuildsTheSameTable_AndAdoptsTheLibrarysWithoutRepair()
    {
        SkipUnlessRoot();
        await StartedAsync(Two);
        var byLibrary = await ListAsync();

        var byCommand = await StartedAsync(Two, command: true);

        Assert.Equal(0, await byCommand.ReconcileAsync(Two, default));
        Assert.Equal(byLibrary, await ListAsync());
        await byCommand.ClearAsync(default);
        await byCommand.ReconcileAsync(Two, default);
        Assert.Equal(Normalize(byLibrary), Normalize(await ListAsync()));
    }

    [SkippableFact]
    public async Task TableRenamed_TheOldOneIsDeleted()
    {
        SkipUnlessRoot();
        await StartedAsync(Two);
        var renamed = NewBackend(table: "lashup_lb2");
        await renamed.EnsureSupportedAsync(default);

        await renamed.ReconcileAsync(Two, default);

        var tables = await Ns.RunAsync("nft", "list", "tables");
        Assert.Contains("table inet lashup_lb2", tables, StringComparison.Ordinal);
        Assert.DoesNotContain("table inet lashup_lb\n", tables + "\n", StringComparison.Ordinal);
    }

    /// <summary>A listing without handles' effect on order: the elements' lines, sorted (a rebuilt table lists the same set in another order).</summary>
    private static List<string> Normalize(string listing) =>
        [.. listing.Split('\n').Select(l => l.Trim().TrimEnd(',')).Where(l => l.Length > 0).Order(StringComparer.Ordinal)];
}
