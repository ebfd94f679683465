namespace Lashup.Abstractions.Lifecycle;

/// <summary>
/// The order in which the host starts participants (ascending) and stops them (descending). Participants of the same
/// stage start concurrently. Values between the named stages are allowed for finer ordering.
/// </summary>
public static class LifecycleStage
{
    /// <summary>Sockets and framing.</summary>
    public const int Transport = 1000;

    /// <summary>Membership, failure detection, the member graph.</summary>
    public const int Membership = 2000;

    /// <summary>The replicated store and its persistence.</summary>
    public const int ReplicatedData = 3000;

    /// <summary>Data planes: DNS index, load-balancer tables, overlay routes.</summary>
    public const int Dataplane = 4000;

    /// <summary>Services facing users: DNS listeners, proxies, the admin API.</summary>
    public const int Services = 5000;
}
