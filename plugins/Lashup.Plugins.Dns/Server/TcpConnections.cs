using System.Net.Sockets;

namespace Lashup.Plugins.Dns.Server;

/// <summary>One accepted TCP connection, and where it stands in <see cref="TcpConnections"/>.</summary>
internal sealed class TcpConnection(Socket socket)
{
    public Socket Socket { get; } = socket;

    /// <summary>Its place in the idle list while it waits for a query (oldest first); null while a query is in progress.</summary>
    internal LinkedListNode<TcpConnection>? IdleNode { get; set; }

    /// <summary>Removed (closed, or evicted to make room: its slot went to the newer connection).</summary>
    internal bool Gone { get; set; }
}

/// <summary>
/// The open TCP connections, at most <c>tcp_max_connections</c>. A connection is idle while it waits for a query (none
/// received yet, or one arriving byte by byte: that is what a slowloris client does), and busy from the moment a whole
/// query has arrived until its response is written (answering, forwarding, sending). At the cap, a new connection
/// takes the place of the connection idle longest, which is closed; only when every connection is busy is the new one
/// refused. So idle connections, however many and however opened, cannot lock clients out until they time out; a
/// query in progress is never cut off. All under one lock: a connection is picked only while it is idle, and one
/// picked cannot start a query afterwards.
/// </summary>
internal sealed class TcpConnections(int capacity)
{
    private readonly Lock _lock = new();

    // Idle connections in the order they became idle (accepted, or answered their last query): the head is the one
    // idle longest.
    private readonly LinkedList<TcpConnection> _idle = new();
    private int _open;

    /// <summary>
    /// Admits <paramref name="socket"/> as an idle connection; null when the cap is reached and every connection is
    /// busy. <paramref name="evicted"/> is the connection idle longest when it had to give its place: the caller closes it.
    /// </summary>
    public TcpConnection? TryAdd(Socket socket, out TcpConnection? evicted)
    {
        evicted = null;
        var connection = new TcpConnection(socket);
        lock (_lock)
        {
            if (_open >= capacity)
            {
                if (_idle.First is not { } oldest)
                {
                    return null;
                }

                // The oldest idle connection's slot passes to the new one: the count does not change.
                evicted = oldest.Value;
                _idle.RemoveFirst();
                evicted.IdleNode = null;
                evicted.Gone = true;
            }
            else
            {
                _open++;
            }

            connection.IdleNode = _idle.AddLast(connection);
        }

        return connection;
    }

    /// <summary>A whole query has arrived: the connection is busy until <see cref="EndQuery"/>. False if it was evicted meanwhile.</summary>
    public bool TryBeginQuery(TcpConnection connection)
    {
        lock (_lock)
        {
            if (connection.Gone)
            {
                return false;
            }

            if (connection.IdleNode is { } node)
            {
                _idle.Remove(node);
                connection.IdleNode = null;
            }

            return true;
        }
    }

    /// <summary>The response is written: the connection is idle again, the most recently idle one.</summary>
    public void EndQuery(TcpConnection connection)
    {
        lock (_lock)
        {
            if (!connection.Gone && connection.IdleNode is null)
            {
                connection.IdleNode = _idle.AddLast(connection);
            }
        }
    }

    /// <summary>The connection closed: its slot is free (unless it was evicted, its slot already taken).</summary>
    public void Remove(TcpConnection connection)
    {
        lock (_lock)
        {
            if (connection.Gone)
            {
                return;
            }

            connection.Gone = true;
            if (connection.IdleNode is { } node)
            {
                _idle.Remove(node);
                connection.IdleNode = null;
            }

            _open--;
        }
    }
}
