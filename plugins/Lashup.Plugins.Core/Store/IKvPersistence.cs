namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Where a replica keeps its entries: <see cref="SqliteKvPersistence"/> in the daemon; the simulator keeps them in
/// memory (and keeps that memory across a simulated crash, as a disk would). <see cref="Put"/> returns only once the
/// entry is durable: the store acknowledges an update after it. Every failure to read or write is a
/// <see cref="KvPersistenceException"/>: whatever the medium throws is wrapped once, here.
/// </summary>
internal interface IKvPersistence : IDisposable
{
    /// <summary>Where the entries are, for messages.</summary>
    string Path { get; }

    /// <summary>Every stored entry (key, encoded value, encoded version), in key order.</summary>
    /// <exception cref="KvPersistenceException">The medium could not be read.</exception>
    IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll();

    /// <summary>Writes one entry durably.</summary>
    /// <exception cref="KvPersistenceException">The disk is full, read-only or failing.</exception>
    void Put(string key, byte[] value, byte[] version);

    /// <summary>Deletes one entry durably (a pruning marker past its dissemination window).</summary>
    /// <exception cref="KvPersistenceException">The disk is full, read-only or failing.</exception>
    void Delete(string key);

    /// <summary>Writes several entries and local settings in one transaction: all of them durably, or none.</summary>
    /// <exception cref="KvPersistenceException">The disk is full, read-only or failing (nothing was written).</exception>
    void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta);

    /// <summary>
    /// Empties the replica in one transaction: every entry and every local setting goes (the store file's own
    /// identification stays), then <paramref name="meta"/> is written. All of it durably, or nothing.
    /// </summary>
    /// <exception cref="KvPersistenceException">The disk is full, read-only or failing (nothing changed).</exception>
    void Reset(IReadOnlyList<(string Name, string Value)> meta);

    /// <summary>A local setting of this replica that is not replicated (e.g. its replica name), or null.</summary>
    /// <exception cref="KvPersistenceException">The medium could not be read.</exception>
    string? GetMeta(string name);

    /// <summary>Writes a local setting durably.</summary>
    /// <exception cref="KvPersistenceException">The disk is full, read-only or failing.</exception>
    void PutMeta(string name, string value);
}

/// <summary>The store's persistence failed (the disk is full, read-only, failing or the file damaged); the message
/// names the file and the cause. Nothing of the failed operation was written.</summary>
internal sealed class KvPersistenceException(string message, Exception? innerException = null) : Exception(message, innerException);
