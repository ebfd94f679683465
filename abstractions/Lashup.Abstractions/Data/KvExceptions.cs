namespace Lashup.Abstractions.Data;

/// <summary>The base of the errors the replicated store reports to local callers.</summary>
public class KvException : Exception
{
    /// <summary>Creates the exception.</summary>
    public KvException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public KvException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public KvException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A compare-and-set failed: the key's version is not the expected one (another update, local or merged from a peer,
/// came first). Nothing was written. Read the entry again (<see cref="Current"/> is it), recompute and retry.
/// </summary>
public sealed class KvConflictException : KvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The key.</param>
    /// <param name="expectedVersion">The version the caller expected.</param>
    /// <param name="current">The key's entry now (its value empty and version empty if it was never written).</param>
    public KvConflictException(KvKey key, VersionVector expectedVersion, KvEntry current)
        : base($"key \"{key}\" is at version {current?.Version}, not the expected {expectedVersion}")
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(expectedVersion);
        ArgumentNullException.ThrowIfNull(current);
        Key = key;
        ExpectedVersion = expectedVersion;
        Current = current;
    }

    /// <summary>The key.</summary>
    public KvKey Key { get; }

    /// <summary>The version the caller expected.</summary>
    public VersionVector ExpectedVersion { get; }

    /// <summary>The key's entry when the update was refused.</summary>
    public KvEntry Current { get; }
}

/// <summary>
/// The store is shedding load (its bounded queues are full, e.g. while catching up with peers); nothing was written.
/// Retry after a while: after <see cref="RetryAfter"/> when it is given.
/// </summary>
public sealed class KvOverloadedException : KvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is overloaded.</param>
    /// <param name="retryAfter">A suggested wait before retrying, if the store has one.</param>
    public KvOverloadedException(string message, TimeSpan? retryAfter = null)
        : base(message) => RetryAfter = retryAfter;

    /// <summary>A suggested wait before retrying; null when the store has no estimate.</summary>
    public TimeSpan? RetryAfter { get; }
}

/// <summary>
/// An update was refused as invalid, whatever the state of the store: the root key was used as a key, the value would
/// exceed the size limit, a collection would exceed its count limit. Nothing was written; retrying the same update
/// fails again.
/// </summary>
public sealed class KvValidationException : KvException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="key">The key of the refused update.</param>
    /// <param name="message">What is wrong, for a human.</param>
    public KvValidationException(KvKey key, string message)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(key);
        Key = key;
    }

    /// <summary>The key of the refused update.</summary>
    public KvKey Key { get; }
}
