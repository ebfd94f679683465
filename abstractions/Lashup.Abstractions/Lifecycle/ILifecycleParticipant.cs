namespace Lashup.Abstractions.Lifecycle;

/// <summary>
/// A unit of work the host starts and stops in stage order. Register with
/// <see cref="LifecycleServiceCollectionExtensions.AddLifecycleParticipant{T}"/>.
/// </summary>
public interface ILifecycleParticipant
{
    /// <summary>The stage, see <see cref="LifecycleStage"/>.</summary>
    int Stage { get; }

    /// <summary>A short name for logs and errors, e.g. <c>dns.udp-listener</c>.</summary>
    string Name { get; }

    /// <summary>
    /// Starts the participant. Return once it is serving (or has failed: throw, and the host stops what it started and
    /// exits with the message). Long-running loops belong on background tasks owned by the participant.
    /// </summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stops the participant. The token is cancelled when the host's shutdown budget runs out. Also called when
    /// <see cref="StartAsync"/> failed (in this participant or another of its stage): release what was acquired, and
    /// tolerate a start that stopped halfway.
    /// </summary>
    Task StopAsync(CancellationToken cancellationToken);
}
