namespace Lashup.Abstractions.Data;

/// <summary>
/// The CRDT types a <see cref="CrdtMap"/> field can hold. The numeric order is the precedence used when one field
/// name holds values of two types (concurrent creation with different types, a plugin bug or a malicious peer): the
/// visible value is the one of the larger type, so every replica shows the same thing.
/// </summary>
public enum CrdtType
{
    /// <summary>A grow-only counter (<see cref="Data.GCounter"/>).</summary>
    GCounter = 1,

    /// <summary>A counter that goes up and down (<see cref="Data.PnCounter"/>).</summary>
    PnCounter = 2,

    /// <summary>An enable-wins flag (<see cref="Data.Flag"/>).</summary>
    Flag = 3,

    /// <summary>A last-writer-wins register (<see cref="Data.LwwRegister"/>).</summary>
    LwwRegister = 4,

    /// <summary>A multi-value register (<see cref="Data.MvRegister"/>).</summary>
    MvRegister = 5,

    /// <summary>An add-wins observed-remove set (<see cref="Data.ORSet"/>).</summary>
    ORSet = 6,

    /// <summary>A nested map (<see cref="CrdtMap"/>).</summary>
    Map = 7,
}

/// <summary>
/// The common base of the CRDT values a <see cref="CrdtMap"/> field can hold: <see cref="GCounter"/>,
/// <see cref="PnCounter"/>, <see cref="Flag"/>, <see cref="LwwRegister"/>, <see cref="MvRegister"/>,
/// <see cref="ORSet"/> and <see cref="CrdtMap"/>. The set is closed. Every value is immutable; each type has its own
/// typed <c>Merge</c> (see <see cref="IReplicatedData{T}"/>).
/// </summary>
public abstract class Crdt
{
    private protected Crdt()
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
}
