using System.Net;
using Lashup.Abstractions.Networking;
using Lashup.Plugins.LoadBalancer.Userspace.Proxy;

namespace Lashup.Plugins.LoadBalancer.Userspace.Tests.Proxy;

/// <summary>Which failed connects eject a backend: its own faults, not this host's shortages.</summary>
public sealed class ConnectErrorTests
{
    [Theory]
    [InlineData(Native.ECONNREFUSED, true)]
    [InlineData(Native.EHOSTUNREACH, true)]
    [InlineData(Native.ENETUNREACH, true)]
    [InlineData(Native.ETIMEDOUT, true)]
    [InlineData(Native.EMFILE, false)]
    [InlineData(Native.ENFILE, false)]
    [InlineData(99, false)]   // EADDRNOTAVAIL: out of local ports
    [InlineData(Native.EAGAIN, false)]
    [InlineData(Native.ENOBUFS, false)]
    public void IsBackendFault_OnlyTheBackendsOwn(int errno, bool fault) => Assert.Equal(fault, Native.IsBackendFault(errno));

    [Fact]
    public async Task LocalConnectError_DoesNotEjectTheBackend()
    {
        // A link-local backend without a scope: connect fails at once with EINVAL, an error of this host's making.
        var odd = new IPEndPoint(IPAddress.Parse("fe80::1"), 80);
        using var good = new TestTcpServer("good");
        await using var proxy = new ProxyHarness();
        var vip = await proxy.AddVipAsync(TransportProtocol.Tcp, (odd, 1000), (good.Endpoint, 1));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("good", await TestClient.WhoAsync(vip));
        }

        Assert.True(proxy.Stats.Sum(c => c.LocalConnectErrors) >= 1);
        Assert.Equal(0, proxy.Stats.Sum(c => c.ConnectFailures));
        Assert.Null(proxy.StatusOf(vip, odd).Reason);
    }
}
