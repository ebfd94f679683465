using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary>The vxlan backend's instruments (meter <c>Lashup.Overlay.Vxlan</c>), none labelled per peer.</summary>
internal sealed class VxlanMetrics(IMeterFactory meters, VxlanBackend backend) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.Dataplane - 1;

    public string Name => "overlay.vxlan.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.Overlay.Vxlan");
        meter.CreateObservableCounter("lashup.overlay.netlink_errors", () => backend.NetlinkErrors, description: "rtnetlink calls that failed (refused by the kernel, or no answer); the overlay reconciles after each");
        meter.CreateObservableGauge("lashup.overlay.vxlan_peers", () => backend.ProgrammedPeers, description: "Peers programmed on the VXLAN device (a neighbour, an FDB entry and a route each)");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
