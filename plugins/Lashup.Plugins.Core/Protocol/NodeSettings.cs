namespace Lashup.Plugins.Core.Protocol;

/// <summary>The protocol's settings, in plain types (the daemon builds them from <see cref="CoreOptions"/>).</summary>
internal sealed record NodeSettings
{
    public int ActiveViewSize { get; init; } = 7;
    public int PassiveViewSize { get; init; } = 42;
    public int ActiveRandomWalkLength { get; init; } = 8;
    public int PassiveRandomWalkLength { get; init; } = 5;
    public int ShuffleWalkLength { get; init; } = 5;
    public int ShuffleActiveSample { get; init; } = 3;
    public int ShufflePassiveSample { get; init; } = 4;
    public TimeSpan ShuffleIntervalFast { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan ShuffleInterval { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan JoinRetryInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ProbeTimeoutMin { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan ProbeTimeoutMax { get; init; } = TimeSpan.FromSeconds(2);
    public int IndirectProbes { get; init; } = 3;
    public int SuspicionRounds { get; init; } = 3;
    public TimeSpan GmRefreshInterval { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan GmSyncInterval { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan RelinkInterval { get; init; } = TimeSpan.FromSeconds(12);
    public TimeSpan ExpireAfter { get; init; } = TimeSpan.FromHours(24);
    public int MaxJoinsPerSecond { get; init; } = 50;
    public TimeSpan NeighborRequestTimeout { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan RefusalBackoff { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan GraphRecomputeDelay { get; init; } = TimeSpan.FromMilliseconds(20);
    public TimeSpan FloodDelay { get; init; } = TimeSpan.FromMilliseconds(10);
    public int MaxMulticastPayload { get; init; } = 48 * 1024;

    /// <summary>
    /// Every frame the node receives was authenticated (the daemon with a keyring): a sender's address is then vouched
    /// for by a key holder, and replies to it are not rate-limited.
    /// </summary>
    public bool AuthenticatedFrames { get; init; }

    /// <summary>Sends in reaction to a frame, to an address no frame has proven (plaintext): rate limits.</summary>
    public ReplyLimits ReplyLimits { get; init; } = new();

    /// <summary>Replay windows kept for senders that are not in the member graph (least recently used evicted).</summary>
    public int StrangerWindows { get; init; } = 1024;

    /// <summary>
    /// How far ahead of a member's record a record in its name may be and still be believed as it comes: a restart
    /// bumps the epoch by exactly one. Further ahead, the member is asked (a probe) before the record is kept.
    /// </summary>
    public long MaxEpochStep { get; init; } = 1;

    public static NodeSettings From(CoreOptions o) => new()
    {
        ActiveViewSize = o.ActiveViewSize,
        PassiveViewSize = o.PassiveViewSize,
        ActiveRandomWalkLength = o.ActiveRandomWalkLength,
        PassiveRandomWalkLength = o.PassiveRandomWalkLength,
        ShuffleWalkLength = o.ShuffleWalkLength,
        ShuffleIntervalFast = o.ShuffleIntervalFast,
        ShuffleInterval = o.ShuffleInterval,
        JoinRetryInterval = o.JoinRetryInterval,
        ProbeInterval = o.ProbeInterval,
        ProbeTimeoutMin = o.ProbeTimeoutMin,
        ProbeTimeoutMax = o.ProbeTimeoutMax,
        IndirectProbes = o.IndirectProbes,
        SuspicionRounds = o.SuspicionRounds,
        GmRefreshInterval = o.GmRefreshInterval,
        GmSyncInterval = o.GmSyncInterval,
        RelinkInterval = o.RelinkInterval,
        ExpireAfter = o.ExpireAfter,
        MaxJoinsPerSecond = o.MaxJoinsPerSecond,
        MaxMulticastPayload = Math.Min(48 * 1024, o.MaxDatagramSize - 1024),
    };
}
