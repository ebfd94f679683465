namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Where a replica keeps its entries: <see cref="SqliteKvPersistence"/> in the daemon; the simulator keeps them in
/// memory (and keeps that memory across a simulated crash, as a disk would). <see cref="Put"/> returns only once the
/// entry is durable: the store acknowledges an update after it.
/// </summary>
internal interface IKvPersistence : IDisposable
{
    /// <summary>Where the entries are, for messages.</summary>
    string Path { get; }

    /// <summary>Every stored entry (key, encoded value, encoded version), in key order.</summary>
    IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll();

    /// <summary>Writes one entry durably.</summary>
    /// <exception cref="Microsoft.Data.Sqlite.SqliteException">The disk is full, read-only or failing.</exception>
    void Put(string key, byte[] value, byte[] version);

    /// <summary>Deletes one entry durably (a pruning marker past its dissemination window).</summary>
    /// <exception cref="Microsoft.Data.Sqlite.SqliteException">The disk is full, read-only or failing.</exception>
    void Delete(string key);

    /// <summary>Writes several entries and local settings in one transaction: all of them durably, or none.</summary>
    /// <exception cref="Microsoft.Data.Sqlite.SqliteException">The disk is full, read-only or failing (nothing was written).</exception>
    void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta);

    /// <summary>A local setting of this replica that is not replicated (e.g. its replica name), or null.</summary>
    string? GetMeta(string name);

    /// <summary>Writes a local setting durably.</summary>
    /// <exception cref="Microsoft.Data.Sqlite.SqliteException">The disk is full, read-only or failing.</exception>
    void PutMeta(string name, string value);
}
