using System.Net;
using Lashup.Abstractions.Dns;

namespace Lashup.Testing.Tests.Dns;

public sealed class DnsRecordTests
{
    [Theory]
    [InlineData("10.0.0.5", DnsRecordType.A)]
    [InlineData("127.0.0.1", DnsRecordType.A)]
    [InlineData("0.0.0.0", DnsRecordType.A)]
    [InlineData("fd00::5", DnsRecordType.AAAA)]
    [InlineData("::1", DnsRecordType.AAAA)]
    [InlineData("::ffff:10.0.0.5", DnsRecordType.AAAA)]
    public void ForAddress_AddressFamily_ChoosesAOrAaaa(string address, DnsRecordType expected)
    {
        var ip = IPAddress.Parse(address);

        var record = DnsRecord.ForAddress("web.lashup.directory", ip);

        Assert.Equal(expected, record.Type);
        Assert.Equal("web.lashup.directory", record.Name);
        Assert.Same(ip, record.Address);
        Assert.Equal(5u, record.Ttl);
        Assert.Null(record.Target);
        Assert.Null(record.Text);
    }

    [Fact]
    public void ForAddress_Ttl_IsKept()
    {
        Assert.Equal(30u, DnsRecord.ForAddress("web.lashup.directory", IPAddress.Loopback, ttl: 30).Ttl);
    }

    [Fact]
    public void ForService_Defaults_PriorityZeroWeightOne()
    {
        var record = DnsRecord.ForService("_http._tcp.web.lashup.directory", "web.lashup.directory", 8080);

        Assert.Equal(
            (DnsRecordType.SRV, "web.lashup.directory", (ushort)8080, (ushort)0, (ushort)1, 5u),
            (record.Type, record.Target, record.Port, record.Priority, record.Weight, record.Ttl));
    }
}
