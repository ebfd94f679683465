using Microsoft.Data.Sqlite;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The replica on disk: one SQLite database in WAL mode with <c>synchronous = FULL</c>, so a write is on disk before
/// the update that made it is acknowledged, and a crash at any point loses no acknowledged write. A file that is not a
/// Lashup store, or belongs to another cluster or node, is refused with a clear error, never silently reset.
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
                WriteMeta(connection, new() { ["format"] = Format, ["cluster"] = cluster, ["node"] = node });
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

    /// <summary>Every stored row, in key order.</summary>
    public IEnumerable<(string Key, byte[] Value, byte[] Version)> ReadAll()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT key, value, version FROM kv ORDER BY key";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            yield return (reader.GetString(0), (byte[])reader.GetValue(1), (byte[])reader.GetValue(2));
        }
    }

    /// <summary>Writes one entry durably (returns after fsync).</summary>
    /// <exception cref="SqliteException">The disk is full, read-only or failing.</exception>
    public void Put(string key, byte[] value, byte[] version)
    {
        lock (_lock)
        {
            _put.Parameters[0].Value = key;
            _put.Parameters[1].Value = value;
            _put.Parameters[2].Value = version;
            _put.ExecuteNonQuery();
        }
    }

    /// <summary>Writes several rows and meta rows in one transaction (returns after fsync of the commit; on an error
    /// nothing is written).</summary>
    public void PutAll(IReadOnlyList<(string Key, byte[] Value, byte[] Version)> rows, IReadOnlyList<(string Name, string Value)> meta)
    {
        lock (_lock)
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

                foreach (var (name, value) in meta)
                {
                    using var command = _connection.CreateCommand();
                    command.Transaction = transaction;
                    command.CommandText = "INSERT INTO meta (name, value) VALUES ($name, $value) ON CONFLICT (name) DO UPDATE SET value = excluded.value";
                    command.Parameters.AddWithValue("$name", name);
                    command.Parameters.AddWithValue("$value", value);
                    command.ExecuteNonQuery();
                }

                transaction.Commit();
            }
            finally
            {
                _put.Transaction = null;
            }
        }
    }

    /// <summary>Deletes one entry durably.</summary>
    public void Delete(string key)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "DELETE FROM kv WHERE key = $key";
            command.Parameters.AddWithValue("$key", key);
            command.ExecuteNonQuery();
        }
    }

    /// <summary>A row of the meta table (besides format, cluster and node, which <see cref="Open"/> checks), or null.</summary>
    public string? GetMeta(string name)
    {
        lock (_lock)
        {
            return ReadMeta(_connection).GetValueOrDefault(name);
        }
    }

    /// <summary>Writes a row of the meta table durably. Older stores simply lack the row: no schema change.</summary>
    public void PutMeta(string name, string value)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
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

    private static void WriteMeta(SqliteConnection connection, Dictionary<string, string> meta)
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
