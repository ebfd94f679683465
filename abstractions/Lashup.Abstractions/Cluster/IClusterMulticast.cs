namespace Lashup.Abstractions.Cluster;

/// <summary>
/// Best-effort broadcast of small messages to every reachable member, along a spanning tree of the member graph, with
/// duplicates suppressed. Delivery is not guaranteed (a message can be lost while the graph changes): state that must
/// converge belongs in the replicated store, whose anti-entropy repairs losses. Provided by the <c>core</c> capability.
/// </summary>
public interface IClusterMulticast
{
    /// <summary>The largest payload <see cref="Broadcast"/> accepts, in bytes.</summary>
    int MaxPayloadSize { get; }

    /// <summary>
    /// Sends <paramref name="payload"/> on <paramref name="topic"/> to every other reachable member. Returns at once;
    /// subscribers on this node are not called for their own broadcasts.
    /// </summary>
    /// <exception cref="ArgumentException">The topic is empty or longer than 64 characters, or the payload is larger than <see cref="MaxPayloadSize"/>.</exception>
    void Broadcast(string topic, ReadOnlyMemory<byte> payload);

    /// <summary>
    /// Calls <paramref name="handler"/> for every message received on <paramref name="topic"/>, on the protocol's
    /// thread: handlers must be quick and must not block (hand work to a queue). Dispose the result to unsubscribe.
    /// </summary>
    IDisposable Subscribe(string topic, Action<MulticastMessage> handler);
}

/// <summary>A message received through <see cref="IClusterMulticast"/>.</summary>
/// <param name="Origin">The member that broadcast it.</param>
/// <param name="Topic">Its topic.</param>
/// <param name="Payload">Its payload; valid only during the handler call (copy it to keep it).</param>
public readonly record struct MulticastMessage(string Origin, string Topic, ReadOnlyMemory<byte> Payload);
