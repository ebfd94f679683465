using System.Text;
using System.Text.Json;
using CsCheck;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>
/// The admin API's update path (<c>PUT /v1/kv/{key}</c>) under random requests — random ops, paths (deep, long, empty
/// segments, lone surrogates, control characters), values (huge, missing, null, not valid Unicode), counter amounts at
/// and past the boundaries, nulls where objects belong, stale expected versions: every 2xx is readable back, reaches a
/// peer both as a delta and by anti-entropy, and survives a restart; every refusal is a 4xx whose message names the
/// problem; the store always restarts with nothing quarantined.
/// </summary>
public sealed class KvUpdatePathPropertyTests
{
    private static readonly string[] Names = ["a", "b", "c", "backends", "10.0.0.7:80"];

    private static readonly Gen<string> Segment = Gen.Frequency(
        (20, Gen.OneOf(Names)),
        (1, Gen.Const(new string('n', KvLimits.MaxFieldNameBytes))),
        (1, Gen.Const(new string('n', KvLimits.MaxFieldNameBytes + 1))),
        (1, Gen.Const("bad" + '\ud800')),
        (1, Gen.Const("tab\there")),
        (1, Gen.Const("")),
        (1, Gen.Const("é☃😀")));

    private static readonly Gen<string> Field = Gen.Frequency(
        (10, Segment.Array[1, 3].Select(s => string.Join('.', s))),
        (2, Gen.Int[KvLimits.MaxPathSegments - 1, KvLimits.MaxPathSegments + 1].Select(n => string.Join('.', Enumerable.Range(0, n).Select(i => $"m{i}")))),
        (1, Gen.Int[30, 80].Select(n => string.Join('.', Enumerable.Range(0, n).Select(i => $"m{i}")))));

    private static readonly Gen<string?> Value = Gen.Frequency(
        (10, Gen.OneOf<string?>("x", "10.0.0.5:80", "é😀")),
        (3, Gen.OneOf<string?>("1", "-7", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "12x")),
        (1, Gen.OneOf<string?>(null, "lone" + '\udc00')),
        (1, Gen.Int[10_000, 400_000].Select(n => (string?)new string('v', n))));

    private static readonly Gen<string> OpName = Gen.Frequency(
        (10, Gen.OneOf("add", "remove", "clear", "set", "mvset", "enable", "disable", "incr", "unset").Select(s => s)),
        (1, Gen.Const("frobnicate")));

    /// <summary>One op as JSON text: mostly well formed, sometimes null, missing parts or wrong JSON types.</summary>
    private static readonly Gen<string> Op = Gen.Frequency(
        (30, Gen.Select(OpName, Field, Value, (op, field, value) => $"{{\"op\":{Json(op)},\"field\":{Json(field)}{(value is null ? "" : $",\"value\":{Json(value)}")}}}")),
        (1, Gen.Const("null")),
        (1, Gen.Const("{\"op\":\"set\"}")),
        (1, Gen.Const("{\"op\":\"set\",\"field\":\"a\",\"value\":5}")),
        (1, Gen.Const("[]")));

    private static readonly Gen<Request> Requests = Gen.Select(
        Gen.Int[0, 2],
        Op.Array[0, 5],
        Gen.Frequency((8, Gen.Const(0)), (1, Gen.Const(1)), (1, Gen.Const(2))),
        (key, ops, shape) => new Request(
            $"k/{key}",
            shape switch
            {
                0 => $"{{\"ops\":[{string.Join(',', ops)}]}}",
                1 => $"{{\"ops\":[{string.Join(',', ops)}],\"expected_version\":{{\"node-1\":1}}}}",
                _ => ops.Length > 0 ? "{\"ops\":null}" : "not json",
            }));

    [Fact]
    public void Put_RandomRequests_AcknowledgedIsReadableReplicatedAndRestartable_RefusedIs4xxNamingTheProblem()
    {
        Requests.Array[1, 8].Sample(
            requests => Run(requests).GetAwaiter().GetResult(),
            iter: 150,
            threads: 1,
            print: r => string.Join("\n", r.Select(x => x.ToString())));
    }

    private static async Task Run(Request[] requests)
    {
        var dir = Directory.CreateTempSubdirectory("lashup-kvprop-").FullName;
        try
        {
            var broadcast = new CapturingBroadcast();
            var deltas = broadcast.Deltas;
            var acknowledged = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            var writer = await OpenAsync(dir, "node-1", broadcast);
            try
            {
                foreach (var request in requests)
                {
                    var (status, body) = await PutAsync(writer, request);
                    if (status == 200)
                    {
                        var (getStatus, read) = await SendAsync(writer, "GET", request.Key, "");
                        if (body.GetProperty("value").GetRawText() == "{}")
                        {
                            // Nothing present (e.g. an unset of a field that never was): a GET finds no key.
                            Assert.True(getStatus == 404, $"{request}: acknowledged an empty value, then GET answered {getStatus}: {read}");
                            acknowledged.Remove(request.Key);
                            continue;
                        }

                        Assert.True(getStatus == 200, $"{request}: acknowledged, then GET answered {getStatus}: {read}");
                        Assert.Equal(body.GetProperty("value").GetRawText(), read.GetProperty("value").GetRawText());
                        acknowledged[request.Key] = read;
                    }
                    else
                    {
                        Assert.True(status is 400 or 409, $"{request}: answered {status}: {body}");
                        var message = body.GetProperty("error").GetString() ?? "";
                        Assert.True(
                            message.Length > 10 && !message.Contains("Object reference", StringComparison.Ordinal) && !message.Contains("Exception", StringComparison.Ordinal),
                            $"{request}: {message}");
                        Assert.True(
                            new[] { "ops[", "\"ops\"", "operation", "version", "JSON", "limit", "range" }.Any(w => message.Contains(w, StringComparison.Ordinal)),
                            $"{request}: the refusal does not name what is wrong: {message}");
                    }
                }

                // A peer that takes every delta as it is broadcast, and one that gets everything by anti-entropy.
                using var byDelta = await OpenAsync(dir, "node-2");
                var replication = new KvReplication(byDelta, new NoNetwork(), new TestDepartures(), new Random(1));
                foreach (var (key, replica, counter, delta) in deltas)
                {
                    replication.OnDelta("node-1", KvReplication.EncodeDelta(key, replica, counter, delta));
                }

                using var bySync = await OpenAsync(dir, "node-3");
                AntiEntropyTests.Exchange(bySync, writer, out _);
                foreach (var peer in new[] { byDelta, bySync })
                {
                    Assert.Equal(Snapshot(writer), Snapshot(peer));
                    Assert.Empty(peer.Quarantined());
                }
            }
            finally
            {
                writer.Dispose();
            }

            using var restarted = await OpenAsync(dir, "node-1");
            Assert.Empty(restarted.Quarantined());
            foreach (var (key, read) in acknowledged)
            {
                var (status, again) = await SendAsync(restarted, "GET", key, "");
                Assert.Equal(200, status);
                Assert.Equal(read.GetRawText(), again.GetRawText());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Task<(int Status, JsonElement Body)> PutAsync(KvStore store, Request request) => SendAsync(store, "PUT", request.Key, request.Body);

    private static async Task<(int Status, JsonElement Body)> SendAsync(KvStore store, string method, string key, string body)
    {
        IAdminEndpoint endpoint = method == "PUT" ? new KvPutEndpoint(store) : new KvGetEndpoint(store);
        AdminResult result;
        try
        {
            result = await endpoint.HandleAsync(
                new AdminRequest(new Dictionary<string, string> { ["key"] = key }, new Dictionary<string, string>(), Encoding.UTF8.GetBytes(body)),
                CancellationToken.None);
        }
        catch (Exception e)
        {
            // What the host answers.
            result = AdminResult.FromException(e);
        }

        return (result.StatusCode, JsonSerializer.SerializeToElement(result.Body, AdminJson.Options));
    }

    private static List<string> Snapshot(KvStore store) =>
        [.. store.List(KvKey.Root).Select(e => $"{e.Key} {Convert.ToHexString(CrdtCodec.EncodeMap(e.Map))} {e.Version}")];

    private static Task<KvStore> OpenAsync(string dir, string node, IKvBroadcast? broadcast = null) =>
        TestStores.OpenAsync(node, Path.Combine(dir, node), broadcast: broadcast);

    /// <summary>A JSON string literal that escapes control characters and every surrogate (so a lone one reaches the
    /// server as a <c>\uD800</c> escape, as a client may send it).</summary>
    private static string Json(string text)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                _ when char.IsControl(c) || char.IsSurrogate(c) => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }

    private sealed record Request(string Key, string Body)
    {
        public override string ToString() => $"PUT /v1/kv/{Key} {(Body.Length > 300 ? Body[..300] + $"... ({Body.Length} chars)" : Body)}";
    }

    private sealed class NoNetwork : IReplicationNetwork
    {
        public string LocalName => "node-2";

        public int MaxPayloadSize => 48 * 1024;

        public IReadOnlyCollection<Member> Members => [];

        public void Broadcast(string topic, ReadOnlyMemory<byte> payload)
        {
        }

        public void SendDirect(string node, string topic, byte[] payload)
        {
        }

        public ValueTask<IReadOnlyList<string>> ActiveNeighborsAsync() => ValueTask.FromResult<IReadOnlyList<string>>([]);
    }
}
