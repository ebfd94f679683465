using System.Collections.Immutable;
using Lashup.Abstractions.Cluster;

namespace Lashup.TestSupport.Conformance;

/// <summary>
/// What every <see cref="IClusterMembership"/> does, as its documentation says: the core's (a real runtime on loopback,
/// in Lashup.Plugins.Core.Tests) and the plugin authors' fake (Lashup.Testing.Tests) both derive from this class and
/// pass the same tests. Changes are made through the interface (<see cref="IClusterMembership.SetLocalMetadataAsync"/>)
/// or by nodes joining and leaving; a membership may fold a burst of changes into one event, so the tests wait for
/// what a change must eventually show rather than count events.
/// </summary>
public abstract class ClusterMembershipConformance
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>How many changes a watcher may fall behind before it gets a snapshot instead (set small, e.g. 16).</summary>
    protected abstract int WatchBacklog { get; }

    /// <summary>A started membership whose local node is <paramref name="localName"/>, alone, with <see cref="WatchBacklog"/>.</summary>
    /// <returns>The membership; the derived class stops and disposes it after the test.</returns>
    protected abstract Task<IClusterMembership> StartAsync(string localName);

    /// <summary>Makes a node named <paramref name="name"/> join the cluster of <paramref name="membership"/> (returns at once; the test waits for it to show).</summary>
    protected abstract Task JoinAsync(IClusterMembership membership, string name);

    /// <summary>Makes the node <paramref name="name"/> (joined with <see cref="JoinAsync"/>) leave gracefully.</summary>
    protected abstract Task LeaveAsync(IClusterMembership membership, string name);

    [Fact]
    public async Task Members_AtStart_HoldTheLocalNodeAlive()
    {
        var membership = await StartAsync("node-1");

        var local = Assert.Single(membership.Members);
        Assert.Equal(("node-1", "node-1", MemberState.Alive, true), (membership.LocalName, local.Name, local.State, local.IsReachable));
    }

    [Fact]
    public async Task Watch_FirstEvent_IsASnapshotOfTheMembers()
    {
        var membership = await StartAsync("node-1");
        await membership.SetLocalMetadataAsync("role", "a");
        await Eventually(() => Local(membership).Metadata.GetValueOrDefault("role") == "a");
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);

        var first = await Next(watch);

        Assert.True(first.IsSnapshot);
        Assert.Null(first.Change);
        Assert.Equal(Describe(membership.Members), Describe(first.Snapshot));
        Assert.Equal("a", Assert.Single(first.Snapshot).Metadata["role"]);
    }

    [Fact]
    public async Task SetLocalMetadata_Value_WatcherSeesTheLocalMemberUpdatedAndMembersAlreadyShowIt()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        await membership.SetLocalMetadataAsync("overlay.vtep", "10.0.0.1");

        var change = await NextChange(watch);
        Assert.Equal((MembershipChangeKind.Updated, "node-1"), (change.Kind, change.Member.Name));
        Assert.Equal("10.0.0.1", change.Member.Metadata["overlay.vtep"]);
        Assert.Equal("10.0.0.1", Local(membership).Metadata["overlay.vtep"]);
    }

    [Fact]
    public async Task SetLocalMetadata_Burst_WatcherSeesTheValuesInOrderEndingWithTheLast()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        // Fewer than the backlog: the watcher is not allowed to fall behind by a snapshot here.
        var burst = WatchBacklog / 2;
        for (var i = 1; i <= burst; i++)
        {
            await membership.SetLocalMetadataAsync("n", $"{i:D4}");
        }

        var seen = new List<string>();
        while (seen.Count == 0 || seen[^1] != $"{burst:D4}")
        {
            seen.Add((await NextChange(watch)).Member.Metadata["n"]);
        }

        Assert.Equal(seen.Order(StringComparer.Ordinal), seen);
        Assert.Equal(seen.Distinct(), seen);
    }

    [Fact]
    public async Task SetLocalMetadata_SameValueAgain_IsNoChange()
    {
        var membership = await StartAsync("node-1");
        await membership.SetLocalMetadataAsync("k", "v");
        await Eventually(() => Local(membership).Metadata.GetValueOrDefault("k") == "v");
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        await membership.SetLocalMetadataAsync("k", "v");
        await membership.SetLocalMetadataAsync("absent", null);
        await membership.SetLocalMetadataAsync("k2", "w");

        var change = await NextChange(watch);
        Assert.Equal("w", change.Member.Metadata["k2"]);
    }

    [Fact]
    public async Task SetLocalMetadata_Null_RemovesTheEntry()
    {
        var membership = await StartAsync("node-1");
        await membership.SetLocalMetadataAsync("k", "v");
        await Eventually(() => Local(membership).Metadata.ContainsKey("k"));
        using var cts = new CancellationTokenSource(Patience);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        await membership.SetLocalMetadataAsync("k", null);

        Assert.False((await NextChange(watch)).Member.Metadata.ContainsKey("k"));
        Assert.False(Local(membership).Metadata.ContainsKey("k"));
    }

    [Fact]
    public async Task SetLocalMetadata_EmptyKey_Throws()
    {
        var membership = await StartAsync("node-1");

        await Assert.ThrowsAnyAsync<ArgumentException>(() => membership.SetLocalMetadataAsync("", "v").AsTask());
    }

    [Fact]
    public async Task Watch_FallsBehindPastTheBacklog_GetsASnapshotAndNeverMoreThanTheBacklog()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource(Patience * 2);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        // Distinct changes, each one made only once the previous one shows (a membership may fold a burst into one).
        var changes = WatchBacklog + 4;
        for (var i = 1; i <= changes; i++)
        {
            await membership.SetLocalMetadataAsync("n", $"{i:D4}");
            var expected = $"{i:D4}";
            await Eventually(() => Local(membership).Metadata.GetValueOrDefault("n") == expected);
        }

        var events = new List<MembershipEvent>();
        var last = $"{changes:D4}";
        while (Replay(events).FirstOrDefault(m => m.Name == membership.LocalName)?.Metadata.GetValueOrDefault("n") != last)
        {
            events.Add(await Next(watch));
            Assert.True(events.Count <= WatchBacklog + 1, $"{events.Count} events waited for a watcher allowed {WatchBacklog}");
        }

        Assert.Contains(events, e => e.IsSnapshot);
        Assert.Equal(Describe(membership.Members), Describe(Replay(events)));
    }

    [Fact]
    public async Task Watch_TwoWatchers_EachGetsTheChange()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource(Patience);
        await using var first = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await using var second = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(first);
        await Next(second);

        await membership.SetLocalMetadataAsync("k", "v");

        Assert.Equal("v", (await NextChange(first)).Member.Metadata["k"]);
        Assert.Equal("v", (await NextChange(second)).Member.Metadata["k"]);
    }

    [Fact]
    public async Task Watch_Cancelled_EndsWithOperationCanceledAndChangesGoOn()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource();
        var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        var pending = watch.MoveNextAsync().AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience));
        await watch.DisposeAsync();
        await membership.SetLocalMetadataAsync("k", "after");
        await Eventually(() => Local(membership).Metadata.GetValueOrDefault("k") == "after");
    }

    [Fact]
    public async Task Peer_JoinsThenLeaves_WatcherSeesItJoinAliveThenNoLongerAlive()
    {
        var membership = await StartAsync("node-1");
        using var cts = new CancellationTokenSource(Patience * 2);
        await using var watch = membership.WatchAsync(cts.Token).GetAsyncEnumerator(cts.Token);
        await Next(watch);

        await JoinAsync(membership, "node-2");
        var joined = await NextChangeOf(watch, "node-2");

        Assert.Equal((MembershipChangeKind.Joined, MemberState.Alive), (joined.Kind, joined.Member.State));
        await Eventually(() => membership.Members.Any(m => m.Name == "node-2" && m.IsReachable));
        Assert.Equal(membership.Members.Select(m => m.Name).Order(StringComparer.Ordinal), membership.Members.Select(m => m.Name));

        await LeaveAsync(membership, "node-2");
        var left = await NextChangeOf(watch, "node-2", c => !c.Member.IsReachable || c.Kind == MembershipChangeKind.Removed);

        Assert.NotEqual(MemberState.Alive, left.Member.State);
        Assert.False(membership.Members.FirstOrDefault(m => m.Name == "node-2")?.IsReachable ?? false);
    }

    /// <summary>The member list a watcher rebuilds from its events: the last snapshot, then each change after it.</summary>
    private static ImmutableArray<Member> Replay(IEnumerable<MembershipEvent> events)
    {
        var members = ImmutableSortedDictionary.Create<string, Member>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.IsSnapshot)
            {
                members = e.Snapshot.ToImmutableSortedDictionary(m => m.Name, m => m, StringComparer.Ordinal);
            }
            else if (e.Change!.Kind == MembershipChangeKind.Removed)
            {
                members = members.Remove(e.Change.Member.Name);
            }
            else
            {
                members = members.SetItem(e.Change.Member.Name, e.Change.Member);
            }
        }

        return [.. members.Values];
    }

    /// <summary>Members as text (name, address, state, metadata): records compare their metadata by reference.</summary>
    private static List<string> Describe(IEnumerable<Member> members) =>
        [.. members.Select(m => $"{m.Name} {m.Address} {m.State} {string.Join(",", m.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"))}")];

    private static Member Local(IClusterMembership membership) => membership.Members.Single(m => m.Name == membership.LocalName);

    private static async Task<MembershipEvent> Next(IAsyncEnumerator<MembershipEvent> watch)
    {
        Assert.True(await watch.MoveNextAsync().AsTask().WaitAsync(Patience), "the watch ended");
        return watch.Current;
    }

    private static async Task<MembershipChange> NextChange(IAsyncEnumerator<MembershipEvent> watch)
    {
        var e = await Next(watch);
        Assert.False(e.IsSnapshot, "expected a change, got a snapshot");
        return e.Change!;
    }

    /// <summary>The next change of member <paramref name="name"/> that matches (other members' changes are skipped).</summary>
    private static async Task<MembershipChange> NextChangeOf(IAsyncEnumerator<MembershipEvent> watch, string name, Func<MembershipChange, bool>? match = null)
    {
        while (true)
        {
            var change = await NextChange(watch);
            if (change.Member.Name == name && (match?.Invoke(change) ?? true))
            {
                return change;
            }
        }
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the change did not show in time");
            await Task.Delay(5);
        }
    }
}
