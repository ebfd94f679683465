namespace Lashup.Abstractions.Admin;

/// <summary>The answer of <c>GET /v1/status</c> (<c>lashup status</c>).</summary>
/// <param name="Node">This node's name.</param>
/// <param name="Cluster">The cluster's name.</param>
/// <param name="Version">The host's version, e.g. <c>0.1.0</c>.</param>
/// <param name="UptimeSeconds">Seconds since the daemon started.</param>
/// <param name="Ready">Whether <c>/ready</c> answers 200.</param>
/// <param name="Plugins">The loaded plugins.</param>
public sealed record StatusResponse(string Node, string Cluster, string Version, double UptimeSeconds, bool Ready, IReadOnlyList<PluginInfo> Plugins);

/// <summary>One loaded plugin.</summary>
/// <param name="Capability">Its capability, e.g. <c>dns</c>.</param>
/// <param name="Name">Its name within the capability.</param>
/// <param name="Version">Its assembly version.</param>
/// <param name="Folder">The folder it was loaded from.</param>
public sealed record PluginInfo(string Capability, string Name, string Version, string Folder);

/// <summary>The answer of <c>GET /ready</c>: 200 when <see cref="Ready"/>, else 503.</summary>
/// <param name="Ready">Whether every part is ready.</param>
/// <param name="NotReady">The parts that are not, with why.</param>
public sealed record ReadyResponse(bool Ready, IReadOnlyList<ReadinessNote> NotReady)
{
    /// <summary>Ready parts that report something degraded (e.g. quarantined store keys); null when none.</summary>
    public IReadOnlyList<ReadinessNote>? Degraded { get; init; }
}

/// <summary>A part that is not ready, or ready and degraded.</summary>
/// <param name="Name">The part (a readiness check's name, or <c>host</c>).</param>
/// <param name="Reason">Why, in one line.</param>
public sealed record ReadinessNote(string Name, string Reason);
