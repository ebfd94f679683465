using System.Globalization;
using Lashup.Abstractions.Admin;

namespace Lashup.Host.Cli;

/// <summary><c>lashup members</c>: the cluster as a running daemon sees it.</summary>
internal static class MembersCommand
{
    public static async Task<int> RunAsync(string? api, string? configPath, bool json, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        try
        {
            using var client = AdminClient.Create(api, configPath);
            var reply = await client.GetAsync<MembersResponse>("/v1/members", cancellationToken);
            if (json)
            {
                await stdout.WriteLineAsync(reply.Json);
                return 0;
            }

            var view = reply.Value;
            var alive = view.Members.Count(m => m.State == "alive");
            await stdout.WriteLineAsync(
                $"node {view.Node} at {view.Address} (epoch {view.Epoch}): " +
                $"{view.Members.Count} members, {alive} alive; {view.ActiveView.Count} neighbours, {view.PassiveViewSize} passive");
            Table.Write(stdout, ["NAME", "ADDRESS", "STATE", "SINCE", "NEIGHBOUR", "METADATA"], view.Members.Select(m => (IReadOnlyList<string>)
            [
                m.Name,
                m.Address,
                m.State,
                m.Since.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                m.Neighbor ? "yes" : "",
                string.Join(",", m.Metadata.Select(p => $"{p.Key}={p.Value}")),
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
