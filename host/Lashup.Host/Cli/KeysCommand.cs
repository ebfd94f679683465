using System.Globalization;
using Lashup.Abstractions.Admin;

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
            var reply = keys.Count == 0
                ? await client.GetAsync<KeysResponse>("/v1/keys", cancellationToken)
                : await client.SendAsync<KeysResponse>(HttpMethod.Put, "/v1/keys", new KeysRequest(keys, force), cancellationToken);
            if (json)
            {
                await stdout.WriteLineAsync(reply.Json);
                return 0;
            }

            var result = reply.Value;
            var ids = result.KeyIds;
            await stdout.WriteLineAsync(ids.Count == 0
                ? $"{result.Node}: no encryption (core.keyring is empty)"
                : $"{result.Node}: primary key {ids[0]}; accepts {string.Join(", ", ids)}");
            if (keys.Count == 0)
            {
                if (ids.Count > 0)
                {
                    WriteMembers(stdout, result);
                }

                return 0;
            }

            foreach (var warning in result.Warnings)
            {
                await stderr.WriteLineAsync($"warning: {warning}");
            }

            await stdout.WriteLineAsync($"only the running keyring changed: put the same keys, in this order, in core.keyring of {result.Node}'s config file before it restarts");
            return 0;
        }
        catch (ClientException e)
        {
            await stderr.WriteLineAsync($"lashup: {e.Message}");
            return Daemon.ExitFailure;
        }
    }

    /// <summary>Per key: on how many reachable members it is primary and accepted; then per member its keys.</summary>
    private static void WriteMembers(TextWriter stdout, KeysResponse result)
    {
        if (result.Members is null)
        {
            return;
        }

        var members = result.Members
            .Select(m => (m.Name, m.State, Published: m.KeyIds is not null, Ids: m.KeyIds ?? []))
            .ToList();
        var alive = members.Where(m => m.State == "alive").ToList();
        var own = result.KeyIds;
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
