using Lashup.Abstractions.Lifecycle;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Server;

/// <summary>The server's forwarding: the <see cref="DnsForwarder"/> started before the listeners and disposed after them.</summary>
internal sealed class UpstreamForwarding(DnsForwarder forwarder) : IQueryForwarder, ILifecycleParticipant
{
    public int Stage => LifecycleStage.Services - 5;

    public string Name => "dns.forwarder";

    public DnsForwarder Forwarder => forwarder;

    public ValueTask<int> ForwardAsync(ReadOnlyMemory<byte> packet, DnsQuery query, Memory<byte> response, int limit, bool overTcp, CancellationToken cancellationToken) =>
        forwarder.ResolveAsync(packet, query, response, limit, overTcp, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        forwarder.Start();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await forwarder.DisposeAsync().ConfigureAwait(false);
}
