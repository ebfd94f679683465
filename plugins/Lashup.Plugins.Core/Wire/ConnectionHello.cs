namespace Lashup.Plugins.Core.Wire;

/// <summary>
/// The first frame a node writes on every stream connection it opens: a small envelope of its own (name, address,
/// epoch, a sequence number), so that the receiver authenticates the connection (the frame decodes and, with a keyring,
/// opens) before anything large travels on it. The bytes of a connection that has not authenticated are charged to its
/// source address's small share and must keep up a minimum rate; a multi-MiB anti-entropy message sent as a first
/// frame was cut when several peers on one host connected at once, or on a slow link. It is an existing message, a
/// <see cref="DirectData"/> on a topic no plugin uses, so a node of an earlier version reads it, delivers it to no one
/// and keeps the connection; a node of this version takes it off before the protocol.
/// </summary>
internal static class ConnectionHello
{
    public const string Topic = "lashup.hello";

    public static readonly DirectData Message = new(Topic, []);

    /// <summary>Whether <paramref name="envelope"/> is a hello (read by the transport, never delivered).</summary>
    public static bool Is(Envelope envelope) => envelope.Body is DirectData { Topic: Topic };
}
