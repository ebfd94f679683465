using System.Net;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>
/// <c>lashup service</c> against a real daemon that runs the core only (no <c>[dns]</c> section): the service catalog
/// belongs to the core, so registrations work whichever data-plane plugins are on.
/// </summary>
[Collection(DaemonCollection.Name)]
public sealed class ServiceDaemonTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ServiceCommands_RegisterListDeregister_WithoutDnsPlugin()
    {
        using var cluster = new DaemonCluster();
        var node = cluster.Add();
        cluster.StartAll();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        Assert.True(await cluster.WaitAsync(async () => await ReadyAsync(http, node), Timeout), cluster.Logs());

        var registered = await DaemonCluster.CliAsync("service", "register", "web", "--address", "10.0.0.5", "--port", "http:80/tcp", "--port", "53/udp", "--api", node.Api);
        Assert.Contains("10-0-0-5", registered, StringComparison.Ordinal);
        Assert.Contains("http:80/tcp", registered, StringComparison.Ordinal);
        Assert.Contains("53/udp", registered, StringComparison.Ordinal);
        Assert.Contains("node-1", registered, StringComparison.Ordinal);

        // Into the replicated store, where every node's DNS (and the load balancer) reads it.
        Assert.Contains("10.0.0.5", await http.GetStringAsync($"http://{node.Api}/v1/kv/services/web"), StringComparison.Ordinal);
        Assert.Contains("10-0-0-5", await DaemonCluster.CliAsync("service", "list", "--api", node.Api), StringComparison.Ordinal);
        Assert.Contains("\"name\":\"web\"", await DaemonCluster.CliAsync("service", "list", "web", "--json", "--api", node.Api), StringComparison.Ordinal);

        var (code, output) = await LashupProcess.RunAsync(Timeout, "service", "register", "node", "--address", "10.0.0.5", "--api", node.Api);
        Assert.Equal(1, code);
        Assert.Contains("the daemon answered 400: service name \"node\" is reserved", output, StringComparison.Ordinal);

        await DaemonCluster.CliAsync("service", "deregister", "web", "10-0-0-5", "--api", node.Api);
        Assert.Contains("no services", await DaemonCluster.CliAsync("service", "list", "--api", node.Api), StringComparison.Ordinal);
        (code, output) = await LashupProcess.RunAsync(Timeout, "service", "deregister", "web", "10-0-0-5", "--api", node.Api);
        Assert.Equal(1, code);
        Assert.Contains("the daemon answered 404: service \"web\" has no instance \"10-0-0-5\"", output, StringComparison.Ordinal);
    }

    private static async Task<bool> ReadyAsync(HttpClient http, DaemonCluster.Daemon node)
    {
        try
        {
            return (await http.GetAsync($"http://{node.Api}/ready")).StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
