using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// Inbound stream connections by source address, so that one host cannot take every connection slot or the whole of a
/// budget: a TCP source address cannot be forged off-path (the handshake needs the answer), so this holds in plaintext
/// too. An IPv6 source counts by its /64 (one host is commonly given a whole /64), an IPv4-mapped one as IPv4. At a
/// source's cap a new connection does not wait behind the old ones: the source's oldest connection that has not
/// authenticated is closed to make room (a real peer authenticates with its first frame, in milliseconds; connections
/// that only hold a slot are the old ones), and the new one is refused only if none is left to close (the DNS plugin
/// treats TCP connections the same way). A source is forgotten when its last connection closes, so the table holds at
/// most one entry per open connection.
/// </summary>
internal sealed class InboundSources(StreamLimits limits)
{
    private readonly Dictionary<IPAddress, Source> _sources = [];

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
    /// Counts a new connection from <paramref name="remote"/>, whose deadline is <paramref name="deadline"/>; null if
    /// its source is at a cap with nothing to close (refuse it). A connection closed to make room is expired at once.
    /// </summary>
    public Inbound? TryEnter(EndPoint? remote, ConnectionDeadline deadline)
    {
        var key = Key((remote as IPEndPoint)?.Address ?? IPAddress.None);
        Inbound? evicted = null;
        Inbound? entered = null;
        lock (_sources)
        {
            if (!_sources.TryGetValue(key, out var source))
            {
                source = new Source(key, limits);
                _sources[key] = source;
            }

            if (source.Connections >= limits.MaxConnectionsPerSource || source.Waiting.Count >= limits.MaxUnauthenticatedPerSource)
            {
                // The oldest connection of this source still waiting to authenticate makes room; none: refused.
                if (source.Waiting.First is { } oldest)
                {
                    evicted = oldest.Value;
                    evicted.Evicted = true;
                    source.Waiting.Remove(oldest);
                    evicted.WaitingNode = null;
                }
            }

            if (evicted is not null || (source.Connections < limits.MaxConnectionsPerSource && source.Waiting.Count < limits.MaxUnauthenticatedPerSource))
            {
                // An evicted connection still counts until it has closed and given its buffers back.
                entered = new Inbound(source, deadline);
                entered.WaitingNode = source.Waiting.AddLast(entered);
                source.Connections++;
            }
            else if (source.Connections == 0)
            {
                _sources.Remove(key);
            }
        }

        evicted?.Deadline.Expire();
        return entered;
    }

    /// <summary><paramref name="connection"/> authenticated: it no longer counts against the cap of those that have not, and is never evicted.</summary>
    public void Authenticated(Inbound connection)
    {
        lock (_sources)
        {
            if (connection.WaitingNode is { } node)
            {
                connection.Source.Waiting.Remove(node);
                connection.WaitingNode = null;
            }
        }
    }

    /// <summary><paramref name="connection"/> closed (after every buffer it held went back).</summary>
    public void Leave(Inbound connection)
    {
        lock (_sources)
        {
            var source = connection.Source;
            if (connection.WaitingNode is { } node)
            {
                source.Waiting.Remove(node);
                connection.WaitingNode = null;
            }

            source.Connections--;
            if (source.Connections == 0)
            {
                _sources.Remove(source.Key);
            }
        }
    }

    private static IPAddress Key(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    /// <summary>One source address: its connections, those of them not authenticated yet (oldest first), and its shares of the budgets.</summary>
    internal sealed class Source(IPAddress key, StreamLimits limits)
    {
        public IPAddress Key { get; } = key;

        public int Connections { get; set; }

        public LinkedList<Inbound> Waiting { get; } = [];

        public ByteBudget UnauthenticatedBytes { get; } = new(limits.UnauthenticatedBudgetPerSource);

        public ByteBudget AuthenticatedBytes { get; } = new(limits.AuthenticatedBudgetPerSource);
    }

    /// <summary>One inbound connection, as its source sees it.</summary>
    internal sealed class Inbound(Source source, ConnectionDeadline deadline)
    {
        public Source Source { get; } = source;

        public ConnectionDeadline Deadline { get; } = deadline;

        /// <summary>Its place among its source's connections not authenticated yet (null once authenticated or evicted).</summary>
        public LinkedListNode<Inbound>? WaitingNode { get; set; }

        /// <summary>Closed to make room for a newer connection of its source.</summary>
        public volatile bool Evicted;
    }
}
