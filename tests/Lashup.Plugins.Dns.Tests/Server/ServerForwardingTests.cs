using System.Diagnostics.Metrics;
using System.Net;
using DnsClient;
using DnsClient.Protocol;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Server;
using Lashup.Plugins.Dns.Tests.Forwarding;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Dns.Tests.Server;

/// <summary>The server with forwarding on: other names go to an upstream started by the test on loopback.</summary>
public sealed class ServerForwardingTests
{
    private static async Task<(UpstreamForwarding Forwarding, Meter Meter)> ForwardingToAsync(IPEndPoint upstream)
    {
        var meter = new Meter("test.forwarding");
        var forwarding = new UpstreamForwarding(new DnsForwarder(
            new ForwarderSettings([upstream]) { Timeout = TimeSpan.FromMilliseconds(500) },
            TimeProvider.System, NullLogger<DnsForwarder>.Instance, meter));
        await forwarding.StartAsync(CancellationToken.None);
        return (forwarding, meter);
    }

    [Fact]
    public async Task OtherName_AllowedClient_ForwardedOverUdpAndTcp_WithRecursionAvailable()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.10"), tcp: true);
        var (forwarding, meter) = await ForwardingToAsync(upstream.EndPoint);
        using var _ = meter;
        await using var s = await TestServer.StartAsync(forwarder: forwarding);
        try
        {
            var udp = await s.QueryAsync("www.example.org", QueryType.A);
            var tcp = await s.QueryAsync("api.example.org", QueryType.A, tcp: true);

            Assert.Equal("192.0.2.10", Assert.Single(udp.Answers.OfType<ARecord>()).Address.ToString());
            Assert.True(udp.Header.RecursionAvailable);
            Assert.Equal("192.0.2.10", Assert.Single(tcp.Answers.OfType<ARecord>()).Address.ToString());
            Assert.True(Volatile.Read(ref s.Stats.Forwarded) >= 2);
        }
        finally
        {
            await forwarding.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task OtherName_ClientOutsideAllowRecursionFrom_RefusedAndNothingForwarded()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.10"));
        var (forwarding, meter) = await ForwardingToAsync(upstream.EndPoint);
        using var _ = meter;
        await using var s = await TestServer.StartAsync(forwarder: forwarding, recursionFrom: "10.0.0.0/8");
        try
        {
            var response = await s.QueryAsync("www.example.org", QueryType.A);

            Assert.Equal(DnsHeaderResponseCode.Refused, response.Header.ResponseCode);
            Assert.False(response.Header.RecursionAvailable);
            Assert.Equal(0, upstream.UdpQueries);
            // Cluster names still answer for everyone.
            Assert.Single((await s.QueryAsync("lashup.directory", QueryType.SOA)).Answers.OfType<SoaRecord>());
        }
        finally
        {
            await forwarding.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task OtherName_UpstreamSilent_ServFailWithinTheTimeout()
    {
        await using var upstream = new FakeUpstream(_ => UpstreamReply.Silent);
        var (forwarding, meter) = await ForwardingToAsync(upstream.EndPoint);
        using var _ = meter;
        await using var s = await TestServer.StartAsync(forwarder: forwarding);
        try
        {
            // The client waits 3 s; the forwarder gives up after 0.5 s and says so.
            var response = await s.QueryAsync("www.example.org", QueryType.A);

            Assert.Equal(DnsHeaderResponseCode.ServerFailure, response.Header.ResponseCode);
        }
        finally
        {
            await forwarding.StopAsync(CancellationToken.None);
        }
    }
}
