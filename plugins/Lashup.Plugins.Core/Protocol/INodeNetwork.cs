using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// Where the protocol sends envelopes: real UDP/TCP sockets in the daemon, an in-memory network with virtual time in
/// the simulator. Sending never blocks and never throws; a message that cannot be delivered is lost, as on a network.
/// </summary>
internal interface INodeNetwork
{
    /// <param name="address">The destination's gossip address, "ip:port".</param>
    /// <param name="envelope">The message.</param>
    /// <param name="reliable">Use the stream transport (TCP): for bulk transfers and messages that must not be lost in transit.</param>
    void Send(string address, Envelope envelope, bool reliable);
}

/// <summary>Runs an action on the node's single protocol thread, after the current one.</summary>
internal interface INodeExecutor
{
    void Post(Action action);
}
