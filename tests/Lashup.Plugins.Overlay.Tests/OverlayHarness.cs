using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Overlay;
using Lashup.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Overlay.Tests;

/// <summary>
/// An <see cref="OverlayController"/> over the kit's fakes: its own in-memory store replica, a member list, a recording
/// backend, a fake clock (shared between harnesses of one test), a state folder of its own. Every wait is bounded.
/// </summary>
internal sealed class OverlayHarness : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public OverlayHarness(string node, FakeTimeProvider time, string range = "10.240.0.0/16", int prefix = 24, InMemoryReplicatedStore? store = null, string? folder = null)
    {
        Node = node;
        Time = time;
        Store = store ?? new InMemoryReplicatedStore(node, time);
        Members = new FakeClusterMembership(node, new IPEndPoint(UnderlayOf(node), 7470), time);
        Backend = new RecordingOverlayBackend();
        Folder = folder ?? Directory.CreateTempSubdirectory("lashup-overlay-").FullName;
        Options = new OverlayOptions { Range = range, SubnetPrefix = prefix, PeerGrace = Lashup.Abstractions.Configuration.Duration.FromSeconds(60), ReconcileInterval = Lashup.Abstractions.Configuration.Duration.FromSeconds(30) };
        Controller = new OverlayController(Store, Members, Backend, Options, Folder, time, NullLogger<OverlayController>.Instance);
    }

    public string Node { get; }

    public FakeTimeProvider Time { get; }

    public InMemoryReplicatedStore Store { get; }

    public FakeClusterMembership Members { get; }

    public RecordingOverlayBackend Backend { get; }

    public OverlayOptions Options { get; }

    public OverlayController Controller { get; }

    public string Folder { get; }

    /// <summary>Each node's underlay address: 192.168.1.N for node-N (other names: a hash).</summary>
    public static IPAddress UnderlayOf(string node) =>
        IPAddress.Parse($"192.168.1.{(int.TryParse(node.AsSpan(node.LastIndexOf('-') + 1), out var n) ? n : Math.Abs(node.GetHashCode(StringComparison.Ordinal) % 200) + 20)}");

    public Member AddPeer(string node, MemberState state = MemberState.Alive) =>
        Members.AddMember(node, new IPEndPoint(UnderlayOf(node), 7470), state);

    /// <summary>Starts the controller; with <paramref name="settle"/>, lets the claim wait pass (fake time).</summary>
    public async Task StartAsync(bool settle = true)
    {
        await Controller.StartAsync(CancellationToken.None);
        await Controller.Loaded.WaitAsync(Patience);
        if (settle)
        {
            Time.Advance(OverlayController.ClaimSettle);
        }
    }

    /// <summary>This node's programmed subnet, once it has one.</summary>
    public async Task<IPNetwork> SubnetAsync()
    {
        Assert.True(await Backend.WaitUntilAsync(b => b.Programmed.Local is not null, Patience), $"{Node} never programmed a subnet: {Controller.Snapshot.LocalReason}");
        return Backend.Programmed.Local!.Subnet;
    }

    /// <summary>Copies every overlay entry of <paramref name="from"/> into this node's store (anti-entropy).</summary>
    public void MergeFrom(OverlayHarness from)
    {
        foreach (var entry in from.Store.List(OverlayCatalog.Prefix))
        {
            Store.MergeRemote(entry);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Controller.DisposeAsync();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
