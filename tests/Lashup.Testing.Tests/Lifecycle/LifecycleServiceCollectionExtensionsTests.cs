using Lashup.Abstractions.Lifecycle;
using Microsoft.Extensions.DependencyInjection;

namespace Lashup.Testing.Tests.Lifecycle;

public sealed class LifecycleServiceCollectionExtensionsTests
{
    [Fact]
    public void AddLifecycleParticipant_Twice_RegistersOneSingletonParticipant()
    {
        var services = new ServiceCollection();

        services.AddLifecycleParticipant<Worker>().AddLifecycleParticipant<Worker>();
        using var provider = services.BuildServiceProvider();

        Assert.Single(services, d => d.ServiceType == typeof(ILifecycleParticipant));
        Assert.Single(services, d => d.ServiceType == typeof(Worker));
        var participant = Assert.Single(provider.GetServices<ILifecycleParticipant>());
        Assert.Same(provider.GetRequiredService<Worker>(), participant);
        Assert.Same(participant, provider.GetRequiredService<Worker>());
    }

    [Fact]
    public void AddLifecycleParticipant_NotAReadinessCheck_RegistersNoReadinessCheck()
    {
        var services = new ServiceCollection();

        services.AddLifecycleParticipant<Worker>();
        using var provider = services.BuildServiceProvider();

        Assert.DoesNotContain(services, d => d.ServiceType == typeof(IReadinessCheck));
        Assert.Empty(provider.GetServices<IReadinessCheck>());
    }

    [Fact]
    public void AddLifecycleParticipant_AlsoAReadinessCheck_RegistersTheSameInstanceAsReadinessCheckOnce()
    {
        var services = new ServiceCollection();

        services.AddLifecycleParticipant<ReadyWorker>().AddLifecycleParticipant<ReadyWorker>();
        using var provider = services.BuildServiceProvider();

        var instance = provider.GetRequiredService<ReadyWorker>();
        Assert.Same(instance, Assert.Single(provider.GetServices<ILifecycleParticipant>()));
        Assert.Same(instance, Assert.Single(provider.GetServices<IReadinessCheck>()));
    }

    [Fact]
    public void AddLifecycleParticipant_TwoParticipantTypes_RegistersBothInOrder()
    {
        var services = new ServiceCollection();

        services.AddLifecycleParticipant<Worker>().AddLifecycleParticipant<ReadyWorker>();
        using var provider = services.BuildServiceProvider();

        Assert.Equal([typeof(Worker), typeof(ReadyWorker)], provider.GetServices<ILifecycleParticipant>().Select(p => p.GetType()));
        Assert.IsType<ReadyWorker>(Assert.Single(provider.GetServices<IReadinessCheck>()));
    }

    [Fact]
    public void AddReadinessCheck_Twice_RegistersOneSingletonCheck()
    {
        var services = new ServiceCollection();

        services.AddReadinessCheck<Probe>().AddReadinessCheck<Probe>();
        using var provider = services.BuildServiceProvider();

        Assert.Same(provider.GetRequiredService<Probe>(), Assert.Single(provider.GetServices<IReadinessCheck>()));
    }

    [Fact]
    public void AddReadinessCheck_AndAddLifecycleParticipant_SameType_OneReadinessCheck()
    {
        var services = new ServiceCollection();

        services.AddLifecycleParticipant<ReadyWorker>().AddReadinessCheck<ReadyWorker>();
        var reversed = new ServiceCollection();
        reversed.AddReadinessCheck<ReadyWorker>().AddLifecycleParticipant<ReadyWorker>();
        using var provider = services.BuildServiceProvider();
        using var reversedProvider = reversed.BuildServiceProvider();

        Assert.Same(provider.GetRequiredService<ReadyWorker>(), Assert.Single(provider.GetServices<IReadinessCheck>()));
        Assert.Same(reversedProvider.GetRequiredService<ReadyWorker>(), Assert.Single(reversedProvider.GetServices<IReadinessCheck>()));
    }

    [Fact]
    public void AddLifecycleParticipant_NullServices_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => LifecycleServiceCollectionExtensions.AddLifecycleParticipant<Worker>(null!));
        Assert.Throws<ArgumentNullException>(() => LifecycleServiceCollectionExtensions.AddReadinessCheck<Probe>(null!));
    }

    private sealed class Worker : ILifecycleParticipant
    {
        public int Stage => LifecycleStage.Dataplane;

        public string Name => "test.worker";

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class ReadyWorker : ILifecycleParticipant, IReadinessCheck
    {
        public int Stage => LifecycleStage.Services;

        public string Name => "test.ready-worker";

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Readiness Check() => Readiness.Ready;
    }

    private sealed class Probe : IReadinessCheck
    {
        public string Name => "test.probe";

        public Readiness Check() => Readiness.NotReady("never");
    }
}
