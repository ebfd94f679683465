using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Server;

/// <summary>Resolves a query for a name outside the zones through upstream resolvers (see Forwarding/).</summary>
internal interface IQueryForwarder
{
    /// <summary>
    /// Writes a complete response to <paramref name="query"/> into <paramref name="response"/> and returns its length:
    /// the upstream's answer, or SERVFAIL when no upstream answered in time. Never throws but for cancellation.
    /// </summary>
    ValueTask<int> ForwardAsync(ReadOnlyMemory<byte> packet, DnsQuery query, Memory<byte> response, int limit, bool overTcp, CancellationToken cancellationToken);
}
