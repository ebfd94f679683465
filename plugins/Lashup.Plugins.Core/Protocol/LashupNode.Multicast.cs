using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

// Broadcast along the origin's BFS tree of the member graph. Lashup sent every message down two trees with the tree
// inside the packet and no deduplication; here every node derives the same tree from its copy of the graph
// (neighbours visited in name order), forwards only to its own children, and drops duplicates by (origin, epoch,
// sequence). One message per tree edge when graphs agree: N - 1 messages for N nodes, the ideal. Losses are repaired
// by the replicated store's anti-entropy.
internal sealed partial class LashupNode
{
    private readonly Dictionary<string, string[]> _treeChildren = new(StringComparer.Ordinal);
    private readonly SenderWindows _multicastSeen;
    private readonly Dictionary<string, List<Action<MulticastMessage>>> _subscribers = new(StringComparer.Ordinal);
    private ulong _multicastSeq;

    public int MaxMulticastPayload => _settings.MaxMulticastPayload;

    public void Broadcast(string topic, byte[] payload)
    {
        if (!_running)
        {
            return;
        }

        var message = new MulticastData(Self.Name, Epoch, ++_multicastSeq, topic, payload);
        Seen(message);
        Forward(message);
    }

    public IDisposable Subscribe(string topic, Action<MulticastMessage> handler)
    {
        if (!_subscribers.TryGetValue(topic, out var list))
        {
            list = [];
            _subscribers[topic] = list;
        }

        list.Add(handler);
        return new Subscription(() => _executor.Post(() => list.Remove(handler)));
    }

    /// <summary>This node's children in the BFS tree rooted at <paramref name="root"/>.</summary>
    public string[] TreeChildren(string root)
    {
        if (_treeChildren.TryGetValue(root, out var children))
        {
            return children;
        }

        var mine = new List<string>();
        if (_graph.TryGetValue(root, out var rootNode))
        {
            var stamp = ++_visitStamp;
            rootNode.Visited = stamp;
            var queue = new Queue<GraphNode>();
            queue.Enqueue(rootNode);
            while (queue.Count > 0)
            {
                var parent = queue.Dequeue();
                var parentIsSelf = parent.Record.Name == Self.Name;
                foreach (var neighbor in Neighbors(parent))
                {
                    if (neighbor.Visited != stamp)
                    {
                        neighbor.Visited = stamp;
                        queue.Enqueue(neighbor);
                        if (parentIsSelf)
                        {
                            mine.Add(neighbor.Record.Name);
                        }
                    }
                }
            }
        }

        children = [.. mine];
        if (rootNode is not null)
        {
            // Only known roots are cached: an origin nobody knows (made up by a flood) must not grow the cache.
            _treeChildren[root] = children;
        }

        return children;
    }

    private void OnMulticast(NodeRef from, MulticastData message)
    {
        if (message.Origin == Self.Name || !Seen(message))
        {
            Stats.MulticastDuplicates++;
            return;
        }

        Stats.MulticastDelivered++;
        if (_subscribers.TryGetValue(message.Topic, out var handlers))
        {
            var delivered = new MulticastMessage(message.Origin, message.Topic, message.Payload);
            foreach (var handler in handlers.ToArray())
            {
                handler(delivered);
            }
        }

        Forward(message);
    }

    /// <summary>Sends <paramref name="payload"/> on <paramref name="topic"/> to one member (over TCP); subscribers of the topic there receive it.</summary>
    public bool SendDirect(string node, string topic, byte[] payload)
    {
        var address = _active.TryGetValue(node, out var peer) ? peer.Ref.Address : _graph.GetValueOrDefault(node)?.Record.Address;
        if (!_running || address is null || node == Self.Name)
        {
            return false;
        }

        Send(address, new DirectData(topic, payload), reliable: true);
        return true;
    }

    private void OnDirect(NodeRef from, DirectData message)
    {
        if (_subscribers.TryGetValue(message.Topic, out var handlers))
        {
            var delivered = new MulticastMessage(from.Name, message.Topic, message.Payload);
            foreach (var handler in handlers.ToArray())
            {
                handler(delivered);
            }
        }
    }

    private bool Seen(MulticastData message)
    {
        var window = _multicastSeen.Get(message.Origin, _graph.GetValueOrDefault(message.Origin)?.Record.Epoch);
        return window.Accept(message.OriginEpoch, message.Seq);
    }

    private void Forward(MulticastData message)
    {
        foreach (var child in TreeChildren(message.Origin))
        {
            var address = _active.TryGetValue(child, out var peer) ? peer.Ref.Address : _graph.GetValueOrDefault(child)?.Record.Address;
            if (address is not null)
            {
                Stats.MulticastForwarded++;
                Send(address, message, reliable: message.Payload.Length > 1200);
            }
        }
    }

    private sealed class Subscription(Action dispose) : IDisposable
    {
        private Action? _dispose = dispose;

        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }
}
