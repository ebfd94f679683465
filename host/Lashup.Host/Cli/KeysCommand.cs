using System.Net.Http.Json;
using System.Text.Json;

namespace Lashup.Host.Cli;

/// <summary><c>lashup keys</c>: shows or replaces a running daemon's gossip encryption keys.</summary>
internal static class KeysCommand
{
    public static async Task<int> RunAsync(string? api, string? configPath, IReadOnlyList<string> keys, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            using var client = AdminClient.Create(api, configPath);
            JsonElement result;
            if (keys.Count == 0)
            {
                result = await client.GetAsync<JsonElement>("/v1/keys", cancellationToken);
            }
            else
            {
                using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/keys") { Content = JsonContent.Create(new { keys }) };
                using var response = await client.SendAsync(request, cancellationToken);
                result = await AdminClient.ReadAsync<JsonElement>(response, cancellationToken);
            }

            var ids = result.GetProperty("key_ids").EnumerateArray().Select(e => e.GetString()).ToList();
            await stdout.WriteLineAsync(ids.Count == 0
                ? "no encryption (core.keyring is empty)"
                : $"primary key {ids[0]}; accepted: {string.Join(", ", ids)}");
            return 0;
        }
        catch (ClientException e)
        {
            await stderr.WriteLineAsync($"lashup: {e.Message}");
            return Daemon.ExitFailure;
        }
    }
}
