using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lashup.Abstractions.Admin;

/// <summary>The operations of <c>PUT /v1/kv/{key}</c> (<c>lashup kv put --set ... --add ...</c>).</summary>
public enum KvOpKind
{
    /// <summary><c>set</c>: write a last-writer-wins register.</summary>
    Set,

    /// <summary><c>add</c>: add an element to an observed-remove set.</summary>
    Add,

    /// <summary><c>remove</c>: remove an element from an observed-remove set.</summary>
    Remove,

    /// <summary><c>clear</c>: empty an observed-remove set.</summary>
    Clear,

    /// <summary><c>mvset</c>: write a multi-value register.</summary>
    MvSet,

    /// <summary><c>enable</c>: enable a flag.</summary>
    Enable,

    /// <summary><c>disable</c>: disable a flag.</summary>
    Disable,

    /// <summary><c>incr</c>: add a (possibly negative) integer to a counter.</summary>
    Incr,

    /// <summary><c>unset</c>: remove a field.</summary>
    Unset,
}

/// <summary>
/// One operation of the store's admin vocabulary: its name on the wire (and as a <c>lashup kv put</c> option), whether
/// it takes a value, and what it does. <see cref="All"/> is the whole vocabulary, spelled once for the endpoint and
/// the CLI.
/// </summary>
/// <param name="Kind">The operation.</param>
/// <param name="Name">Its name in <c>{"op": "..."}</c>, e.g. <c>mvset</c>.</param>
/// <param name="ValueName">What its value is, for help texts (<c>VALUE</c>, <c>ELEMENT</c>, <c>N</c>); null when it takes none.</param>
/// <param name="Description">What it does, in a few words.</param>
public sealed record KvOpSpec(KvOpKind Kind, string Name, string? ValueName, string Description)
{
    /// <summary>Whether the operation needs a <c>value</c>.</summary>
    public bool NeedsValue => ValueName is not null;

    /// <summary>Every operation, in the order the CLI lists them.</summary>
    public static ImmutableArray<KvOpSpec> All { get; } =
    [
        new(KvOpKind.Set, "set", "VALUE", "set a last-writer-wins register"),
        new(KvOpKind.Add, "add", "ELEMENT", "add to an observed-remove set"),
        new(KvOpKind.Remove, "remove", "ELEMENT", "remove from an observed-remove set"),
        new(KvOpKind.Clear, "clear", null, "empty an observed-remove set"),
        new(KvOpKind.MvSet, "mvset", "VALUE", "write a multi-value register"),
        new(KvOpKind.Enable, "enable", null, "enable a flag"),
        new(KvOpKind.Disable, "disable", null, "disable a flag"),
        new(KvOpKind.Incr, "incr", "N", "add N (may be negative) to a counter"),
        new(KvOpKind.Unset, "unset", null, "remove a field"),
    ];

    /// <summary>The names, for messages: <c>set, add, ... or unset</c>.</summary>
    public static string Names { get; } = string.Join(", ", All[..^1].Select(o => o.Name)) + " or " + All[^1].Name;

    /// <summary>The operation called <paramref name="name"/> (exact, lower case), or null.</summary>
    /// <param name="name">A wire name.</param>
    /// <returns>The operation, or null.</returns>
    public static KvOpSpec? Find(string? name) => All.FirstOrDefault(o => string.Equals(o.Name, name, StringComparison.Ordinal));
}

/// <summary>The body of <c>PUT /v1/kv/{key}</c>: operations applied atomically, optionally compare-and-set.</summary>
/// <param name="Ops">The operations, at least one.</param>
/// <param name="ExpectedVersion">When set, the update applies only if the key is at this version (replica → counter); else 409.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record KvUpdateRequest(IReadOnlyList<KvOpRequest?>? Ops, IReadOnlyDictionary<string, ulong>? ExpectedVersion = null);

/// <summary>One operation of a <see cref="KvUpdateRequest"/>, e.g. <c>{"op": "add", "field": "backends", "value": "10.0.0.5:80"}</c>.</summary>
/// <param name="Op">The operation's name (<see cref="KvOpSpec.Name"/>).</param>
/// <param name="Field">The field: a name, or a dotted path into nested maps (<c>a.b</c>).</param>
/// <param name="Value">The value, for the operations that take one (<see cref="KvOpSpec.NeedsValue"/>); a counter's as decimal text.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record KvOpRequest(string? Op, string? Field, string? Value = null);

/// <summary>One key of the store as the admin API shows it (<c>GET|PUT|DELETE /v1/kv/{key}</c>, and in lists and watches).</summary>
/// <param name="Key">The key, e.g. <c>lb/vips/web:80</c>.</param>
/// <param name="Value">The value, a CRDT map, as JSON.</param>
/// <param name="Version">The key's version vector: replica → counter.</param>
public sealed record KvEntryResponse(string Key, JsonElement Value, IReadOnlyDictionary<string, ulong> Version);

/// <summary>The answer of <c>GET /v1/kv?prefix=</c>.</summary>
/// <param name="Entries">The readable keys under the prefix, in key order.</param>
public sealed record KvListResponse(IReadOnlyList<KvEntryResponse> Entries)
{
    /// <summary>Quarantined keys under the prefix (not listed: they cannot be read); null when none.</summary>
    public int? Quarantined { get; init; }
}

/// <summary>What a line of <c>GET /v1/kv-watch</c> reports.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KvWatchKind>))]
public enum KvWatchKind
{
    /// <summary>An entry present when the watch started (<c>snapshot</c>).</summary>
    [JsonStringEnumMemberName("snapshot")]
    Snapshot,

    /// <summary>An entry that changed since (<c>updated</c>).</summary>
    [JsonStringEnumMemberName("updated")]
    Updated,

    /// <summary>Every present entry has been sent; changes follow (<c>snapshot_complete</c>, no entry).</summary>
    [JsonStringEnumMemberName("snapshot_complete")]
    SnapshotComplete,
}

/// <summary>One line of the NDJSON stream of <c>GET /v1/kv-watch?prefix=</c> (<c>lashup kv watch</c>).</summary>
/// <param name="Kind">What the line reports.</param>
/// <param name="Entry">The entry; null for <see cref="KvWatchKind.SnapshotComplete"/>.</param>
public sealed record KvWatchLine(KvWatchKind Kind, KvEntryResponse? Entry);

/// <summary>The answer of <c>GET /v1/kv-quarantine</c> and <c>DELETE /v1/kv-quarantine/{key}</c>.</summary>
/// <param name="Quarantined">The quarantined keys (empty after a drop).</param>
public sealed record KvQuarantineResponse(IReadOnlyList<KvQuarantinedKey> Quarantined);

/// <summary>A key this node could not read.</summary>
/// <param name="Key">The key as stored (it may not even parse).</param>
/// <param name="Source"><c>disk</c> for a row of the store file, else the peer whose entry was refused.</param>
/// <param name="Reason">Why it could not be read.</param>
/// <param name="Since">When it was quarantined.</param>
public sealed record KvQuarantinedKey(string Key, string Source, string Reason, DateTimeOffset Since);
