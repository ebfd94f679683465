using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Data;

namespace Lashup.Plugins.Core.Store;

// The store on the admin API, for `lashup kv`, one endpoint per route. Values are shown as JSON. Errors are thrown and
// mapped by the host (AdminResult.FromException): bad keys, bad operations, broken limits and type mismatches 400, a
// failed compare-and-set 409, a missing key 404, an overloaded store 503; each with a one-line message.

/// <summary><c>GET /v1/kv?prefix=</c>: the keys under a prefix with their values, and how many are quarantined.</summary>
internal sealed class KvListEndpoint(IReplicatedStore store) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/kv";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var prefix = request.Query.TryGetValue("prefix", out var p) && p.Length > 0 ? KvAdmin.ParseKey(p) : KvKey.Root;
        var quarantined = (store as KvStore)?.Quarantined()
            .Count(q => q.OnDisk && KvKey.TryParse(q.Key, out var k, out _) && k.StartsWith(prefix)) ?? 0;
        return ValueTask.FromResult(AdminResult.Ok(
            new KvListResponse([.. store.List(prefix).Select(EntryDto.From)]) { Quarantined = quarantined > 0 ? quarantined : null }));
    }
}

/// <summary><c>GET /v1/kv/{key}</c>: one key's value and version.</summary>
internal sealed class KvGetEndpoint(IReplicatedStore store) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => KvAdmin.KeyPattern;

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var key = KvAdmin.KeyOf(request);
        // An emptied key (every field removed) is kept with its version, but there is nothing to show.
        return ValueTask.FromResult(AdminResult.Ok(EntryDto.From(store.Get(key) is { IsEmpty: false } entry ? entry : throw KvAdmin.NotFound(store, key))));
    }
}

/// <summary>
/// <c>PUT /v1/kv/{key}</c> with a <see cref="KvUpdateRequest"/>: applies the operations atomically (compare-and-set
/// when <c>expected_version</c> is given); answers the entry after the update.
/// </summary>
internal sealed class KvPutEndpoint(IReplicatedStore store) : IAdminEndpoint
{
    public string Method => "PUT";

    public string Pattern => KvAdmin.KeyPattern;

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var key = KvAdmin.KeyOf(request);
        var body = request.ReadJson<KvUpdateRequest>();
        var ops = (body.Ops is { Count: > 0 } list ? list : throw new AdminRequestException("the body needs at least one operation in \"ops\": [{\"op\": \"set\", \"field\": \"name\", \"value\": \"...\"}, ...]"))
            .Select(ToOp).ToList();
        VersionVector? expected;
        try
        {
            expected = body.ExpectedVersion is null ? null : new VersionVector(body.ExpectedVersion);
        }
        catch (ArgumentException e)
        {
            throw new AdminRequestException($"expected_version: {e.Message.Split(" (Parameter", 2)[0]}");
        }

        try
        {
            return AdminResult.Ok(EntryDto.From(await store.UpdateAsync(key, ops, expected, cancellationToken)));
        }
        catch (CrdtTypeMismatchException e)
        {
            throw new AdminRequestException($"ops[{ops.FindIndex(o => ReferenceEquals(o, e.Op))}]: {e.Message}");
        }
    }

    private static CrdtOp ToOp(KvOpRequest? op, int index)
    {
        var where = $"ops[{index}]";
        if (op is null)
        {
            throw new AdminRequestException($"{where}: expected an operation such as {{\"op\": \"set\", \"field\": \"name\", \"value\": \"...\"}}, got null");
        }

        if (string.IsNullOrEmpty(op.Field))
        {
            throw new AdminRequestException($"{where}: \"field\" is required (a name, or a dotted path into nested maps)");
        }

        var path = op.Field.Split('.').ToImmutableArray();
        if (path.Any(string.IsNullOrEmpty))
        {
            throw new AdminRequestException($"{where}: \"{op.Field}\" has an empty path segment");
        }

        if (path.Length > KvLimits.MaxPathSegments)
        {
            // Checked before the op is built: a path of thousands of segments costs nothing more to refuse.
            throw new AdminRequestException($"{where}: the field path has {path.Length} segments; the limit is {KvLimits.MaxPathSegments} (maps nest at most {KvLimits.MaxMapDepth} deep)");
        }

        var spec = KvOpSpec.Find(op.Op) ?? throw new AdminRequestException($"{where}: unknown op \"{op.Op}\"; use {KvOpSpec.Names}");
        var value = spec.NeedsValue ? op.Value ?? throw new AdminRequestException($"{where}: \"{spec.Name}\" needs a \"value\"") : null;
        return spec.Kind switch
        {
            KvOpKind.Add => new ORSetAdd(path, value!),
            KvOpKind.Remove => new ORSetRemove(path, value!),
            KvOpKind.Clear => new ORSetClear(path),
            KvOpKind.Set => new LwwSet(path, value!),
            KvOpKind.MvSet => new MvSet(path, value!),
            KvOpKind.Enable => new FlagEnable(path),
            KvOpKind.Disable => new FlagDisable(path),
            KvOpKind.Incr => new CounterAdd(path, long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                ? n : throw new AdminRequestException($"{where}: \"incr\" needs an integer value, got \"{value}\"")),
            KvOpKind.Unset => new RemoveField(path),
            _ => throw new InvalidOperationException($"op {spec.Kind} has no store operation"),
        };
    }
}

/// <summary><c>DELETE /v1/kv/{key}</c>: removes every field of a key; answers the (empty) entry after it.</summary>
internal sealed class KvDeleteEndpoint(IReplicatedStore store) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => KvAdmin.KeyPattern;

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var key = KvAdmin.KeyOf(request);
        var current = store.Get(key) is { IsEmpty: false } found ? found : throw KvAdmin.NotFound(store, key);
        var removals = current.Value.Fields.Select(f => (CrdtOp)new RemoveField(ImmutableArray.Create(f.Name))).ToList();
        return AdminResult.Ok(EntryDto.From(await store.UpdateAsync(key, removals, null, cancellationToken)));
    }
}

/// <summary>Store entries as the admin API shows them.</summary>
internal static class EntryDto
{
    public static KvEntryResponse From(KvEntry e) => new(e.Key.ToString(), CrdtJson.ToJsonElement(e.Value), e.Version.Entries);
}

/// <summary>What the store's endpoints share: the key route, key parsing, the not-found error.</summary>
internal static class KvAdmin
{
    public const string KeyPattern = "/v1/kv/{*key}";

    public static KvKey KeyOf(AdminRequest request) => ParseKey(request.RouteValues.GetValueOrDefault("key") ?? "");

    public static KvKey ParseKey(string text) =>
        KvKey.TryParse(Uri.UnescapeDataString(text), out var key, out var error) ? key! : throw new AdminRequestException($"bad key \"{text}\": {error}");

    public static AdminNotFoundException NotFound(IReplicatedStore store, KvKey key) =>
        (store as KvStore)?.Quarantined().FirstOrDefault(q => q.OnDisk && q.Key == key.ToString()) is { } q
            ? new AdminNotFoundException($"no readable value of \"{key}\" here: its row is quarantined ({q.Reason}); a peer's copy replaces it, see lashup kv quarantine")
            : new AdminNotFoundException($"no key \"{key}\"");
}

/// <summary>
/// <c>GET /v1/kv-quarantine</c> lists the store's quarantined keys (undecodable rows of the store file, entries refused
/// from peers; see <see cref="KvStore"/>'s quarantine).
/// </summary>
internal sealed class KvQuarantineListEndpoint(KvStore store) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/kv-quarantine";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AdminResult.Ok(new KvQuarantineResponse([.. store.Quarantined().Select(q => new KvQuarantinedKey(q.Key, q.Source, q.Reason, q.Since))])));
}

/// <summary><c>DELETE /v1/kv-quarantine/{key}</c> drops one quarantined key (a row is deleted from the store file).</summary>
internal sealed class KvQuarantineDropEndpoint(KvStore store) : IAdminEndpoint
{
    public string Method => "DELETE";

    public string Pattern => "/v1/kv-quarantine/{*key}";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var key = Uri.UnescapeDataString(request.RouteValues.GetValueOrDefault("key") ?? "");
        return store.DropQuarantined(key)
            ? ValueTask.FromResult(AdminResult.Ok(new KvQuarantineResponse([])))
            : throw new AdminNotFoundException($"\"{key}\" is not quarantined");
    }
}

/// <summary>
/// <c>GET /v1/kv-watch?prefix=</c> (for <c>lashup kv watch</c>): the entries under the prefix, a snapshot-complete line,
/// then every change as it happens, one <see cref="KvWatchLine"/> per line, until the client goes away.
/// </summary>
internal sealed class KvWatchEndpoint(IReplicatedStore store) : IAdminEndpoint
{
    private static readonly byte[] NewLine = [(byte)'\n'];

    public string Method => "GET";

    public string Pattern => "/v1/kv-watch";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var text = request.Query.GetValueOrDefault("prefix") ?? "";
        KvKey prefix;
        if (text.Length == 0)
        {
            prefix = KvKey.Root;
        }
        else if (!KvKey.TryParse(text, out var parsed, out var error))
        {
            throw new AdminRequestException($"bad prefix \"{text}\": {error}");
        }
        else
        {
            prefix = parsed;
        }

        return ValueTask.FromResult(AdminResult.Streaming(async (stream, ct) =>
        {
            await foreach (var change in store.WatchAsync(prefix, ct))
            {
                var line = change.Entry is { } entry
                    ? new KvWatchLine(change.Kind == KvChangeKind.Snapshot ? KvWatchKind.Snapshot : KvWatchKind.Updated, EntryDto.From(entry))
                    : new KvWatchLine(KvWatchKind.SnapshotComplete, null);
                await JsonSerializer.SerializeAsync(stream, line, AdminJson.Options, ct);
                await stream.WriteAsync(NewLine, ct);
                await stream.FlushAsync(ct);
            }
        }));
    }
}
