using System.Globalization;
using System.Text.Json;

namespace Lashup.Host.Cli;

/// <summary><c>lashup members</c>: the cluster as a running daemon sees it.</summary>
internal static class MembersCommand
{
    public static async Task<int> RunAsync(string? api, string? configPath, bool json, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            using var client = AdminClient.Create(api, configPath);
            var doc = await client.GetAsync<JsonElement>("/v1/members", cancellationToken);
            if (json)
            {
                await stdout.WriteLineAsync(doc.GetRawText());
                return 0;
            }

            var members = doc.GetProperty("members").EnumerateArray().ToList();
            var alive = members.Count(m => m.GetProperty("state").GetString() == "alive");
            await stdout.WriteLineAsync(
                $"node {doc.GetProperty("node").GetString()} at {doc.GetProperty("address").GetString()} (epoch {doc.GetProperty("epoch").GetInt64()}): " +
                $"{members.Count} members, {alive} alive; {doc.GetProperty("active_view").GetArrayLength()} neighbours, {doc.GetProperty("passive_view_size").GetInt32()} passive");
            Table.Write(stdout, ["NAME", "ADDRESS", "STATE", "SINCE", "NEIGHBOUR", "METADATA"], members.Select(m => (IReadOnlyList<string>)
            [
                m.GetProperty("name").GetString() ?? "",
                m.GetProperty("address").GetString() ?? "",
                m.GetProperty("state").GetString() ?? "",
                m.GetProperty("since").GetDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                m.GetProperty("neighbor").GetBoolean() ? "yes" : "",
                string.Join(",", m.GetProperty("metadata").EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}")),
            ]));
            return 0;
        }
        catch (ClientException e)
        {
            await stderr.WriteLineAsync($"lashup: {e.Message}");
            return Daemon.ExitFailure;
        }
    }
}
