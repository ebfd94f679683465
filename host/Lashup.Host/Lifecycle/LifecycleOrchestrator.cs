using Lashup.Abstractions.Lifecycle;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lashup.Host.Lifecycle;

/// <summary>
/// Starts every <see cref="ILifecycleParticipant"/> stage by stage (ascending; one stage's participants concurrently)
/// and stops them in reverse. If a participant fails to start, its whole stage is stopped (the failed participant too:
/// it may have acquired part of what it needs, as a server bound to some of its addresses), then the earlier stages,
/// and the failure is rethrown, so the host exits with the message.
/// </summary>
internal sealed partial class LifecycleOrchestrator(
    IEnumerable<ILifecycleParticipant> participants,
    ILogger<LifecycleOrchestrator> logger) : IHostedService
{
    private readonly List<IGrouping<int, ILifecycleParticipant>> _stages =
        [.. participants.GroupBy(p => p.Stage).OrderBy(g => g.Key)];

    private readonly Stack<ILifecycleParticipant[]> _started = new();

    /// <summary>Whether every stage has started.</summary>
    public bool Started { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var stage in _stages)
        {
            var members = stage.ToArray();
            LogStageStarting(stage.Key, string.Join(", ", members.Select(m => m.Name)));
            var tasks = members.Select(m => StartOne(m, cancellationToken)).ToArray();
            try
            {
                await Task.WhenAll(tasks);
            }
            catch (Exception)
            {
                // Stop this stage, including whoever failed halfway, then the earlier stages.
                _started.Push(members);
                await StopAsync(CancellationToken.None);
                var failure = tasks.First(t => t.IsFaulted).Exception!.InnerException!;
                throw new InvalidOperationException($"{failure.Message}", failure);
            }

            _started.Push(members);
        }

        Started = true;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Started = false;
        while (_started.TryPop(out var members))
        {
            await Task.WhenAll(members.Select(async m =>
            {
                try
                {
                    await m.StopAsync(cancellationToken);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    LogStopFailed(e, m.Name);
                }
            }));
        }
    }

    private async Task StartOne(ILifecycleParticipant participant, CancellationToken cancellationToken)
    {
        try
        {
            await participant.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{participant.Name} failed to start: {e.Message}", e);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Starting stage {Stage}: {Participants}")]
    private partial void LogStageStarting(int stage, string participants);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Participant} failed to stop cleanly")]
    private partial void LogStopFailed(Exception e, string participant);
}
