namespace Lashup.Plugins.Core.Wire;

/// <summary>Why this node closed (or refused) an inbound stream connection; each reason is a metric label.</summary>
internal enum ConnectionCloseReason
{
    None = 0,

    /// <summary>Over the cap of inbound connections: refused at once.</summary>
    Limit,

    /// <summary>A connection that has not authenticated sent no frame header within the handshake time.</summary>
    HeaderTimeout,

    /// <summary>The first frame was not ours, keyed or sealed unlike ours, too large, or did not decode.</summary>
    Rejected,

    /// <summary>No room in the buffer budget for the announced frame within the wait allowed.</summary>
    OverBudget,

    /// <summary>A frame was not complete by its deadline (a few seconds plus its size at a minimum rate).</summary>
    Stalled,
}
