namespace Lashup.Crdt;

/// <summary>
/// One event of one replica: the <see cref="Counter"/>-th event that <see cref="Replica"/> generated. Dots tag the
/// elements of observed-remove CRDTs (<see cref="ORSet"/>, <see cref="MvRegister"/>, <see cref="Flag"/>, map field
/// presence) so that a remove takes away exactly what it observed. Ordered by replica (ordinal), then counter.
/// </summary>
public readonly record struct Dot : IComparable<Dot>
{
    /// <summary>Creates a dot.</summary>
    /// <param name="replica">The replica (node name) that generated the event; not empty.</param>
    /// <param name="counter">The event's sequence number at that replica; starts at 1.</param>
    /// <exception cref="ArgumentException">The replica is null or empty, or the counter is 0.</exception>
    public Dot(string replica, ulong counter)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        ArgumentOutOfRangeException.ThrowIfZero(counter);
        Replica = replica;
        Counter = counter;
    }

    /// <summary>The replica (node name) that generated the event.</summary>
    public string Replica { get; }

    /// <summary>The event's sequence number at <see cref="Replica"/>, from 1.</summary>
    public ulong Counter { get; }

    /// <inheritdoc/>
    public int CompareTo(Dot other)
    {
        var c = string.CompareOrdinal(Replica, other.Replica);
        return c != 0 ? c : Counter.CompareTo(other.Counter);
    }

    /// <summary>Formats as <c>replica:counter</c>.</summary>
    public override string ToString() => $"{Replica}:{Counter}";

    /// <summary>Compares dots by replica (ordinal), then counter.</summary>
    public static bool operator <(Dot left, Dot right) => left.CompareTo(right) < 0;

    /// <summary>Compares dots by replica (ordinal), then counter.</summary>
    public static bool operator >(Dot left, Dot right) => left.CompareTo(right) > 0;

    /// <summary>Compares dots by replica (ordinal), then counter.</summary>
    public static bool operator <=(Dot left, Dot right) => left.CompareTo(right) <= 0;

    /// <summary>Compares dots by replica (ordinal), then counter.</summary>
    public static bool operator >=(Dot left, Dot right) => left.CompareTo(right) >= 0;
}
