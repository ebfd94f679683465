using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>
/// The admin API's request bodies on a real daemon: an unknown field, a wrong type or an oversized body is refused
/// with 400 naming it, and nothing is written (a misspelt <c>expected_version</c> must not turn a compare-and-set into
/// a blind write, nor a misspelt <c>force</c> be ignored).
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class AdminApiDaemonTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task BadBodies_400NamingTheField_NothingWritten()
    {
        using var cluster = new DaemonCluster();
        var node = cluster.Add();
        cluster.StartAll();
        using var http = new HttpClient { BaseAddress = new Uri($"http://{node.Api}/"), Timeout = TimeSpan.FromSeconds(5) };
        Assert.True(await cluster.WaitAsync(async () => await ReadyAsync(http), Timeout), cluster.Logs());

        await AssertRefusedAsync(http, HttpMethod.Put, "v1/kv/k", """{"ops":[{"op":"set","field":"a","value":"x"}],"expected_versoin":{"node-1":5}}""", "unknown field \"expected_versoin\"");
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/kv/k", """{"ops":[{"op":"set","field":"a","valeu":"x"}]}""", "ops[0]: unknown field \"valeu\"");
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/kv/k", """{"ops":[{"op":"set","field":"a","value":7}]}""", "ops[0].value: expected a string");
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/kv/k", """{"ops":[{"op":"set","field":"a","value":"x"}],"pad":"PAD"}""".Replace("PAD", new string('p', 1024 * 1024), StringComparison.Ordinal), "larger than 1048576 bytes");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("v1/kv/k")).StatusCode);

        await AssertRefusedAsync(http, HttpMethod.Put, "v1/services/web", """{"address":"10.0.0.5","port":["http:80"]}""", "unknown field \"port\"");
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/services/web", """{"address":"10.0.0.5","ports":[80]}""", "ports[0]: expected a string");
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("v1/services/web")).StatusCode);

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/keys", $$"""{"keys":["{{key}}"],"forse":true}""", "unknown field \"forse\"");
        await AssertRefusedAsync(http, HttpMethod.Put, "v1/keys", $$"""{"keys":["{{key}}"],"force":"yes"}""", "force: expected true or false");
        Assert.Equal(0, JsonDocument.Parse(await http.GetStringAsync("v1/keys")).RootElement.GetProperty("key_ids").GetArrayLength());
    }

    private static async Task AssertRefusedAsync(HttpClient http, HttpMethod method, string path, string body, string expected)
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{method} {path} {body[..Math.Min(body.Length, 200)]}: {(int)response.StatusCode} {text}");
        Assert.Contains(expected, JsonDocument.Parse(text).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    private static async Task<bool> ReadyAsync(HttpClient http)
    {
        try
        {
            return (await http.GetAsync("ready")).StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
