using System.Security.Cryptography;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>
/// Real daemons on loopback driven through the real CLI: they converge, a kill -9 is detected, a graceful stop is
/// seen as "left", a node with the wrong key never joins, and keys rotate at run time without losing a member.
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class DaemonClusterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FourDaemons_Converge_DetectKill_SeeGracefulLeave()
    {
        using var cluster = new DaemonCluster();
        for (var i = 0; i < 4; i++)
        {
            cluster.Add();
        }

        cluster.StartAll();
        var first = cluster.Nodes[0];

        Assert.True(
            await cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(first)).Values.Count(s => s == "alive") == 4, Timeout),
            "not converged:\n" + cluster.Logs());
        var table = await DaemonCluster.CliAsync("members", "--api", first.Api);
        Assert.Contains("4 members, 4 alive", table, StringComparison.Ordinal);

        var killed = cluster.Nodes[3];
        killed.ExpectedExit = true;
        killed.Process!.Kill();
        Assert.True(
            await cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(first)).GetValueOrDefault(killed.Name) == "unreachable", Timeout),
            "kill not detected:\n" + cluster.Logs());

        var leaving = cluster.Nodes[2];
        leaving.ExpectedExit = true;
        leaving.Process!.Terminate();
        await leaving.Process.WaitForExitAsync(Timeout);
        Assert.Equal(0, leaving.Process.ExitCode);
        Assert.True(
            await cluster.WaitAsync(async () => (await DaemonCluster.MembersAsync(first)).GetValueOrDefault(leaving.Name) == "left", Timeout),
            "leave not seen:\n" + cluster.Logs());
        Assert.Equal("alive", (await DaemonCluster.MembersAsync(cluster.Nodes[1]))[first.Name]);
    }

    [Fact]
    public async Task Encryption_WrongKeyNeverJoins_AndRotationLosesNoMember()
    {
        var k1 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var k2 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        using var cluster = new DaemonCluster();
        for (var i = 0; i < 3; i++)
        {
            cluster.Add(keyring: k1);
        }

        var outsider = cluster.Add(keyring: k2);
        cluster.StartAll();
        var first = cluster.Nodes[0];
        var members = cluster.Nodes.Take(3).ToList();

        Assert.True(await cluster.WaitAsync(async () => await AliveAsync(first) == 3, Timeout), "not converged:\n" + cluster.Logs());
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False((await DaemonCluster.MembersAsync(first)).ContainsKey(outsider.Name), "a node with the wrong key joined");
        var metrics = await new HttpClient().GetStringAsync($"http://{first.Api}/metrics");
        Assert.Matches("lashup_core_frames_dropped_total\\{reason=\"(unknownkey|authenticationfailed)\"\\} [1-9]", metrics);

        // Rotate: add k2 as an accepted key everywhere, make it primary everywhere, drop k1. No member is lost.
        foreach (var step in new[] { new[] { k1, k2 }, [k2, k1], [k2] })
        {
            foreach (var node in members)
            {
                await DaemonCluster.CliAsync(["keys", "--api", node.Api, .. step]);
            }

            await Task.Delay(TimeSpan.FromSeconds(2));
            foreach (var node in members)
            {
                Assert.Equal(3, (await DaemonCluster.MembersAsync(node)).Count(m => m.Value == "alive" && m.Key != outsider.Name));
            }
        }

        var keys = await DaemonCluster.CliAsync("keys", "--api", first.Api);
        Assert.Contains("primary key", keys, StringComparison.Ordinal);

        // The outsider's key is now the cluster's: it joins.
        Assert.True(await cluster.WaitAsync(async () => await AliveAsync(first) == 4, Timeout), "outsider did not join after rotation:\n" + cluster.Logs());
    }

    [Fact]
    public async Task SeedNotAnswering_DaemonRunsAndSaysWhyItIsNotReady()
    {
        using var cluster = new DaemonCluster();
        var ghost = new DaemonCluster.Daemon("ghost", Host.Tests.Support.TestEnvironment.FreePort(), 0, "");
        var node = cluster.Add(seeds: [ghost]);
        cluster.StartAll();
        using var http = new HttpClient();
        string? body = null;

        Assert.True(
            await cluster.WaitAsync(
                async () =>
                {
                    try
                    {
                        using var response = await http.GetAsync($"http://{node.Api}/ready");
                        body = await response.Content.ReadAsStringAsync();
                        return response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable && body.Contains("core", StringComparison.Ordinal);
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                },
                Timeout),
            "no not-ready answer:\n" + cluster.Logs());
        Assert.Contains($"joining: no seed has answered yet (127.0.0.1:{ghost.CorePort})", body, StringComparison.Ordinal);
    }

    private static async Task<int> AliveAsync(DaemonCluster.Daemon node) =>
        (await DaemonCluster.MembersAsync(node)).Values.Count(s => s == "alive");
}
