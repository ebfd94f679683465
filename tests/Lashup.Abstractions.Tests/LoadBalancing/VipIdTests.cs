using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Abstractions.Tests.LoadBalancing;

public sealed class VipIdTests
{
    [Theory]
    [InlineData("10.0.0.1:80", "tcp/10.0.0.1:80", "10.0.0.1:80/tcp")]
    [InlineData("10.0.0.1:53/udp", "udp/10.0.0.1:53", "10.0.0.1:53/udp")]
    [InlineData(" 10.0.0.1:80/TCP ", "tcp/10.0.0.1:80", "10.0.0.1:80/tcp")]
    [InlineData("[fd00::1]:443", "tcp/[fd00::1]:443", "[fd00::1]:443/tcp")]
    [InlineData("[::ffff:10.0.0.1]:80", "tcp/10.0.0.1:80", "10.0.0.1:80/tcp")]
    [InlineData("web:80", "tcp/web:80", "web:80/tcp")]
    [InlineData("Web-2:8080/udp", "udp/web-2:8080", "web-2:8080/udp")]
    public void TryParse_Valid_KeyTextAndDisplay(string text, string keyText, string display)
    {
        Assert.True(VipId.TryParse(text, out var vip, out var error), error);
        Assert.Equal(keyText, vip.ToString());
        Assert.Equal(display, vip.Display);
        Assert.True(VipId.TryParseKeyText(keyText, out var again));
        Assert.Equal(vip, again);
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("10.0.0.1", "is not ADDR:PORT")]
    [InlineData("10.0.0.1:0", "1 to 65535")]
    [InlineData("10.0.0.1:65536", "1 to 65535")]
    [InlineData("10.0.0.1:80/sctp", "unknown protocol \"sctp\"")]
    [InlineData("10.0.0:80", "is not an IP address")]
    [InlineData("300.0.0.1:80", "is not an IP address")]
    [InlineData("fd00::1:80", "is not ADDR:PORT")]
    [InlineData("0.0.0.0:80", "unspecified")]
    [InlineData("224.0.0.1:80", "multicast")]
    [InlineData("web_1:80", "may only have")]
    [InlineData("-web:80", "must not start or end")]
    [InlineData("[fe80::1%2]:80", "is not an IP address")]
    public void TryParse_Invalid_SaysWhy(string text, string expected)
    {
        Assert.False(VipId.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.5:8080", true)]
    [InlineData("[fd00::5]:8080", true)]
    [InlineData("10.0.0.5", false)]
    [InlineData("10.0.0.5:0", false)]
    [InlineData("web:80", false)]
    [InlineData("1:80", false)]
    [InlineData("255.255.255.255:80", false)]
    public void TryParseEndpoint_Table(string text, bool valid)
    {
        Assert.Equal(valid, VipId.TryParseEndpoint(text, out var endpoint, out var error));
        if (valid)
        {
            Assert.Equal(text, VipId.FormatEndpoint(endpoint!));
        }
        else
        {
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void ToKey_NamedNeedsAnAddress_AddressVipHasItsOwn()
    {
        var named = VipId.ForName("web", 80, TransportProtocol.Tcp);
        var address = VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Udp);

        Assert.Equal(new VipKey(IPAddress.Parse("10.200.0.9"), 80, TransportProtocol.Tcp), named.ToKey(IPAddress.Parse("10.200.0.9")));
        Assert.Throws<ArgumentNullException>(() => named.ToKey());
        Assert.Equal(new VipKey(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Udp), address.ToKey());
        Assert.Throws<ArgumentException>(() => VipId.ForName("web", 0, TransportProtocol.Tcp));
    }
}
