using System.Net;
using ARSoft.Tools.Net;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Protocol;

public class DnsReverseNameTests
{
    [Theory]
    [InlineData("10.0.2.15", "15.2.0.10.in-addr.arpa")]
    [InlineData("0.0.0.0", "0.0.0.0.in-addr.arpa")]
    [InlineData("255.255.255.255", "255.255.255.255.in-addr.arpa")]
    [InlineData("2001:db8::567:89ab", "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    [InlineData("::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa")]
    public void ToText_Address_IsTheReverseName(string address, string expected)
    {
        var ip = IPAddress.Parse(address);

        Assert.Equal(expected, DnsReverseName.ToText(ip));
        Assert.Equal(expected + ".", ip.GetReverseLookupDomain().ToString());
        Assert.True(DnsReverseName.TryParse(expected, out var parsed));
        Assert.Equal(ip, parsed);
    }

    [Theory]
    [InlineData("15.2.0.10.IN-ADDR.ARPA", "10.0.2.15")]
    [InlineData("B.A.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.Ip6.Arpa.", "2001:db8::567:89ab")]
    public void TryParse_AnyCase_ReadsTheAddress(string name, string expected)
    {
        Assert.True(DnsReverseName.TryParse(name, out var address));
        Assert.Equal(IPAddress.Parse(expected), address);
    }

    [Theory]
    [InlineData("2.0.10.in-addr.arpa")]
    [InlineData("1.15.2.0.10.in-addr.arpa")]
    [InlineData("256.2.0.10.in-addr.arpa")]
    [InlineData("015.2.0.10.in-addr.arpa")]
    [InlineData("x.2.0.10.in-addr.arpa")]
    [InlineData("15.2.0.10.in-addr.arpa.example")]
    [InlineData("in-addr.arpa")]
    [InlineData("web.lashup.directory")]
    [InlineData("g.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    [InlineData("a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    [InlineData("ba.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")]
    public void TryParse_NotAFullReverseName_ReturnsFalse(string name)
    {
        Assert.False(DnsReverseName.TryParse(name, out _));
    }

    [Fact]
    public void TryWrite_SmallDestination_ReturnsFalse()
    {
        Assert.False(DnsReverseName.TryWrite(IPAddress.Loopback, new byte[10], out _));
        Assert.False(DnsReverseName.TryWrite(IPAddress.IPv6Loopback, new byte[50], out _));
    }
}
