using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// Bytes shared by many connections, charged as buffers are rented (that is, as bytes arrive) and given back when they
/// are returned. A charge that does not fit fails at once and the reader closes its connection: a peer holds budget
/// only for bytes it actually sent, so filling it costs an attacker that much traffic per frame deadline, and a
/// connection never waits for budget while holding some (no deadlock between half-read frames).
/// </summary>
internal sealed class ByteBudget(long capacity)
{
    private long _charged;

    public long Capacity => capacity;

    /// <summary>Bytes charged now.</summary>
    public long Charged => Volatile.Read(ref _charged);

    public bool TryCharge(long bytes)
    {
        var current = Volatile.Read(ref _charged);
        while (true)
        {
            if (current + bytes > capacity)
            {
                return false;
            }

            var seen = Interlocked.CompareExchange(ref _charged, current + bytes, current);
            if (seen == current)
            {
                return true;
            }

            current = seen;
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _charged, -bytes);
}

/// <summary>
/// What a connection's buffers are charged to: the budget its kind of connection shares with all others, and its source
/// address's share of it (none for a connection exempt from the caps per source: see <see cref="InboundSources"/>). A
/// charge takes both or neither.
/// </summary>
internal readonly struct ByteBudgets(ByteBudget shared, ByteBudget? source)
{
    /// <summary>Charges <paramref name="bytes"/> to both; otherwise the reason to close: the source's share, or the shared budget, is full.</summary>
    public ConnectionCloseReason TryCharge(long bytes)
    {
        if (source is not null && !source.TryCharge(bytes))
        {
            return ConnectionCloseReason.SourceLimit;
        }

        if (!shared.TryCharge(bytes))
        {
            source?.Release(bytes);
            return ConnectionCloseReason.OverBudget;
        }

        return ConnectionCloseReason.None;
    }

    public void Release(long bytes)
    {
        shared.Release(bytes);
        source?.Release(bytes);
    }
}
