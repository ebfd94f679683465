using Lashup.Abstractions.Lifecycle;
using Lashup.Host.Lifecycle;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;

namespace Lashup.Host.Tests.Lifecycle;

public sealed class LifecycleOrchestratorTests
{
    [Fact]
    public async Task StartAsync_ParticipantFails_StopsItsWholeStageItIncludedThenEarlierStages()
    {
        var stopped = new List<string>();
        var transport = Participant("transport", LifecycleStage.Transport, stopped);
        var server = Participant("server", LifecycleStage.Services, stopped);
        var failing = Participant("failing", LifecycleStage.Services, stopped);
        failing.StartAsync(Arg.Any<CancellationToken>()).Returns(Task.FromException(new InvalidOperationException("bound one address of two")));
        var later = Participant("later", LifecycleStage.Services + 1, stopped);
        var orchestrator = new LifecycleOrchestrator([transport, server, failing, later], NullLogger<LifecycleOrchestrator>.Instance);

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => orchestrator.StartAsync(CancellationToken.None));

        Assert.Equal("failing failed to start: bound one address of two", e.Message);
        Assert.Equal(3, stopped.Count);
        Assert.Equal(["failing", "server"], stopped.Take(2).Order(StringComparer.Ordinal));
        Assert.Equal("transport", stopped[2]);
        await later.DidNotReceive().StartAsync(Arg.Any<CancellationToken>());
    }

    private static ILifecycleParticipant Participant(string name, int stage, List<string> stopped)
    {
        var participant = Substitute.For<ILifecycleParticipant>();
        participant.Name.Returns(name);
        participant.Stage.Returns(stage);
        participant.StartAsync(Arg.Any<CancellationToken>()).Returns(Task.CompletedTask);
        participant.StopAsync(Arg.Any<CancellationToken>()).Returns(_ =>
        {
            lock (stopped)
            {
                stopped.Add(name);
            }

            return Task.CompletedTask;
        });
        return participant;
    }
}
