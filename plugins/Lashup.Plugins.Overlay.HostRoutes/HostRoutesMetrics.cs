using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Overlay.HostRoutes;

/// <summary>The host-routes backend's instruments (meter <c>Lashup.Overlay.HostRoutes</c>), none labelled per peer.</summary>
internal sealed class HostRoutesMetrics(IMeterFactory meters, HostRoutesBackend backend) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.Dataplane - 1;

    public string Name => "overlay.host-routes.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var meter = meters.Create("Lashup.Overlay.HostRoutes");
        meter.CreateObservableCounter("lashup.overlay.netlink_errors", () => backend.NetlinkErrors, description: "rtnetlink calls that failed: refused by the kernel (its message in /ready and the log) or the exchange itself");
        meter.CreateObservableCounter("lashup.overlay.route_changes", () => backend.RouteChanges, description: "Routes of ours the kernel added, replaced or deleted");
        meter.CreateObservableGauge("lashup.overlay.routes", () => backend.ProgrammedPeers, description: "Peers whose route is programmed");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
