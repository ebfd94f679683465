using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// Inbound stream connections by source address, so that one host cannot take every connection slot or the whole of a
/// budget: a TCP source address cannot be forged off-path (the handshake needs the answer), so this holds in plaintext
/// too. An IPv6 source counts by its /64 (one host is commonly given a whole /64, so an attacker holds them all), an
/// IPv4-mapped one as IPv4.
/// <para>
/// Members are not held to these caps, only to the limits all connections share: several members behind one address (a
/// loopback or container cluster, a NAT) are a real deployment, not an attack. A connection is a member's if its source
/// is exactly the address of a member this node sees alive (<see cref="SetMembers"/>; plaintext only, see
/// <see cref="SocketTransport.SetMembers"/>), counted apart from the strangers of its /64. In plaintext anyone can join
/// and so become a member: there the shared limits are what bounds a forger that did.
/// </para>
/// <para>
/// At a source's cap a connection that is stuck makes room: one not authenticated yet that has received nothing for
/// <see cref="StreamLimits.EvictAfter"/> (no frame header since it connected, or no byte of the frame it is in), the one
/// stuck longest. A connection that is moving is never closed for a newer one: a burst of real peers from one host
/// (a loopback cluster, a NAT) used to close its own connections mid-frame. With no stuck connection to close, the
/// newcomer waits, reading nothing, for one of the source's connections to authenticate, close or get stuck (at most
/// the handshake time), oldest first; if even the source's cap of all connections is reached it is refused at once.
/// A source is forgotten when its last connection closes, so the table holds at most one entry per open connection.
/// </para>
/// </summary>
internal sealed class InboundSources(StreamLimits limits, TimeProvider time)
{
    private readonly Dictionary<SourceKey, Source> _sources = [];
    private volatile HashSet<IPAddress> _members = [];

    /// <summary>Sources with a connection open now.</summary>
    public int Count
    {
        get
        {
            lock (_sources)
            {
                return _sources.Count;
            }
        }
    }

    /// <summary>
    /// The addresses of the members this node sees alive (their gossip endpoints' addresses): connections from exactly
    /// these are not held to the caps per source. Replaces the previous set; connections already open keep the way they
    /// were counted.
    /// </summary>
    public void SetMembers(IEnumerable<IPAddress> addresses) => _members = [.. addresses.Select(Normalize)];

    /// <summary>Whether <paramref name="address"/> is a member's (see <see cref="SetMembers"/>).</summary>
    public bool IsMember(IPAddress address) => _members.Contains(Normalize(address));

    /// <summary>
    /// Counts a new connection from <paramref name="remote"/>, whose deadline is <paramref name="deadline"/>; null if
    /// its source is at its cap of connections with no stuck one to close (refuse it). The connection returned may have
    /// to wait for its turn (<see cref="Inbound.Queued"/>, <see cref="WaitForTurnAsync"/>). A connection closed to make
    /// room is expired at once.
    /// </summary>
    public Inbound? TryEnter(EndPoint? remote, ConnectionDeadline deadline)
    {
        var address = Normalize((remote as IPEndPoint)?.Address ?? IPAddress.None);
        var key = _members.Contains(address) ? new SourceKey(address, Member: true) : new SourceKey(Group(address), Member: false);
        var now = time.GetTimestamp();
        Inbound? evicted = null;
        Inbound? admitted = null;
        Inbound entered;
        lock (_sources)
        {
            if (!_sources.TryGetValue(key, out var source))
            {
                source = new Source(key, limits);
                _sources[key] = source;
            }

            if (key.Member)
            {
                // A member's address: no cap of its own, and it reads at once.
                entered = new Inbound(source, deadline, now);
                source.Connections++;
                entered.Admit();
                return entered;
            }

            if (source.Connections >= limits.MaxConnectionsPerSource || source.Waiting.Count >= limits.MaxUnauthenticatedPerSource)
            {
                evicted = EvictLocked(source, now);
                if (evicted is null && source.Connections >= limits.MaxConnectionsPerSource)
                {
                    if (source.Connections == 0)
                    {
                        _sources.Remove(key);
                    }

                    return null;
                }
            }

            // An evicted connection still counts until it has closed and given its buffers back.
            entered = new Inbound(source, deadline, now);
            source.Connections++;
            entered.Node = source.Queue.AddLast(entered);
            admitted = AdmitLocked(source, now);
        }

        evicted?.Deadline.Expire();
        admitted?.Admit();
        return entered;
    }

    /// <summary>
    /// Waits until <paramref name="connection"/> may read (at once unless <see cref="Inbound.Queued"/>): every
    /// <see cref="StreamLimits.EvictAfter"/> it looks again for a stuck connection of its source to close. Cancelled
    /// by the connection's deadline.
    /// </summary>
    public async ValueTask WaitForTurnAsync(Inbound connection, CancellationToken token)
    {
        while (!connection.Turn.Task.IsCompleted)
        {
            try
            {
                await connection.Turn.Task.WaitAsync(limits.EvictAfter, time, token);
            }
            catch (TimeoutException)
            {
                Inbound? evicted;
                Inbound? admitted = null;
                lock (_sources)
                {
                    var now = time.GetTimestamp();
                    evicted = connection.Queued ? EvictLocked(connection.Source, now) : null;
                    if (evicted is not null)
                    {
                        admitted = AdmitLocked(connection.Source, now);
                    }
                }

                evicted?.Deadline.Expire();
                admitted?.Admit();
            }
        }
    }

    /// <summary>
    /// The connection's frame made progress (its header or body bytes arrived): it is not stuck. Only connections not
    /// authenticated yet need to say so.
    /// </summary>
    public void Progressed(Inbound connection) => Volatile.Write(ref connection.LastProgress, time.GetTimestamp());

    /// <summary>
    /// <paramref name="connection"/> authenticated: it no longer counts against the cap of those that have not, and is
    /// never evicted. It still counts against its source's cap of connections and its share of the authenticated budget:
    /// a frame that opens is no proof of a key holder (a captured sealed frame can be replayed).
    /// </summary>
    public void Authenticated(Inbound connection)
    {
        Inbound? admitted;
        lock (_sources)
        {
            var source = connection.Source;
            if (connection.Node is { } node && node.List == source.Waiting)
            {
                source.Waiting.Remove(node);
                connection.Node = null;
            }

            admitted = AdmitLocked(source, time.GetTimestamp());
        }

        admitted?.Admit();
    }

    /// <summary><paramref name="connection"/> closed (after every buffer it held went back).</summary>
    public void Leave(Inbound connection)
    {
        Inbound? admitted;
        lock (_sources)
        {
            var source = connection.Source;
            if (connection.Node is { } node)
            {
                node.List!.Remove(node);
                connection.Node = null;
            }

            source.Connections--;
            if (source.Connections == 0)
            {
                _sources.Remove(source.Key);
            }

            admitted = AdmitLocked(source, time.GetTimestamp());
        }

        admitted?.Admit();
    }

    /// <summary>
    /// Closes (marks, and takes out of the waiting list) the source's connection not authenticated yet that has been
    /// stuck longest, if one has been stuck for <see cref="StreamLimits.EvictAfter"/>; the caller expires it outside
    /// the lock.
    /// </summary>
    private Inbound? EvictLocked(Source source, long now)
    {
        var stuckSince = now - (long)(limits.EvictAfter.TotalSeconds * time.TimestampFrequency);
        LinkedListNode<Inbound>? stuck = null;
        for (var node = source.Waiting.First; node is not null; node = node.Next)
        {
            var last = Volatile.Read(ref node.Value.LastProgress);
            if (last < stuckSince && (stuck is null || last < Volatile.Read(ref stuck.Value.LastProgress)))
            {
                stuck = node;
            }
        }

        if (stuck is null)
        {
            return null;
        }

        var evicted = stuck.Value;
        evicted.Evicted = true;
        source.Waiting.Remove(stuck);
        evicted.Node = null;
        return evicted;
    }

    /// <summary>
    /// Moves the longest-waiting queued connection of <paramref name="source"/> to the waiting list if there is room;
    /// the caller lets it read (<see cref="Inbound.Admit"/>) outside the lock. One at a time: every change that makes
    /// room calls this.
    /// </summary>
    private Inbound? AdmitLocked(Source source, long now)
    {
        if (source.Queue.First is not { } node || source.Waiting.Count >= limits.MaxUnauthenticatedPerSource)
        {
            return null;
        }

        var admitted = node.Value;
        source.Queue.Remove(node);
        source.Waiting.AddLast(node);

        // Its time to send a header starts now, not when it connected.
        Volatile.Write(ref admitted.LastProgress, now);
        return admitted;
    }

    /// <summary>An IPv4-mapped IPv6 address as IPv4, without a scope; others as they are.</summary>
    private static IPAddress Normalize(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            return new IPAddress(bytes);
        }

        return address;
    }

    /// <summary>What a stranger's caps are counted by: an IPv4 address, or the /64 of an IPv6 one.</summary>
    private static IPAddress Group(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    /// <summary>A source: a member's exact address, or a stranger's group (the same IPv4 address counts apart as both).</summary>
    internal readonly record struct SourceKey(IPAddress Address, bool Member);

    /// <summary>
    /// One source address: its connections, those of them not authenticated yet that are reading (oldest first) and
    /// those waiting for their turn to (oldest first), and its shares of the budgets.
    /// </summary>
    internal sealed class Source(SourceKey key, StreamLimits limits)
    {
        public SourceKey Key { get; } = key;

        /// <summary>All its connections: waiting, queued, authenticated, and closed to make room but not gone yet.</summary>
        public int Connections { get; set; }

        public LinkedList<Inbound> Waiting { get; } = [];

        public LinkedList<Inbound> Queue { get; } = [];

        /// <summary>Its share of the budget of connections not authenticated yet (none for a member's address).</summary>
        public ByteBudget? UnauthenticatedBytes { get; } = key.Member ? null : new(limits.UnauthenticatedBudgetPerSource);

        /// <summary>Its share of the budget of authenticated connections (none for a member's address).</summary>
        public ByteBudget? AuthenticatedBytes { get; } = key.Member ? null : new(limits.AuthenticatedBudgetPerSource);
    }

    /// <summary>One inbound connection, as its source sees it.</summary>
    internal sealed class Inbound(Source source, ConnectionDeadline deadline, long connected)
    {
        public Source Source { get; } = source;

        public ConnectionDeadline Deadline { get; } = deadline;

        /// <summary>Its place in its source's waiting list or queue (null once authenticated or evicted).</summary>
        public LinkedListNode<Inbound>? Node { get; set; }

        /// <summary>When its frame last made progress (a timestamp); when it connected, or its turn came, at first.</summary>
        public long LastProgress = connected;

        /// <summary>Closed to make room for a newer connection of its source.</summary>
        public volatile bool Evicted;

        /// <summary>What its bytes are charged to besides the shared budget, before it authenticates (null: nothing).</summary>
        public ByteBudget? UnauthenticatedShare => Source.UnauthenticatedBytes;

        /// <summary>What its bytes are charged to besides the shared budget, once authenticated (null: nothing).</summary>
        public ByteBudget? AuthenticatedShare => Source.AuthenticatedBytes;

        /// <summary>Completed when it may read.</summary>
        public TaskCompletionSource Turn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Whether it waits for its turn to read (its source had no room and no stuck connection to close).</summary>
        public bool Queued => !Turn.Task.IsCompleted;

        public void Admit() => Turn.TrySetResult();
    }
}
