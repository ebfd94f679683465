using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Tests.Fakes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests;

/// <summary>The backend end to end against the fake kernel: apply, drain, reconcile (adopt, repair, stale), clear, errors.</summary>
public sealed class IpvsBackendTests : IDisposable
{
    private static readonly VipKey Web = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);
    private static readonly VipKey Dns = new(IPAddress.Parse("10.0.0.2"), 53, TransportProtocol.Udp);
    private readonly FakeIpvsKernel _kernel = new();
    private readonly string _dataDir = Directory.CreateTempSubdirectory("lashup-ipvs-").FullName;

    public void Dispose() => Directory.Delete(_dataDir, recursive: true);

    [Fact]
    public async Task Apply_NewVip_OneServiceWlcMasqueradedDestinations_RecordedInStateFile()
    {
        using var backend = Backend();

        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, Table(Entry(Web, ("10.1.0.1:8080", 1), ("10.1.0.2:8080", 3)))), default);

        var service = _kernel.Services["tcp/10.0.0.1:80"];
        Assert.Equal("wlc", service.Scheduler);
        Assert.Equal(0u, service.Timeout);
        Assert.Equal([("10.1.0.1:8080", 1u, 0u), ("10.1.0.2:8080", 3u, 0u)], service.Destinations.OrderBy(d => d.Key).Select(d => (d.Key, d.Value.Weight, d.Value.ForwardMethod)));
        Assert.Equal("[\"tcp/10.0.0.1:80\"]", File.ReadAllText(backend.StatePath));
        Assert.Equal(Path.Combine(_dataDir, "loadbalancer", "ipvs-services.json"), backend.StatePath);
        var status = backend.Describe(Web)!;
        Assert.True(status.Programmed);
        Assert.All(status.Backends, b => Assert.True(b.Programmed));
        Assert.True(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
    }

    [Fact]
    public async Task Apply_Change_OnlyTheDifference_NoKernelRead()
    {
        using var backend = Backend();
        var before = Table(Entry(Web, ("10.1.0.1:8080", 1), ("10.1.0.2:8080", 1)), Entry(Dns, ("10.1.0.3:53", 1)));
        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, before), default);
        var count = _kernel.Requests.Count;

        var after = Table(Entry(Web, ("10.1.0.1:8080", 5), ("10.1.0.9:8080", 1)));
        await backend.ApplyAsync(Delta(before, after), default);

        var calls = _kernel.Requests.Skip(count).Select(r => (r.Command, r.Service, r.Destination)).ToList();
        Assert.Equal(
            [(3, "udp/10.0.0.2:53", null), (7, "tcp/10.0.0.1:80", "10.1.0.2:8080"), (6, "tcp/10.0.0.1:80", "10.1.0.1:8080"), (5, "tcp/10.0.0.1:80", "10.1.0.9:8080")],
            calls.Select(c => ((int)c.Command, c.Service, c.Destination)));
        Assert.Equal(["tcp/10.0.0.1:80"], _kernel.Services.Keys);
        Assert.Equal(5u, _kernel.Services["tcp/10.0.0.1:80"].Destinations["10.1.0.1:8080"].Weight);
        Assert.Null(backend.Describe(Dns));
        Assert.Equal("[\"tcp/10.0.0.1:80\"]", File.ReadAllText(backend.StatePath));
    }

    [Fact]
    public async Task Apply_WeightZero_DestinationKeptAtWeightZero_DescribedDraining()
    {
        using var backend = Backend();
        var before = Table(Entry(Web, ("10.1.0.1:8080", 1), ("10.1.0.2:8080", 1)));
        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, before), default);

        await backend.ApplyAsync(Delta(before, Table(Entry(Web, ("10.1.0.1:8080", 1), ("10.1.0.2:8080", 0)))), default);

        // Drain: IPVS keeps the destination (open connections go on) and gives it no new ones.
        Assert.Equal(0u, _kernel.Services["tcp/10.0.0.1:80"].Destinations["10.1.0.2:8080"].Weight);
        var drained = Assert.Single(backend.Describe(Web)!.Backends, b => b.Endpoint.Port == 8080 && b.Endpoint.Address.Equals(IPAddress.Parse("10.1.0.2")));
        Assert.False(drained.Programmed);
        Assert.Equal("draining: open connections go on, no new ones", drained.Reason);
    }

    [Fact]
    public async Task Apply_BackendOfOtherFamily_LeftOut_WithWhy()
    {
        using var backend = Backend();

        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, Table(Entry(Web, ("10.1.0.1:8080", 1), ("[fd00::1]:8080", 1)))), default);

        Assert.Equal(["10.1.0.1:8080"], _kernel.Services["tcp/10.0.0.1:80"].Destinations.Keys);
        var v6 = Assert.Single(backend.Describe(Web)!.Backends, b => !b.Programmed);
        Assert.Equal("IPVS masquerading cannot forward between IPv4 and IPv6", v6.Reason);
    }

    [Fact]
    public async Task Reconcile_AfterRestart_AdoptsMatchingServices_NoRepairNoChange()
    {
        var table = Table(Entry(Web, ("10.1.0.1:8080", 1)), Entry(Dns, ("10.1.0.3:53", 2)));
        using (var first = Backend())
        {
            await first.ApplyAsync(Delta(LoadBalancerTable.Empty, table), default);
        }

        using var second = Backend();
        var changes = _kernel.Changes.Count();

        var repairs = await second.ReconcileAsync(table, default);

        Assert.Equal(0, repairs);
        Assert.Equal(changes, _kernel.Changes.Count());
        Assert.True(second.Describe(Web)!.Programmed);
        // Adopted: the next change is applied from what the reconcile read.
        await second.ApplyAsync(Delta(table, Table(Entry(Web, ("10.1.0.1:8080", 4)), Entry(Dns, ("10.1.0.3:53", 2)))), default);
        Assert.Equal((6, "10.1.0.1:8080"), ((int)_kernel.Requests[^1].Command, _kernel.Requests[^1].Destination));
    }

    [Fact]
    public async Task Reconcile_Drift_RepairsMissingChangedAndStale_CountsEach()
    {
        using var backend = Backend();
        var table = Table(Entry(Web, ("10.1.0.1:8080", 1), ("10.1.0.2:8080", 1)), Entry(Dns, ("10.1.0.3:53", 1)));
        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, table), default);

        // Behind the backend's back (ipvsadm): a weight changed, a destination removed, one added, the scheduler
        // changed, persistence switched on, and one service deleted.
        var web = _kernel.Services["tcp/10.0.0.1:80"];
        web.Destinations["10.1.0.1:8080"].Weight = 7;
        web.Destinations.Remove("10.1.0.2:8080");
        web.Destinations["10.6.6.6:8080"] = new FakeDestination { Weight = 1 };
        web.Scheduler = "rr";
        web.Timeout = 300;
        _kernel.Services.Remove("udp/10.0.0.2:53");

        var repairs = await backend.ReconcileAsync(table, default);

        // Web: scheduler+timeout (1 SET_SERVICE), stale destination, changed weight, missing destination; DNS: service, its destination.
        Assert.Equal(6, repairs);
        web = _kernel.Services["tcp/10.0.0.1:80"];
        Assert.Equal(("wlc", 0u), (web.Scheduler, web.Timeout));
        Assert.Equal([("10.1.0.1:8080", 1u), ("10.1.0.2:8080", 1u)], web.Destinations.OrderBy(d => d.Key).Select(d => (d.Key, d.Value.Weight)));
        Assert.Equal(["10.1.0.3:53"], _kernel.Services["udp/10.0.0.2:53"].Destinations.Keys);
        Assert.Equal(0, await backend.ReconcileAsync(table, default));
    }

    [Fact]
    public async Task Reconcile_AfterRestart_RemovesOwnStaleServices_NeverForeignOnes()
    {
        using (var first = Backend())
        {
            await first.ApplyAsync(Delta(LoadBalancerTable.Empty, Table(Entry(Web, ("10.1.0.1:8080", 1)), Entry(Dns, ("10.1.0.3:53", 1)))), default);
        }

        _kernel.AddForeign("tcp/10.9.0.1:443", "rr", ("10.9.1.1:443", 1)); // ipvsadm's, or kube-proxy's
        using var second = Backend();

        // After the restart, only Web is wanted: DNS is this backend's own (state file), the other is not.
        var repairs = await second.ReconcileAsync(Table(Entry(Web, ("10.1.0.1:8080", 1))), default);

        Assert.Equal(1, repairs);
        Assert.Equal(["tcp/10.0.0.1:80", "tcp/10.9.0.1:443"], _kernel.Services.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("rr", _kernel.Services["tcp/10.9.0.1:443"].Scheduler);
        Assert.Equal("[\"tcp/10.0.0.1:80\"]", File.ReadAllText(second.StatePath));
        Assert.DoesNotContain(_kernel.Changes, r => r.Service == "tcp/10.9.0.1:443");
    }

    [Fact]
    public async Task Clear_RemovesOwnServicesOnly()
    {
        using var backend = Backend();
        _kernel.AddForeign("tcp/10.9.0.1:443");
        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, Table(Entry(Web, ("10.1.0.1:8080", 1)), Entry(Dns, ("10.1.0.3:53", 1)))), default);

        await backend.ClearAsync(default);

        Assert.Equal(["tcp/10.9.0.1:443"], _kernel.Services.Keys);
        Assert.Null(backend.Describe(Web));
        Assert.Equal("[]", File.ReadAllText(backend.StatePath));
    }

    [Fact]
    public async Task FailedNetlinkCall_Throws_NotReady_VipNotProgrammed_ReadyAgainAfterReconcile()
    {
        using var backend = Backend();
        var table = Table(Entry(Web, ("10.1.0.1:8080", 1)), Entry(Dns, ("10.1.0.3:53", 1)));
        _kernel.Fail = r => r.Command == 5 && r.Destination == "10.1.0.1:8080" ? 12 : null; // NEW_DEST: ENOMEM

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, table), default));

        Assert.Equal("ipvs: 1 netlink call(s) failed: IPVS_CMD_NEW_DEST tcp/10.0.0.1:80 10.1.0.1:8080: ENOMEM (Cannot allocate memory)", e.Message);
        var readiness = ((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check();
        Assert.False(readiness.IsReady);
        Assert.Equal("programming IPVS failed (retried with a full reconcile): IPVS_CMD_NEW_DEST tcp/10.0.0.1:80 10.1.0.1:8080: ENOMEM (Cannot allocate memory)", readiness.Reason);
        Assert.Equal(VipProgramStatus.NotProgrammed("IPVS: IPVS_CMD_NEW_DEST tcp/10.0.0.1:80 10.1.0.1:8080: ENOMEM (Cannot allocate memory)"), backend.Describe(Web));
        Assert.True(backend.Describe(Dns)!.Programmed); // the other VIP went on

        _kernel.Fail = null;
        var repairs = await backend.ReconcileAsync(table, default);

        Assert.Equal(1, repairs);
        Assert.True(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
        Assert.Equal(["10.1.0.1:8080"], _kernel.Services["tcp/10.0.0.1:80"].Destinations.Keys);
    }

    [Fact]
    public async Task Reconcile_DumpFails_ThrowsAndNotReady()
    {
        using var backend = Backend();
        _kernel.Fail = r => r.Command == 4 ? 16 : null; // GET_SERVICE: EBUSY

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.ReconcileAsync(Table(Entry(Web, ("10.1.0.1:8080", 1))), default));

        Assert.False(((Lashup.Abstractions.Lifecycle.IReadinessCheck)backend).Check().IsReady);
        Assert.Empty(_kernel.Services);
    }

    [Fact]
    public async Task Timeout_NewSocketForTheNextCall()
    {
        using var backend = Backend();
        await backend.ApplyAsync(Delta(LoadBalancerTable.Empty, Table(Entry(Web, ("10.1.0.1:8080", 1)))), default);
        Assert.Equal(1, _kernel.SocketsOpened);
        _kernel.Fail = r => r.Command == 4 ? throw new NetlinkException("the kernel did not answer in time (netlink receive timed out)", Errno.ETIMEDOUT) : null;

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.ReconcileAsync(Table(Entry(Web, ("10.1.0.1:8080", 1))), default));
        _kernel.Fail = null;
        Assert.Equal(0, await backend.ReconcileAsync(Table(Entry(Web, ("10.1.0.1:8080", 1))), default));

        Assert.Equal(2, _kernel.SocketsOpened);
    }

    [Fact]
    public async Task EnsureSupported_NoIpvs_NamesBothRemedies()
    {
        _kernel.HasIpvs = false;
        using var backend = Backend();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.EnsureSupportedAsync(default));

        Assert.Equal("the ipvs load-balancer backend needs the kernel's IPVS (module ip_vs), which this kernel does not have: run `modprobe ip_vs`, or set [loadbalancer] backend = \"nftables\" (or \"userspace\")", e.Message);
    }

    [Fact]
    public async Task EnsureSupported_NoIpvsNotRoot_AlsoSaysCapNetAdmin()
    {
        _kernel.HasIpvs = false;
        using var backend = Backend(privileged: false);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.EnsureSupportedAsync(default));

        Assert.Equal(IpvsBackend.NoIpvsMessage + "; it also needs CAP_NET_ADMIN (run the daemon as root)", e.Message);
    }

    [Fact]
    public async Task EnsureSupported_NoCapNetAdmin_SaysSo()
    {
        _kernel.RequireAdmin = true;
        using var backend = Backend(privileged: false);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.EnsureSupportedAsync(default));

        Assert.Equal("the ipvs load-balancer backend needs CAP_NET_ADMIN to program IPVS: run the daemon as root, or set [loadbalancer] backend = \"userspace\"", e.Message);
    }

    [Fact]
    public async Task EnsureSupported_SocketCannotOpen_NamesRemediesAndWhy()
    {
        using var backend = new IpvsBackend(() => throw new NetlinkException("cannot open a generic netlink socket: EAFNOSUPPORT (Address family not supported by protocol)", Errno.EAFNOSUPPORT), "wlc", _dataDir, true, NullLogger<IpvsBackend>.Instance);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await backend.EnsureSupportedAsync(default));

        Assert.Equal(IpvsBackend.NoIpvsMessage + " (a generic netlink socket could not be opened: cannot open a generic netlink socket: EAFNOSUPPORT (Address family not supported by protocol))", e.Message);
    }

    [Fact]
    public async Task EnsureSupported_Ipvs_Passes_CorruptStateFile_Refused()
    {
        using (var backend = Backend())
        {
            await backend.EnsureSupportedAsync(default);
        }

        Directory.CreateDirectory(Path.Combine(_dataDir, "loadbalancer"));
        await File.WriteAllTextAsync(Path.Combine(_dataDir, "loadbalancer", "ipvs-services.json"), "[\"web\"]");
        using var corrupt = Backend();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await corrupt.EnsureSupportedAsync(default));

        Assert.StartsWith("the ipvs load-balancer backend's state: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"web\" is not a service", e.Message, StringComparison.Ordinal);
    }

    private IpvsBackend Backend(bool privileged = true) =>
        new(_kernel.Open, "wlc", Path.Combine(_dataDir, "loadbalancer"), privileged, NullLogger<IpvsBackend>.Instance);

    private static VipEntry Entry(VipKey vip, params (string Endpoint, int Weight)[] backends) =>
        new(vip, [.. backends.Select(b => new VipBackend(IPEndPoint.Parse(b.Endpoint), "node-1", b.Weight))]);

    private static LoadBalancerTable Table(params VipEntry[] entries) => LoadBalancerTable.From(entries);

    private static LoadBalancerDelta Delta(LoadBalancerTable before, LoadBalancerTable after) => LoadBalancerDelta.Between(before, after);
}
