using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Testing;

namespace Lashup.Abstractions.Tests;

public sealed class ServiceCatalogTests
{
    /// <summary>The entry after <paramref name="ops"/>, written to <paramref name="store"/> (a new one by default).</summary>
    private static Task<KvEntry> Apply(KvKey key, IReadOnlyList<CrdtOp> ops, InMemoryReplicatedStore? store = null) =>
        (store ?? new InMemoryReplicatedStore()).UpdateAsync(key, ops).AsTask();

    [Theory]
    [InlineData("80", 80, TransportProtocol.Tcp, null, "80/tcp")]
    [InlineData("53/udp", 53, TransportProtocol.Udp, null, "53/udp")]
    [InlineData("http:8080/TCP", 8080, TransportProtocol.Tcp, "http", "http:8080/tcp")]
    [InlineData(" DNS:53/udp ", 53, TransportProtocol.Udp, "dns", "dns:53/udp")]
    public void ServicePort_Valid_ParsesAndPrintsCanonically(string text, int number, TransportProtocol protocol, string? name, string canonical)
    {
        var port = ServicePort.Parse(text);

        Assert.Equal(new ServicePort((ushort)number, protocol, name), port);
        Assert.Equal(canonical, port.ToString());
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("0", "1 to 65535")]
    [InlineData("70000", "1 to 65535")]
    [InlineData("80/sctp", "tcp or udp")]
    [InlineData("_http:80", "may only have")]
    [InlineData("x", "1 to 65535")]
    public void ServicePort_Invalid_SaysWhy(string text, string expected)
    {
        Assert.False(ServicePort.TryParse(text, out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("web", true)]
    [InlineData("my-db-2", true)]
    [InlineData("Web", false)]
    [InlineData("-web", false)]
    [InlineData("web.prod", false)]
    [InlineData("node", false)]
    [InlineData("l4lb", false)]
    [InlineData("", false)]
    public void IsValidServiceName_Table(string name, bool valid) => Assert.Equal(valid, ServiceCatalog.IsValidServiceName(name, out _));

    [Fact]
    public void DefaultInstanceName_IsADnsLabel_ForBothFamilies()
    {
        Assert.Equal("10-0-0-5", ServiceCatalog.DefaultInstanceName(IPAddress.Parse("10.0.0.5")));
        var v6 = ServiceCatalog.DefaultInstanceName(IPAddress.Parse("fd00::5"));
        Assert.True(ServiceCatalog.IsValidLabel(v6, out _));
        Assert.Equal(32, v6.Length);
    }

    [Fact]
    public async Task RegisterThenRead_RoundTrips_AndReRegistrationReplacesPorts()
    {
        var key = ServiceCatalog.KeyOf("web");
        var store = new InMemoryReplicatedStore();
        var first = new ServiceInstance("web", "a", IPAddress.Parse("10.0.0.1"), "node-1", [ServicePort.Parse("http:80/tcp"), ServicePort.Parse("53/udp")]);
        var entry = await Apply(key, ServiceCatalog.Register(first), store);
        var second = first with { Address = IPAddress.Parse("10.0.0.2"), Ports = [ServicePort.Parse("443/tcp")] };
        var updated = await Apply(key, ServiceCatalog.Register(second), store);

        Assert.Equal(first.Ports.OrderBy(p => p.ToString()), Assert.Single(ServiceCatalog.Read(entry)).Ports.OrderBy(p => p.ToString()));
        var read = Assert.Single(ServiceCatalog.Read(updated));
        Assert.Equal(IPAddress.Parse("10.0.0.2"), read.Address);
        Assert.Equal(ServicePort.Parse("443/tcp"), Assert.Single(read.Ports));
    }

    [Fact]
    public async Task Deregister_RemovesOnlyThatInstance()
    {
        var key = ServiceCatalog.KeyOf("web");
        var store = new InMemoryReplicatedStore();
        await Apply(key, ServiceCatalog.Register(new ServiceInstance("web", "a", IPAddress.Parse("10.0.0.1"), "n1", [])), store);
        await Apply(key, ServiceCatalog.Register(new ServiceInstance("web", "b", IPAddress.Parse("10.0.0.2"), "n2", [])), store);

        var after = await Apply(key, ServiceCatalog.Deregister("a"), store);

        Assert.Equal("b", Assert.Single(ServiceCatalog.Read(after)).Instance);
    }

    [Fact]
    public async Task Read_MalformedReplicatedData_SkipsIt()
    {
        var key = ServiceCatalog.KeyOf("web");
        var entry = await Apply(key,
        [
            new LwwSet(["instances", "good", "address"], "10.0.0.1"),
            new LwwSet(["instances", "good", "node"], "n1"),
            new ORSetAdd(["instances", "good", "ports"], "not-a-port"),
            new LwwSet(["instances", "noaddr", "node"], "n1"),
            new LwwSet(["instances", "badaddr", "address"], "10.0.0.999"),
            new LwwSet(["instances", "badaddr", "node"], "n1"),
            new LwwSet(["instances", "Bad_Name", "address"], "10.0.0.3"),
            new LwwSet(["instances", "Bad_Name", "node"], "n1"),
            new LwwSet(["instances", "nonode", "address"], "10.0.0.4"),
        ]);

        var read = Assert.Single(ServiceCatalog.Read(entry));
        Assert.Equal("good", read.Instance);
        Assert.Empty(read.Ports);
        Assert.Empty(ServiceCatalog.Read(await Apply(KvKey.Parse("other/web"), [new LwwSet(["instances", "x", "address"], "10.0.0.1")])));
    }

    [Fact]
    public async Task VipNames_SetThenRead_AndMalformedIsNull()
    {
        var entry = await Apply(VipNames.KeyOf("frontend"), VipNames.SetAddress(IPAddress.Parse("11.0.0.7")));
        var bad = await Apply(VipNames.KeyOf("frontend"), [new LwwSet(["address"], "nope")]);

        Assert.Equal(("frontend", IPAddress.Parse("11.0.0.7")), VipNames.Read(entry));
        Assert.Null(VipNames.Read(bad));
        Assert.Throws<ArgumentException>(() => VipNames.KeyOf("Front End"));
    }

    [Fact]
    public void TransportProtocol_OneSpelling_ForServicePortsAndVips()
    {
        Assert.Equal("udp", TransportProtocols.Name(TransportProtocol.Udp));
        Assert.True(TransportProtocols.TryParse("TCP", out var tcp));
        Assert.Equal(TransportProtocol.Tcp, tcp);
        Assert.False(TransportProtocols.TryParse("sctp", out _));
        Assert.Equal(17, (int)TransportProtocol.Udp);
        Assert.Equal("dns:53/udp", new ServicePort(53, TransportProtocol.Udp, "dns").ToString());
        Assert.Equal("udp/11.0.0.1:53", new VipKey(IPAddress.Parse("11.0.0.1"), 53, TransportProtocol.Udp).ToString());
        Assert.Equal("tcp/[fd00::1]:80", new VipKey(IPAddress.Parse("fd00::1"), 80, TransportProtocol.Tcp).ToString());
    }
}
