using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>The algebra's side of the contract's <see cref="KvEntry"/>, for stores built on Lashup.Crdt.</summary>
public static class KvEntryExtensions
{
    extension(KvEntry entry)
    {
        /// <summary>
        /// The entry's value as the <see cref="CrdtMap"/> it is, in an entry made by a store built on Lashup.Crdt (the
        /// core's, <c>Lashup.Testing</c>'s): such a store puts a <see cref="CrdtMap"/> in every entry it makes, and
        /// <see cref="KvEntry.Value"/> shows it to plugins as a read-only <see cref="IMapValue"/>.
        /// </summary>
        /// <exception cref="InvalidOperationException">The value is another <see cref="IMapValue"/> (a test's fake).</exception>
        public CrdtMap Map => entry.Value as CrdtMap
            ?? throw new InvalidOperationException($"the value of \"{entry.Key}\" is a {entry.Value.GetType().Name}, not a CrdtMap: the entry was not made by a store");
    }
}
