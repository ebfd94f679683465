using System.Net;
using System.Net.Sockets;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Server;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Dns.Tests.Server;

/// <summary>The server's start and stop when a start fails halfway (the host stops a participant whose start failed).</summary>
public sealed class DnsServerLifecycleTests
{
    [Fact]
    public async Task StopAsync_AfterStartFailedOnTheSecondAddress_ReleasesTheFirstWithoutThrowing()
    {
        var port = FreeUdpAndTcpPort();
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        var server = NewServer([endpoint, endpoint]);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));
        Assert.Contains($"dns.listen: {endpoint} is already in use", failure.Message, StringComparison.Ordinal);

        await server.StopAsync(CancellationToken.None);
        await server.DisposeAsync();

        // The first address's sockets are closed: the port can be bound again.
        using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(endpoint);
        using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcp.Bind(endpoint);
    }

    private static DnsServer NewServer(IReadOnlyList<IPEndPoint> listen)
    {
        string[] zones = ["lashup.directory"];
        var stats = new DnsStats();
        var engine = new QueryEngine(new RecordIndex(zones, new ZoneSettings(5, 5, 1)), zones, [], stats, 1232, NullLogger<QueryEngine>.Instance);
        return new DnsServer(engine, forwarder: null, new ClientAcl([IPNetwork.Parse("127.0.0.0/8")]), stats, latency: null,
            listen, workers: 2, TimeSpan.FromSeconds(5), tcpMaxConnections: 16, NullLogger<DnsServer>.Instance);
    }

    private static int FreeUdpAndTcpPort()
    {
        for (var attempt = 0; ; attempt++)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            try
            {
                using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }
}
