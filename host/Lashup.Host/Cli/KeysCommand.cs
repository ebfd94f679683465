using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Lashup.Host.Cli;

/// <summary>
/// <c>lashup keys</c>: shows which key ids every member holds (like <c>consul keyring -list</c>), or replaces a running
/// daemon's gossip encryption keys. The daemon refuses a change that would cut a reachable member off, naming it,
/// unless <c>--force</c>.
/// </summary>
internal static class KeysCommand
{
    public static async Task<int> RunAsync(string? api, string? configPath, IReadOnlyList<string> keys, bool force, bool json, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
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
                using var request = new HttpRequestMessage(HttpMethod.Put, "/v1/keys") { Content = JsonContent.Create(new { keys, force }) };
                using var response = await client.SendAsync(request, cancellationToken);
                result = await AdminClient.ReadAsync<JsonElement>(response, cancellationToken);
            }

            if (json)
            {
                await stdout.WriteLineAsync(result.GetRawText());
                return 0;
            }

            var node = result.TryGetProperty("node", out var n) ? n.GetString() : "this node";
            var ids = Ids(result.GetProperty("key_ids"));
            await stdout.WriteLineAsync(ids.Count == 0
                ? $"{node}: no encryption (core.keyring is empty)"
                : $"{node}: primary key {ids[0]}; accepts {string.Join(", ", ids)}");
            if (keys.Count == 0)
            {
                if (ids.Count > 0)
                {
                    WriteMembers(stdout, result);
                }

                return 0;
            }

            if (result.TryGetProperty("warnings", out var warnings))
            {
                foreach (var warning in warnings.EnumerateArray())
                {
                    await stderr.WriteLineAsync($"warning: {warning.GetString()}");
                }
            }

            await stdout.WriteLineAsync($"only the running keyring changed: put the same keys, in this order, in core.keyring of {node}'s config file before it restarts");
            return 0;
        }
        catch (ClientException e)
        {
            await stderr.WriteLineAsync($"lashup: {e.Message}");
            return Daemon.ExitFailure;
        }
    }

    private static List<string> Ids(JsonElement element) =>
        element.ValueKind == JsonValueKind.Array ? [.. element.EnumerateArray().Select(e => e.GetString() ?? "")] : [];

    /// <summary>Per key: on how many reachable members it is primary and accepted; then per member its keys.</summary>
    private static void WriteMembers(TextWriter stdout, JsonElement result)
    {
        if (!result.TryGetProperty("members", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        var members = list.EnumerateArray()
            .Select(m => (Name: m.GetProperty("name").GetString() ?? "", State: m.GetProperty("state").GetString() ?? "",
                Published: m.GetProperty("key_ids").ValueKind == JsonValueKind.Array, Ids: Ids(m.GetProperty("key_ids"))))
            .ToList();
        var alive = members.Where(m => m.State == "alive").ToList();
        var own = Ids(result.GetProperty("key_ids"));
        var keyIds = own.Concat(alive.SelectMany(m => m.Ids).Where(id => !own.Contains(id)).Distinct().Order(StringComparer.Ordinal)).ToList();
        if (keyIds.Count > 0)
        {
            stdout.WriteLine();
            Table.Write(stdout, ["KEY", "PRIMARY ON", "ACCEPTED BY"], keyIds.Select(id => (IReadOnlyList<string>)
            [
                id,
                string.Create(CultureInfo.InvariantCulture, $"{alive.Count(m => m.Ids.Count > 0 && m.Ids[0] == id)}/{alive.Count}"),
                string.Create(CultureInfo.InvariantCulture, $"{alive.Count(m => m.Ids.Contains(id))}/{alive.Count}"),
            ]));
        }

        stdout.WriteLine();
        Table.Write(stdout, ["NAME", "STATE", "PRIMARY", "ACCEPTS"], members.Select(m => (IReadOnlyList<string>)
        [
            m.Name,
            m.State,
            m.Ids.Count > 0 ? m.Ids[0] : "-",
            m.Published ? string.Join(", ", m.Ids) : "(publishes no key ids)",
        ]));
        var unknown = alive.Where(m => !m.Published).Select(m => m.Name).ToList();
        if (unknown.Count > 0)
        {
            stdout.WriteLine($"{string.Join(", ", unknown)}: no key ids published (a version without key checks?); promoting or dropping a key is refused while they are reachable, unless --force");
        }
    }
}
