using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// The common base of the CRDT values a <see cref="CrdtMap"/> field can hold: <see cref="GCounter"/>,
/// <see cref="PnCounter"/>, <see cref="Flag"/>, <see cref="LwwRegister"/>, <see cref="MvRegister"/>,
/// <see cref="ORSet"/> and <see cref="CrdtMap"/>. The set is closed. Every value is immutable; each type has its own
/// typed <c>Merge</c> (see <see cref="IReplicatedData{T}"/>), and implements the read-only view of its type that
/// plugins see (<see cref="ICrdtValue"/> and its derived interfaces in Lashup.Abstractions).
/// </summary>
/// <remarks>
/// Named <c>CrdtValue</c>, not <c>Crdt</c>: a type named like its namespace (<c>Lashup.Crdt</c>) would be shadowed by
/// the namespace in every file under <c>Lashup.*</c>.
/// </remarks>
public abstract class CrdtValue : ICrdtValue
{
    private protected CrdtValue()
    {
    }

    /// <summary>Which of the CRDT types this is.</summary>
    public abstract CrdtType Type { get; }

    /// <summary>
    /// Whether this is the least value of its type (its <c>Empty</c>): merging it into anything changes nothing,
    /// so a delta that is bottom need not be sent.
    /// </summary>
    public abstract bool IsBottom { get; }

    /// <summary>
    /// An approximate size in bytes of this value in a compact binary encoding, for enforcing value-size limits.
    /// Proportional to the state, including the causal metadata; errs on the large side.
    /// </summary>
    public abstract int EstimateSize();

    /// <summary>The value as JSON (<see cref="CrdtJson"/>), for display: what a reader sees, without causal metadata.</summary>
    public override string ToString() => CrdtJson.ToJsonString(this);
}
