using System.Collections.Immutable;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Lashup.Abstractions.Cluster;

namespace Lashup.Testing;

/// <summary>
/// An in-memory <see cref="IClusterMembership"/> a test drives by hand: add members, change their state or metadata,
/// remove them. Watchers see the snapshot, then each change in order, exactly like the real one (including the
/// coalescing to a fresh snapshot when a watcher falls more than <see cref="WatchBacklog"/> changes behind).
/// Thread-safe.
/// </summary>
public sealed class FakeClusterMembership : IClusterMembership
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly List<Channel<MembershipEvent>> _watchers = [];
    private ImmutableDictionary<string, Member> _members = ImmutableDictionary<string, Member>.Empty;

    /// <summary>Creates a membership whose only member is the local node <paramref name="localName"/> at <paramref name="localAddress"/>.</summary>
    public FakeClusterMembership(string localName = "node-1", IPEndPoint? localAddress = null, TimeProvider? time = null)
    {
        LocalName = localName;
        _time = time ?? TimeProvider.System;
        _members = _members.Add(localName, NewMember(localName, localAddress ?? new IPEndPoint(IPAddress.Loopback, 7470), MemberState.Alive));
    }

    /// <summary>How many changes a watcher may fall behind before it gets a snapshot instead.</summary>
    public int WatchBacklog { get; init; } = 1024;

    /// <inheritdoc/>
    public string LocalName { get; }

    /// <inheritdoc/>
    public ImmutableArray<Member> Members
    {
        get
        {
            lock (_lock)
            {
                return [.. _members.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Finds a member by name.</summary>
    public Member? Find(string name)
    {
        lock (_lock)
        {
            return _members.GetValueOrDefault(name);
        }
    }

    /// <summary>Adds a member (alive unless told otherwise) and notifies watchers.</summary>
    public Member AddMember(string name, IPEndPoint address, MemberState state = MemberState.Alive, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var member = NewMember(name, address, state) with
        {
            Metadata = metadata?.ToImmutableDictionary() ?? ImmutableDictionary<string, string>.Empty,
        };
        Publish(MembershipChangeKind.Joined, member, m => m.Add(name, member));
        return member;
    }

    /// <summary>
    /// Changes a member's state (e.g. to <see cref="MemberState.Unreachable"/>) and notifies watchers; setting the state
    /// it already has changes nothing and notifies no one, as in the real membership.
    /// </summary>
    public Member SetState(string name, MemberState state)
    {
        var current = Require(name);
        if (current.State == state)
        {
            return current;
        }

        var member = current with { State = state, Since = _time.GetUtcNow() };
        Publish(MembershipChangeKind.Updated, member, m => m.SetItem(name, member));
        return member;
    }

    /// <summary>
    /// Sets (or with null removes) a metadata entry of any member and notifies watchers; setting the value an entry
    /// already has (or removing an absent one) changes nothing and notifies no one, as in the real membership.
    /// </summary>
    /// <exception cref="ArgumentException">The key is null or empty.</exception>
    public Member SetMetadata(string name, string key, string? value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var current = Require(name);
        var metadata = value is null ? current.Metadata.Remove(key) : current.Metadata.SetItem(key, value);
        if (ReferenceEquals(metadata, current.Metadata))
        {
            return current;
        }

        var member = current with { Metadata = metadata };
        Publish(MembershipChangeKind.Updated, member, m => m.SetItem(name, member));
        return member;
    }

    /// <summary>Removes a member and notifies watchers.</summary>
    public void RemoveMember(string name)
    {
        var member = Require(name);
        Publish(MembershipChangeKind.Removed, member, m => m.Remove(name));
    }

    /// <inheritdoc/>
    public ValueTask SetLocalMetadataAsync(string key, string? value, CancellationToken cancellationToken = default)
    {
        SetMetadata(LocalName, key, value);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<MembershipEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<MembershipEvent>(new UnboundedChannelOptions { SingleReader = false });
        lock (_lock)
        {
            channel.Writer.TryWrite(new MembershipEvent([.. _members.Values.OrderBy(m => m.Name, StringComparer.Ordinal)], null));
            _watchers.Add(channel);
        }

        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken))
            {
                while (channel.Reader.TryRead(out var e))
                {
                    yield return e;
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(channel);
            }
        }
    }

    private Member Require(string name)
    {
        lock (_lock)
        {
            return _members.TryGetValue(name, out var m) ? m : throw new InvalidOperationException($"no member named {name}");
        }
    }

    private Member NewMember(string name, IPEndPoint address, MemberState state) =>
        new(name, address, state, ImmutableDictionary<string, string>.Empty, _time.GetUtcNow());

    private void Publish(MembershipChangeKind kind, Member member, Func<ImmutableDictionary<string, Member>, ImmutableDictionary<string, Member>> update)
    {
        lock (_lock)
        {
            _members = update(_members);
            foreach (var watcher in _watchers)
            {
                if (watcher.Reader.Count >= WatchBacklog)
                {
                    // Coalesce: drop the backlog and send the current list, as the real membership does.
                    while (watcher.Reader.TryRead(out _))
                    {
                    }

                    watcher.Writer.TryWrite(new MembershipEvent([.. _members.Values.OrderBy(m => m.Name, StringComparer.Ordinal)], null));
                }
                else
                {
                    watcher.Writer.TryWrite(new MembershipEvent(default, new MembershipChange(kind, member)));
                }
            }
        }
    }
}
