namespace Lashup.Abstractions.Lifecycle;

/// <summary>
/// Tells the admin API's <c>/ready</c> whether a part of a plugin is ready to serve, and why not. Cheap and
/// non-blocking: it is called on every request to <c>/ready</c>.
/// </summary>
public interface IReadinessCheck
{
    /// <summary>A short name, e.g. <c>core.membership</c>.</summary>
    string Name { get; }

    /// <summary>The current readiness.</summary>
    Readiness Check();
}

/// <summary>The answer of a readiness check.</summary>
/// <param name="IsReady">Whether the part is ready.</param>
/// <param name="Reason">Why it is not, in a few words (shown to operators); when ready, null or a note on what is
/// degraded (<see cref="Degraded"/>).</param>
public readonly record struct Readiness(bool IsReady, string? Reason)
{
    /// <summary>Ready.</summary>
    public static Readiness Ready => new(true, null);

    /// <summary>
    /// Ready, with something operators should look at (e.g. keys of the store that could not be read): <c>/ready</c>
    /// still answers 200 and lists the note under <c>degraded</c>.
    /// </summary>
    public static Readiness Degraded(string note) => new(true, note);

    /// <summary>Not ready, for <paramref name="reason"/>.</summary>
    public static Readiness NotReady(string reason) => new(false, reason);
}
