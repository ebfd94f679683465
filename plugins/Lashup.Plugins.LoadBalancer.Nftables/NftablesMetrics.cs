using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.LoadBalancer.Nftables;

/// <summary>The nftables backend's instruments (meter <c>Lashup.LoadBalancer.Nftables</c>), none labelled per VIP.</summary>
internal sealed class NftablesMetrics(IMeterFactory meters, NftablesBackend backend) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.Dataplane - 1;

    public string Name => "loadbalancer.nftables.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.LoadBalancer.Nftables");
        meter.CreateObservableCounter("lashup.lb.nft_transactions", () => new Measurement<long>[]
        {
            new(backend.Transactions - backend.FailedTransactions, new KeyValuePair<string, object?>("result", "applied")),
            new(backend.FailedTransactions, new KeyValuePair<string, object?>("result", "refused")),
        }, description: "nft transactions (one per change or repair): applied, or refused by nft (the kernel kept the rules before it)");
        meter.CreateObservableGauge("lashup.lb.nft_elements", () => backend.Elements, description: "Elements programmed in the backend's table (buckets, VIP entries, addresses)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
