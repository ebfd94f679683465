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

    /// <summary>No room in the buffer budget shared by all connections of its kind for the bytes that arrived.</summary>
    OverBudget,

    /// <summary>
    /// A frame fell behind: a connection not authenticated yet sent less than the minimum rate allows (after a grace
    /// time), or an authenticated one sent nothing for the stall timeout in the middle of a frame.
    /// </summary>
    Stalled,

    /// <summary>
    /// Its source address was at its cap of connections (refused; or, not authenticated yet, closed to make room for a
    /// newer one once stuck, or its turn to read did not come within the handshake time), or of bytes buffered.
    /// </summary>
    SourceLimit,
}
