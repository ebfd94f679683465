using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>
/// Key rotation on three real daemons through the real CLI, in the documented order (add everywhere, promote
/// everywhere, drop everywhere), watched the whole time: no member becomes unreachable on any node. Steps that would
/// cut a member off are refused, naming it.
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class KeyRotationDaemonTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The public id of a key, as members publish it: the first 8 bytes of HMAC-SHA256(key, "lashup key id").</summary>
    private static string KeyId(string key) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Convert.FromBase64String(key), Encoding.ASCII.GetBytes("lashup key id"))[..8]);

    [Fact]
    public async Task DocumentedOrder_NoMemberUnreachable_WrongStepsRefusedNamingTheMembersCutOff()
    {
        var k1 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var k2 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        using var cluster = new DaemonCluster();
        for (var i = 0; i < 3; i++)
        {
            cluster.Add(keyring: k1);
        }

        cluster.StartAll();
        var nodes = cluster.Nodes;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        Assert.True(
            await cluster.WaitAsync(async () => (await Task.WhenAll(nodes.Select(AliveAsync))).All(n => n == 3), Timeout),
            "not converged:\n" + cluster.Logs());

        // From here on, every node's view is sampled continuously: any member seen not alive is a failure.
        var lost = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var monitor = Task.Run(() => MonitorAsync(stop.Token));

        // The order the README used to give, NEW OLD node by node: refused on the first node, nobody has NEW yet.
        var (code, output) = await KeysAsync(nodes[0], k2, k1);
        Assert.True(code != 0, $"promoting a key no other member holds was accepted: {output}");
        Assert.Contains("node-2", output, StringComparison.Ordinal);
        Assert.Contains("node-3", output, StringComparison.Ordinal);

        // 1. Add the new key everywhere (accepted, not used).
        foreach (var node in nodes)
        {
            await CliOkAsync(node, k1, k2);
        }

        await WaitKeysAsync(cluster, http, (primary, accepted) => accepted.Contains(KeyId(k2)), "every member to accept the new key");

        // 2. Promote it, node by node. Half-way, dropping the old key on node-2 would cut node-3 (still encrypting
        // with it) off, and is refused, naming node-3 and no other.
        await CliOkAsync(nodes[0], k2, k1);
        await WaitKeysAsync(cluster, http, (primary, _) => primary == KeyId(k2), "node-1's promotion to be seen", node => node == "node-1");
        (code, output) = await KeysAsync(nodes[1], k2);
        Assert.True(code != 0, $"dropping a key another member encrypts with was accepted: {output}");
        Assert.Contains("node-3", output, StringComparison.Ordinal);
        Assert.DoesNotContain("node-1", output, StringComparison.Ordinal);
        foreach (var node in nodes.Skip(1))
        {
            await CliOkAsync(node, k2, k1);
        }

        await WaitKeysAsync(cluster, http, (primary, _) => primary == KeyId(k2), "every member to encrypt with the new key");

        // 3. Drop the old key everywhere.
        foreach (var node in nodes)
        {
            await CliOkAsync(node, k2);
        }

        await WaitKeysAsync(cluster, http, (primary, accepted) => primary == KeyId(k2) && accepted.Count == 1, "every member to hold the new key only");

        // A cut-off member is declared unreachable after a few missed probe rounds (about 3 s): watch a while longer.
        await Task.Delay(TimeSpan.FromSeconds(5));
        await stop.CancelAsync();
        await monitor;
        Assert.True(lost.IsEmpty, "members lost during the rotation:\n" + string.Join("\n", lost.Take(20)) + "\n" + cluster.Logs());

        var list = await DaemonCluster.CliAsync("keys", "--api", nodes[2].Api);
        Assert.Contains(KeyId(k2), list, StringComparison.Ordinal);
        Assert.DoesNotContain(KeyId(k1), list, StringComparison.Ordinal);

        // --force applies a step that cuts members off, warning with their names (the watch is over: it does cut them off).
        var k3 = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        (code, output) = await KeysAsync(nodes[0], "--force", k3);
        Assert.True(code == 0, output);
        Assert.Contains("warning: node-2 does not accept key " + KeyId(k3), output, StringComparison.Ordinal);
        Assert.Contains("warning: node-3 encrypts with key " + KeyId(k2), output, StringComparison.Ordinal);

        async Task MonitorAsync(CancellationToken cancellationToken)
        {
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            while (!cancellationToken.IsCancellationRequested)
            {
                foreach (var node in nodes)
                {
                    try
                    {
                        using var doc = JsonDocument.Parse(await client.GetStringAsync($"http://{node.Api}/v1/members", cancellationToken));
                        foreach (var m in doc.RootElement.GetProperty("members").EnumerateArray())
                        {
                            if (m.GetProperty("state").GetString() != "alive")
                            {
                                lost.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {node.Name} sees {m.GetProperty("name").GetString()} {m.GetProperty("state").GetString()}");
                            }
                        }
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (HttpRequestException e)
                    {
                        lost.Enqueue($"{node.Name}: admin API failed: {e.Message}");
                    }
                }

                try
                {
                    await Task.Delay(100, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static async Task<int> AliveAsync(DaemonCluster.Daemon node) =>
        (await DaemonCluster.MembersAsync(node)).Values.Count(s => s == "alive");

    private static Task<(int ExitCode, string Output)> KeysAsync(DaemonCluster.Daemon node, params string[] keys) =>
        Host.Tests.Support.LashupProcess.RunAsync(Timeout, ["keys", "--api", node.Api, .. keys]);

    private static async Task CliOkAsync(DaemonCluster.Daemon node, params string[] keys)
    {
        var (code, output) = await KeysAsync(node, keys);
        Assert.True(code == 0, $"lashup keys on {node.Name} exited {code}: {output}");
    }

    /// <summary>
    /// Waits until every node sees, in its member graph, every member (those <paramref name="which"/> selects) meet
    /// <paramref name="condition"/> on the key ids it publishes (primary, all accepted).
    /// </summary>
    private static async Task WaitKeysAsync(
        DaemonCluster cluster,
        HttpClient http,
        Func<string?, List<string>, bool> condition,
        string what,
        Func<string, bool>? which = null)
    {
        var ok = await cluster.WaitAsync(
            async () =>
            {
                foreach (var node in cluster.Nodes)
                {
                    using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://{node.Api}/v1/keys"));
                    foreach (var m in doc.RootElement.GetProperty("members").EnumerateArray())
                    {
                        var name = m.GetProperty("name").GetString()!;
                        if (which is not null && !which(name))
                        {
                            continue;
                        }

                        var ids = m.GetProperty("key_ids");
                        var accepted = ids.ValueKind == JsonValueKind.Array ? ids.EnumerateArray().Select(e => e.GetString()!).ToList() : [];
                        var primary = accepted.FirstOrDefault();
                        if (!condition(primary, accepted))
                        {
                            return false;
                        }
                    }
                }

                return true;
            },
            Timeout);
        Assert.True(ok, $"timed out waiting for {what}:\n" + cluster.Logs());
    }
}
