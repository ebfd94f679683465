using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Data;
using Lashup.Plugins.Core.Store;

namespace Lashup.Plugins.Core.Tests.Store;

/// <summary>The store's admin endpoints against a real store, errors mapped as the host maps them.</summary>
public sealed class KvEndpointsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-kvapi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Put_EveryOpOfTheVocabulary_Applies()
    {
        using var store = await OpenAsync();
        foreach (var spec in KvOpSpec.All)
        {
            // Each op on a field of its own type, prepared where the op needs something to act on.
            var field = spec.Kind switch
            {
                KvOpKind.Add or KvOpKind.Remove or KvOpKind.Clear => "set",
                KvOpKind.Enable or KvOpKind.Disable => "flag",
                KvOpKind.Incr => "counter",
                KvOpKind.MvSet => "mv",
                _ => "register",
            };
            var op = new KvOpRequest(spec.Name, field, spec.Kind == KvOpKind.Incr ? "-3" : spec.NeedsValue ? "v" : null);
            var (status, body) = await SendAsync(new KvPutEndpoint(store), "k", JsonSerializer.Serialize(new KvUpdateRequest([op]), AdminJson.Options));
            Assert.True(status == 200, $"{spec.Name}: {status} {body}");
        }

        var value = CrdtJson.ToJsonElement(store.Get(KvKey.Parse("k"))!.Value);
        Assert.Equal(-3, value.GetProperty("counter").GetInt64());
        Assert.False(value.TryGetProperty("register", out _)); // set, then unset
    }

    [Theory]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":"x"}],"expected_versoin":{"node-1":5}}""", "unknown field \"expected_versoin\"")]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":"x"},{"op":"sett","field":"b","value":"y"}]}""", "ops[1]: unknown op \"sett\"; use set, add, remove, clear, mvset, enable, disable, incr or unset")]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":"x","vaule":"y"}]}""", "ops[0]: unknown field \"vaule\"")]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":"x"}],"expected_version":{"":1}}""", "expected_version: replica names must not be null or empty")]
    public async Task Put_BadBody_400NamingTheProblem_NothingWritten(string body, string expected)
    {
        using var store = await OpenAsync();
        var (status, answer) = await SendAsync(new KvPutEndpoint(store), "k", body);
        Assert.Equal(400, status);
        Assert.Contains(expected, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Null(store.Get(KvKey.Parse("k")));
    }

    [Fact]
    public async Task Put_TypeMismatch_400NamingTheOp_StaleVersion_409_Missing_404()
    {
        using var store = await OpenAsync();
        var put = new KvPutEndpoint(store);
        Assert.Equal(200, (await SendAsync(put, "k", """{"ops":[{"op":"set","field":"a","value":"x"}]}""")).Status);

        var (status, body) = await SendAsync(put, "k", """{"ops":[{"op":"clear","field":"b"},{"op":"add","field":"a","value":"y"}]}""");
        Assert.Equal(400, status);
        Assert.StartsWith("ops[1]: cannot apply ORSetAdd", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body) = await SendAsync(put, "k", """{"ops":[{"op":"set","field":"a","value":"z"}],"expected_version":{"node-1":7}}""");
        Assert.Equal(409, status);
        Assert.Contains("not the expected", body.GetProperty("error").GetString(), StringComparison.Ordinal);

        (status, body) = await SendAsync(new KvGetEndpoint(store), "missing", "");
        Assert.Equal(404, status);
        Assert.Equal("no key \"missing\"", body.GetProperty("error").GetString());
        Assert.Equal(404, (await SendAsync(new KvDeleteEndpoint(store), "missing", "")).Status);
        Assert.Equal(400, (await SendAsync(new KvGetEndpoint(store), "a//b", "")).Status);
    }

    private static async Task<(int Status, JsonElement Body)> SendAsync(IAdminEndpoint endpoint, string key, string body)
    {
        AdminResult result;
        try
        {
            result = await endpoint.HandleAsync(
                new AdminRequest(new Dictionary<string, string> { ["key"] = key }, ImmutableDictionary<string, string>.Empty, Encoding.UTF8.GetBytes(body)),
                CancellationToken.None);
        }
        catch (Exception e)
        {
            // What the host answers.
            result = AdminResult.FromException(e);
        }

        return (result.StatusCode, JsonSerializer.SerializeToElement(result.Body, AdminJson.Options));
    }

    private Task<KvStore> OpenAsync() => TestStores.OpenAsync("node-1", _dir);
}
