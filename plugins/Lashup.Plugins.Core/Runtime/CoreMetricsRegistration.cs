using System.Diagnostics.Metrics;
using Lashup.Abstractions.Lifecycle;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>Registers the core's observable metrics once the node has started.</summary>
internal sealed class CoreMetricsRegistration(IMeterFactory meters, CoreRuntime core) : ILifecycleParticipant
{
    public int Stage => LifecycleStage.Membership + 1;

    public string Name => "core.metrics";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        CoreMetrics.Register(meters, core.Stats, () => core.Members);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
