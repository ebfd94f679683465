namespace Lashup.Abstractions.Data;

/// <summary>
/// The CRDT types a field of a store value can hold. The numeric order is the precedence used when one field name
/// holds values of two types (concurrent creation with different types, a plugin bug or a malicious peer): the visible
/// value is the one of the larger type, so every replica shows the same thing.
/// </summary>
public enum CrdtType
{
    /// <summary>A grow-only counter (<see cref="IGCounterValue"/>).</summary>
    GCounter = 1,

    /// <summary>A counter that goes up and down (<see cref="IPnCounterValue"/>).</summary>
    PnCounter = 2,

    /// <summary>An enable-wins flag (<see cref="IFlagValue"/>).</summary>
    Flag = 3,

    /// <summary>A last-writer-wins register (<see cref="ILwwRegisterValue"/>).</summary>
    LwwRegister = 4,

    /// <summary>A multi-value register (<see cref="IMvRegisterValue"/>).</summary>
    MvRegister = 5,

    /// <summary>An add-wins observed-remove set (<see cref="IORSetValue"/>).</summary>
    ORSet = 6,

    /// <summary>A nested map (<see cref="IMapValue"/>).</summary>
    Map = 7,
}
