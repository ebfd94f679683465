using Microsoft.Data.Sqlite;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The replica on disk: one SQLite database in WAL mode with <c>synchronous = FULL</c>, so a write is on disk before
/// the update that made it is acknowledged, and a crash at any point loses no acknowledged write. A file that is not a
/// Lashup store, or belongs to another cluster or node, is refused with a clear error, never silently reset. Every
/// <see cref="SqliteException"/> of an operation is wrapped here, once, in a <see cref="KvPersistenceException"/>.
/// </summary>
internal sealed class SqliteKvPersistence : IKvPersistence
{
    private const string Format = "lashup-kv-1";
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _put;
    private readonly Lock _lock = new();

    private SqliteKvPersistence(SqliteConnection connection)
    {
        _connection = connection;
        _put = connection.CreateCommand();
        _put.CommandText = "INSERT INTO kv (key, value, version) VALUES ($key, $value, $version) " +
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = excluded.version";
        _put.Parameters.Add("$key", SqliteType.Text);
        _put.Parameters.Add("$value", SqliteType.Blob);
        _put.Parameters.Add("$version", SqliteType.Blob);
    }

    public string Path { get; private init; } = "";

    /// <summary>Opens (or creates) <c>directory/kv.db</c> and checks it belongs to this cluster and node.</summary>
    /// <exception cref="InvalidOperationException">The file is corrupt, foreign or unwritable; the message says which and what to do.</exception>
    public static SqliteKvPersistence Open(string directory, string cluster, string node)
    {
        Directory.CreateDirectory(directory);
        var path = System.IO.Path.Combine(directory, "kv.db");
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;");
            Execute(connection, "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;" +
                                "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, version BLOB NOT NULL) WITHOUT ROWID;");
            var meta = ReadMeta(connection);
            if (meta.Count == 0)
            {
                WriteIdentification(connection, new() { ["format"] = Format, ["cluster"] = cluster, ["node"] = node });
            }
            else
            {
                Expect(meta, "format", Format, path, "was written by another version of Lashup");
                Expect(meta, "cluster", cluster, path, "belongs to another cluster");
                Expect(meta, "node", node, path, "belongs to another node");
            }

            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA quick_check";
            var result = check.ExecuteScalar() as string;
            if (result != "ok")
            {
                throw new InvalidOperationException($"{path} is corrupt ({result}); restore it from a backup or move it away to re-sync this node from its peers");
            }
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new InvalidOperationException(e.SqliteErrorCode switch
            {
                26 => $"{path} is not a Lashup store (not an SQLite database); move it away to start an empty replica",
                11 => $"{path} is corrupt ({e.Message}); restore it from a backup or move it away to re-sync this node from its peers",
                8 or 14 => $"{path} cannot be opened for writing ({e.Message}); check the permissions of {directory}",
                _ => $"{path}: {e.Message}",
            }, e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return new SqliteKvPersistence(connection) { Path = path };
    }

    /// <summary>Every stored row, in key order (read at once: a failure surfaces here, not half-way through a caller's loop).</summary>
    public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll() => Run("read the entries", () =>
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT key, value, version FROM kv ORDER BY key";
        using var reader = command.ExecuteReader();
        var rows = new List<(string, byte[], byte[])>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2)));
        }

        return rows;
    });

    /// <summary>Writes one entry durably (returns after fsync).</summary>
    public void Put(string key, byte[] value, byte[] version) => Run($"write \"{key}\"", () =>
    {
        _put.Parameters[0].Value = key;
        _put.Parameters[1].Value = value;
        _put.Parameters[2].Value = version;
        _put.ExecuteNonQuery();
        return true;
    });

    /// <summary>Writes several rows and meta rows in one transaction (returns after fsync of the commit; on an error
    /// nothing is written).</summary>
    public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta) =>
        Run($"write {rows.Count} entries in one transaction", () =>
        {
            using var transaction = _connection.BeginTransaction();
            _put.Transaction = transaction;
            try
            {
                foreach (var (key, value, version) in rows)
                {
                    _put.Parameters[0].Value = key;
                    _put.Parameters[1].Value = value;
                    _put.Parameters[2].Value = version;
                    _put.ExecuteNonQuery();
                }

                WriteMeta(transaction, meta);
                transaction.Commit();
            }
            finally
            {
                _put.Transaction = null;
            }

            return true;
        });

    /// <summary>Deletes every row and every meta row but the file's identification, then writes <paramref name="meta"/>, in one transaction.</summary>
    public void Reset(IReadOnlyList<(string Name, string Value)> meta) => Run("empty the replica", () =>
    {
        using var transaction = _connection.BeginTransaction();
        using (var command = _connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM kv; DELETE FROM meta WHERE name NOT IN ('format', 'cluster', 'node');";
            command.ExecuteNonQuery();
        }

        WriteMeta(transaction, meta);
        transaction.Commit();
        return true;
    });

    /// <summary>Deletes one entry durably.</summary>
    public void Delete(string key) => Run($"delete \"{key}\"", () =>
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "DELETE FROM kv WHERE key = $key";
        command.Parameters.AddWithValue("$key", key);
        command.ExecuteNonQuery();
        return true;
    });

    /// <summary>A row of the meta table (besides format, cluster and node, which <see cref="Open"/> checks), or null.</summary>
    public string? GetMeta(string name) => Run($"read the setting {name}", () => ReadMeta(_connection).GetValueOrDefault(name));

    /// <summary>Writes a row of the meta table durably. Older stores simply lack the row: no schema change.</summary>
    public void PutMeta(string name, string value) => Run($"write the setting {name}", () =>
    {
        WriteMeta(null, [(name, value)]);
        return true;
    });

    /// <summary>Runs one operation under the lock; an SQLite error becomes a <see cref="KvPersistenceException"/> naming the file.</summary>
    private T Run<T>(string what, Func<T> operation)
    {
        lock (_lock)
        {
            try
            {
                return operation();
            }
            catch (SqliteException e)
            {
                throw new KvPersistenceException($"cannot {what} in {Path}: {e.Message}", e);
            }
        }
    }

    private void WriteMeta(SqliteTransaction? transaction, IReadOnlyList<(string Name, string Value)> meta)
    {
        foreach (var (name, value) in meta)
        {
            using var command = _connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT INTO meta (name, value) VALUES ($name, $value) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
            command.Parameters.AddWithValue("$name", name);
            command.Parameters.AddWithValue("$value", value);
            command.ExecuteNonQuery();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _put.Dispose();
            _connection.Dispose();
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static Dictionary<string, string> ReadMeta(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, value FROM meta";
        using var reader = command.ExecuteReader();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read())
        {
            meta[reader.GetString(0)] = reader.GetString(1);
        }

        return meta;
    }

    private static void WriteIdentification(SqliteConnection connection, Dictionary<string, string> meta)
    {
        foreach (var (name, value) in meta)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO meta (name, value) VALUES ($name, $value)";
            command.Parameters.AddWithValue("$name", name);
            command.Parameters.AddWithValue("$value", value);
            command.ExecuteNonQuery();
        }
    }

    private static void Expect(Dictionary<string, string> meta, string name, string expected, string path, string problem)
    {
        if (!meta.TryGetValue(name, out var actual) || actual != expected)
        {
            throw new InvalidOperationException(
                $"{path} {problem} ({name} is \"{actual}\", expected \"{expected}\"); point data_dir elsewhere or move the file away");
        }
    }
}
