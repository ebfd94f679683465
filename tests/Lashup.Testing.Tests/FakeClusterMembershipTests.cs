using System.Net;
using Lashup.Abstractions.Cluster;
using NSubstitute;

namespace Lashup.Testing.Tests;

public sealed class FakeClusterMembershipTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly IPEndPoint Node2 = new(IPAddress.Parse("10.0.0.2"), 7470);
    private static readonly IPEndPoint Node3 = new(IPAddress.Parse("10.0.0.3"), 7470);

    [Fact]
    public void Constructor_Defaults_LocalNodeAliveOnLoopback()
    {
        var membership = new FakeClusterMembership();

        var local = Assert.Single(membership.Members);
        Assert.Equal(("node-1", "node-1", new IPEndPoint(IPAddress.Loopback, 7470), MemberState.Alive), (membership.LocalName, local.Name, local.Address, local.State));
        Assert.True(local.IsReachable);
        Assert.Empty(local.Metadata);
        Assert.Equal(1024, membership.WatchBacklog);
    }

    [Fact]
    public async Task WatchAsync_ThenChanges_SnapshotFirstThenEachChangeInOrder()
    {
        var membership = new FakeClusterMembership();
        using var cts = new CancellationTokenSource(Timeout);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);

        var snapshot = await Next(watch);
        membership.AddMember("node-2", Node2, metadata: new Dictionary<string, string> { ["overlay.vtep"] = "10.0.0.2" });
        membership.SetState("node-2", MemberState.Unreachable);
        membership.SetMetadata("node-2", "dns.name", "two");
        await membership.SetLocalMetadataAsync("overlay.vtep", "10.0.0.1");
        membership.RemoveMember("node-2");

        Assert.True(snapshot.IsSnapshot);
        Assert.Equal(["node-1"], snapshot.Snapshot.Select(m => m.Name));
        string[] expected =
        [
            "Joined node-2 Alive overlay.vtep=10.0.0.2",
            "Updated node-2 Unreachable overlay.vtep=10.0.0.2",
            "Updated node-2 Unreachable dns.name=two,overlay.vtep=10.0.0.2",
            "Updated node-1 Alive overlay.vtep=10.0.0.1",
            "Removed node-2 Unreachable dns.name=two,overlay.vtep=10.0.0.2",
        ];
        foreach (var line in expected)
        {
            Assert.Equal(line, Show(await Next(watch)));
        }
    }

    [Fact]
    public async Task WatchAsync_TwoWatchers_EachSeesEveryChange()
    {
        var membership = new FakeClusterMembership();
        using var cts = new CancellationTokenSource(Timeout);
        await using var first = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await using var second = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(first);
        await Next(second);

        membership.AddMember("node-2", Node2);

        Assert.Equal("Joined node-2 Alive ", Show(await Next(first)));
        Assert.Equal("Joined node-2 Alive ", Show(await Next(second)));
    }

    [Fact]
    public void SetState_KnownMember_UpdatesStateAndSince()
    {
        var t0 = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var time = Substitute.For<TimeProvider>();
        time.GetUtcNow().Returns(t0);
        var membership = new FakeClusterMembership(time: time);
        membership.AddMember("node-2", Node2);
        time.GetUtcNow().Returns(t0.AddSeconds(30));

        var updated = membership.SetState("node-2", MemberState.Left);

        Assert.Equal((MemberState.Left, t0.AddSeconds(30), false), (updated.State, updated.Since, updated.IsReachable));
        Assert.Equal(updated, membership.Find("node-2"));
        Assert.Equal(t0, membership.Find("node-1")!.Since);
    }

    [Fact]
    public void SetMetadata_ValueThenNull_SetsThenRemovesTheEntry()
    {
        var membership = new FakeClusterMembership();
        membership.AddMember("node-2", Node2);

        membership.SetMetadata("node-2", "dns.name", "two");
        Assert.Equal("two", membership.Find("node-2")!.Metadata["dns.name"]);

        membership.SetMetadata("node-2", "dns.name", null);
        Assert.Empty(membership.Find("node-2")!.Metadata);
    }

    [Fact]
    public void RemoveMember_KnownMember_IsGoneFromMembers()
    {
        var membership = new FakeClusterMembership();
        membership.AddMember("node-3", Node3);
        membership.AddMember("node-2", Node2);

        Assert.Equal(["node-1", "node-2", "node-3"], membership.Members.Select(m => m.Name));
        membership.RemoveMember("node-2");

        Assert.Equal(["node-1", "node-3"], membership.Members.Select(m => m.Name));
        Assert.Null(membership.Find("node-2"));
    }

    [Fact]
    public void Changes_UnknownMember_Throw()
    {
        var membership = new FakeClusterMembership();

        Assert.Equal("no member named ghost", Assert.Throws<InvalidOperationException>(() => membership.SetState("ghost", MemberState.Left)).Message);
        Assert.Throws<InvalidOperationException>(() => membership.SetMetadata("ghost", "k", "v"));
        Assert.Throws<InvalidOperationException>(() => membership.RemoveMember("ghost"));
    }

    [Fact]
    public async Task WatchAsync_WatcherFallsBehindPastBacklog_GetsOneSnapshotInsteadOfTheChanges()
    {
        var membership = new FakeClusterMembership { WatchBacklog = 2 };
        using var cts = new CancellationTokenSource(Timeout);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        membership.AddMember("node-2", Node2);
        membership.AddMember("node-3", Node3);
        membership.SetState("node-2", MemberState.Unreachable);

        var snapshot = await Next(watch);
        Assert.True(snapshot.IsSnapshot);
        Assert.Equal(["node-1 Alive", "node-2 Unreachable", "node-3 Alive"], snapshot.Snapshot.Select(m => $"{m.Name} {m.State}"));

        membership.RemoveMember("node-3");
        Assert.Equal("Removed node-3 Alive ", Show(await Next(watch)));
    }

    [Fact]
    public async Task WatchAsync_WatcherWithinBacklog_GetsEveryChange()
    {
        var membership = new FakeClusterMembership { WatchBacklog = 2 };
        using var cts = new CancellationTokenSource(Timeout);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        membership.AddMember("node-2", Node2);
        membership.AddMember("node-3", Node3);

        Assert.Equal("Joined node-2 Alive ", Show(await Next(watch)));
        Assert.Equal("Joined node-3 Alive ", Show(await Next(watch)));
    }

    [Fact]
    public async Task WatchAsync_Cancelled_EndsTheStream()
    {
        var membership = new FakeClusterMembership();
        using var cts = new CancellationTokenSource();
        var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        var pending = watch.MoveNextAsync().AsTask();
        Assert.False(pending.IsCompleted);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Timeout));
        await watch.DisposeAsync();
        membership.AddMember("node-2", Node2);
        Assert.Equal(2, membership.Members.Length);
    }

    private static async Task<MembershipEvent> Next(IAsyncEnumerator<MembershipEvent> watch)
    {
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Timeout), "the watch ended");
        return watch.Current;
    }

    private static string Show(MembershipEvent e)
    {
        Assert.False(e.IsSnapshot, "expected a change, got a snapshot");
        var m = e.Change!.Member;
        return $"{e.Change.Kind} {m.Name} {m.State} {string.Join(",", m.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"))}";
    }
}
