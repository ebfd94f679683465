using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Data;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The store on the admin API, for <c>lashup kv</c>: <c>GET /v1/kv?prefix=</c> lists, <c>GET /v1/kv/{key}</c> reads,
/// <c>PUT /v1/kv/{key}</c> applies operations (optionally compare-and-set), <c>DELETE /v1/kv/{key}</c> removes every
/// field. Values are shown as JSON. Bad keys, bad operations and type mismatches answer 400, a failed compare-and-set
/// 409, a missing key 404, with a one-line error.
/// </summary>
internal sealed class KvEndpoint(IReplicatedStore store, string method, string pattern) : IAdminEndpoint
{
    public string Method => method;

    public string Pattern => pattern;

    public static readonly (string Method, string Pattern)[] Routes =
        [("GET", "/v1/kv"), ("GET", "/v1/kv/{*key}"), ("PUT", "/v1/kv/{*key}"), ("DELETE", "/v1/kv/{*key}")];

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        try
        {
            if (pattern == "/v1/kv")
            {
                var prefix = request.Query.TryGetValue("prefix", out var p) && p.Length > 0 ? ParseKey(p) : KvKey.Root;
                var quarantined = (store as KvStore)?.Quarantined()
                    .Count(q => q.OnDisk && KvKey.TryParse(q.Key, out var k, out _) && k.StartsWith(prefix)) ?? 0;
                return AdminResult.Ok(new ListDto([.. store.List(prefix).Select(EntryDto.From)]) { Quarantined = quarantined > 0 ? quarantined : null });
            }

            var key = ParseKey(request.RouteValues.GetValueOrDefault("key") ?? "");
            switch (method)
            {
                case "GET":
                    return store.Get(key) is { IsEmpty: false } entry ? AdminResult.Ok(EntryDto.From(entry)) : NotFound(key);
                case "PUT":
                    var body = request.ReadJson<UpdateDto>();
                    var ops = (body.Ops is { Count: > 0 } list ? list : throw new AdminRequestException("the body needs at least one operation in \"ops\": [{\"op\": \"set\", \"field\": \"name\", \"value\": \"...\"}, ...]"))
                        .Select((op, i) => ToOp(op, i)).ToList();
                    var expected = body.ExpectedVersion is null ? null : new VersionVector(body.ExpectedVersion);
                    try
                    {
                        return AdminResult.Ok(EntryDto.From(await store.UpdateAsync(key, ops, expected, cancellationToken)));
                    }
                    catch (CrdtTypeMismatchException e)
                    {
                        return AdminResult.Error(400, $"ops[{ops.FindIndex(o => ReferenceEquals(o, e.Op))}]: {e.Message}");
                    }
                default:
                    var current = store.Get(key);
                    if (current is null || current.IsEmpty)
                    {
                        return NotFound(key);
                    }

                    var removals = current.Value.Fields.Select(f => (CrdtOp)new RemoveField(ImmutableArray.Create(f.Name))).ToList();
                    return AdminResult.Ok(EntryDto.From(await store.UpdateAsync(key, removals, null, cancellationToken)));
            }
        }
        catch (KvConflictException e)
        {
            return AdminResult.Error(409, e.Message);
        }
        catch (Exception e) when (e is KvValidationException or CrdtTypeMismatchException or ArgumentException)
        {
            return AdminResult.Error(400, e.Message);
        }
        catch (KvOverloadedException e)
        {
            return AdminResult.Error(503, e.Message);
        }
        catch (KvException e)
        {
            return AdminResult.Error(500, e.Message);
        }
    }

    private AdminResult NotFound(KvKey key) =>
        (store as KvStore)?.Quarantined().FirstOrDefault(q => q.OnDisk && q.Key == key.ToString()) is { } q
            ? AdminResult.Error(404, $"no readable value of \"{key}\" here: its row is quarantined ({q.Reason}); a peer's copy replaces it, see lashup kv quarantine")
            : AdminResult.Error(404, $"no key \"{key}\"");

    private static KvKey ParseKey(string text) =>
        KvKey.TryParse(Uri.UnescapeDataString(text), out var key, out var error) ? key! : throw new AdminRequestException($"bad key \"{text}\": {error}");

    private static CrdtOp ToOp(OpDto? op, int index)
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

        string Value() => op.Value ?? throw new AdminRequestException($"{where}: \"{op.Op}\" needs a \"value\"");

        return op.Op switch
        {
            "add" => new ORSetAdd(path, Value()),
            "remove" => new ORSetRemove(path, Value()),
            "clear" => new ORSetClear(path),
            "set" => new LwwSet(path, Value()),
            "mvset" => new MvSet(path, Value()),
            "enable" => new FlagEnable(path),
            "disable" => new FlagDisable(path),
            "incr" => new CounterAdd(path, long.TryParse(Value(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                ? n : throw new AdminRequestException($"{where}: \"incr\" needs an integer value, got \"{op.Value}\"")),
            "unset" => new RemoveField(path),
            _ => throw new AdminRequestException($"{where}: unknown op \"{op.Op}\"; use add, remove, clear, set, mvset, enable, disable, incr or unset"),
        };
    }

    public sealed record OpDto(string? Op, string? Field, string? Value);

    public sealed record UpdateDto(List<OpDto?>? Ops, Dictionary<string, ulong>? ExpectedVersion);

    public sealed record EntryDto(string Key, JsonElement Value, IReadOnlyDictionary<string, ulong> Version)
    {
        public static EntryDto From(KvEntry e) => new(e.Key.ToString(), CrdtJson.ToJsonElement(e.Value), e.Version.Entries);
    }

    public sealed record ListDto(IReadOnlyList<EntryDto> Entries)
    {
        /// <summary>Quarantined keys under the prefix (not listed: they cannot be read); null when none.</summary>
        public int? Quarantined { get; init; }
    }
}

/// <summary>
/// <c>GET /v1/kv-quarantine</c> lists the store's quarantined keys (undecodable rows of the store file, entries refused
/// from peers; see <see cref="KvStore"/>'s quarantine); <c>DELETE /v1/kv-quarantine/{key}</c> drops one (a row is
/// deleted from the store file).
/// </summary>
internal sealed class KvQuarantineEndpoint(KvStore store, string method) : IAdminEndpoint
{
    public string Method => method;

    public string Pattern => method == "GET" ? "/v1/kv-quarantine" : "/v1/kv-quarantine/{*key}";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        if (method == "GET")
        {
            return ValueTask.FromResult(AdminResult.Ok(new QuarantineDto([.. store.Quarantined().Select(q => new QuarantinedDto(q.Key, q.Source, q.Reason, q.Since))])));
        }

        var key = Uri.UnescapeDataString(request.RouteValues.GetValueOrDefault("key") ?? "");
        try
        {
            return ValueTask.FromResult(store.DropQuarantined(key)
                ? AdminResult.Ok(new QuarantineDto([]))
                : AdminResult.Error(404, $"\"{key}\" is not quarantined"));
        }
        catch (KvException e)
        {
            return ValueTask.FromResult(AdminResult.Error(500, e.Message));
        }
    }

    public sealed record QuarantinedDto(string Key, string Source, string Reason, DateTimeOffset Since);

    public sealed record QuarantineDto(IReadOnlyList<QuarantinedDto> Quarantined);
}

/// <summary>
/// <c>GET /v1/kv-watch?prefix=</c> (for <c>lashup kv watch</c>): the entries under the prefix, a snapshot-complete line,
/// then every change as it happens, one JSON object per line, until the client goes away.
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
            return ValueTask.FromResult(AdminResult.Error(400, $"bad prefix \"{text}\": {error}"));
        }
        else
        {
            prefix = parsed;
        }

        return ValueTask.FromResult(AdminResult.Streaming(async (stream, ct) =>
        {
            await foreach (var change in store.WatchAsync(prefix, ct))
            {
                object line = change.Entry is { } entry
                    ? new WatchLine(change.Kind == KvChangeKind.Snapshot ? "snapshot" : "updated", KvEndpoint.EntryDto.From(entry))
                    : new WatchLine("snapshot_complete", null);
                await JsonSerializer.SerializeAsync(stream, line, AdminResult.JsonOptions, ct);
                await stream.WriteAsync(NewLine, ct);
                await stream.FlushAsync(ct);
            }
        }));
    }

    public sealed record WatchLine(string Kind, KvEndpoint.EntryDto? Entry);
}
