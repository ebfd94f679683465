using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Plugins.LoadBalancer.Addresses;
using Lashup.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.LoadBalancer.Tests.Support;

/// <summary>
/// A <see cref="LoadBalancerController"/> over the kit's fakes: an in-memory store, a member list of node-1 (this node),
/// node-2 and node-3, a recording backend, a fake address table and a fake clock. Every wait is bounded.
/// </summary>
internal sealed class ControllerHarness : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public ControllerHarness(
        IReplicatedStore? store = null,
        IClusterMembership? membership = null,
        bool needsLocalAddresses = false,
        bool keepOnStop = true,
        string range = "10.200.0.0/16",
        string? unavailable = null)
    {
        Time = new FakeTimeProvider(DateTimeOffset.Parse("2026-06-01T00:00:00Z"));
        Store = new InMemoryReplicatedStore("node-1", Time);
        Members = new FakeClusterMembership("node-1", time: Time);
        Members.AddMember("node-2", new IPEndPoint(IPAddress.Loopback, 7472));
        Members.AddMember("node-3", new IPEndPoint(IPAddress.Loopback, 7473));
        Backend = new RecordingLoadBalancerBackend { NeedsLocalAddresses = needsLocalAddresses };
        Addresses = new FakeAddressTable { Unavailable = unavailable };
        Options = new LoadBalancerOptions { NamedVipRange = range, KeepOnStop = keepOnStop };
        Controller = new LoadBalancerController(
            store ?? Store,
            membership ?? Members,
            Backend,
            Addresses,
            Options,
            stateDirectory: null,
            Time,
            NullLogger<LoadBalancerController>.Instance);
    }

    public FakeTimeProvider Time { get; }

    public InMemoryReplicatedStore Store { get; }

    public FakeClusterMembership Members { get; }

    public RecordingLoadBalancerBackend Backend { get; }

    public FakeAddressTable Addresses { get; }

    public LoadBalancerOptions Options { get; }

    public LoadBalancerController Controller { get; }

    public async Task StartAsync(bool waitLoaded = true)
    {
        await Controller.StartAsync(CancellationToken.None);
        if (waitLoaded)
        {
            await Controller.Loaded.WaitAsync(Patience);
        }
    }

    public Task<KvEntry> WriteVipAsync(VipId vip, params VipBackend[] backends) =>
        WriteVipAsync(Store, vip, backends);

    public static async Task<KvEntry> WriteVipAsync(IReplicatedStore store, VipId vip, params VipBackend[] backends)
    {
        var ops = new List<CrdtOp>(VipCatalog.Declare());
        foreach (var backend in backends)
        {
            ops.AddRange(VipCatalog.SetBackend(backend));
        }

        return await store.UpdateAsync(VipCatalog.KeyOf(vip), ops, null, CancellationToken.None);
    }

    public async Task RemoveVipAsync(VipId vip)
    {
        var entry = Store.Get(VipCatalog.KeyOf(vip))!;
        await Store.UpdateAsync(entry.Key, VipCatalog.Remove(entry.Value), null, CancellationToken.None);
    }

    /// <summary>Waits until the backend was called <paramref name="count"/> times in all; returns the last call.</summary>
    public async Task<LoadBalancerBackendCall> CallAsync(int count)
    {
        Assert.True(
            await Backend.WaitUntilAsync(b => b.Calls.Count(c => c.Kind != LoadBalancerCallKind.EnsureSupported) >= count, Patience),
            $"the backend got {Backend.Calls.Count(c => c.Kind != LoadBalancerCallKind.EnsureSupported)} calls, expected {count}: {string.Join(", ", Backend.Calls.Select(c => c.Kind))}");
        return Backend.Calls.Where(c => c.Kind != LoadBalancerCallKind.EnsureSupported).ElementAt(count - 1);
    }

    /// <summary>Calls other than the support check.</summary>
    public int CallCount => Backend.Calls.Count(c => c.Kind != LoadBalancerCallKind.EnsureSupported);

    /// <summary>Polls until <paramref name="condition"/> holds; fails after <see cref="Patience"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        using var patience = new CancellationTokenSource(Patience);
        while (!condition())
        {
            if (patience.IsCancellationRequested)
            {
                Assert.Fail($"never happened within {Patience.TotalSeconds:0}s: {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Controller.StopAsync(CancellationToken.None);
        await Controller.DisposeAsync();
    }
}

/// <summary>An <see cref="ILocalAddressTable"/> in memory: what is "on lo", what else is local, and every change made.</summary>
internal sealed class FakeAddressTable : ILocalAddressTable
{
    private readonly Lock _lock = new();
    private readonly HashSet<IPAddress> _labelled = [];

    public string? Unavailable { get; set; }

    /// <summary>Addresses the host has anyway (not the load balancer's).</summary>
    public HashSet<IPAddress> Local { get; } = [];

    public IReadOnlySet<IPAddress> Labelled
    {
        get
        {
            lock (_lock)
            {
                return _labelled.ToHashSet();
            }
        }
    }

    public Task<IReadOnlySet<IPAddress>> ListAsync(CancellationToken cancellationToken) => Task.FromResult(Labelled);

    public Task AddAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _labelled.UnionWith(addresses);
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _labelled.ExceptWith(addresses);
        }

        return Task.CompletedTask;
    }

    /// <summary>An address removed behind the load balancer's back.</summary>
    public void Drop(IPAddress address)
    {
        lock (_lock)
        {
            _labelled.Remove(address);
        }
    }

    public bool IsLocal(IPAddress address) => Local.Contains(address);
}
