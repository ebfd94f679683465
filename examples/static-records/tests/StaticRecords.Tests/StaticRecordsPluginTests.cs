using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Plugins;
using Lashup.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;

namespace StaticRecords.Tests;

public sealed class StaticRecordsPluginTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["dns:sources:0"] = "static-records",
        ["dns:static-records:order"] = "150",
        ["dns:static-records:default_ttl"] = "15",
        ["dns:static-records:records:0:name"] = "db.lashup.directory",
        ["dns:static-records:records:0:type"] = "A",
        ["dns:static-records:records:0:address"] = "10.0.0.5",
        ["dns:static-records:records:1:name"] = "_pg._tcp.db.lashup.directory",
        ["dns:static-records:records:1:type"] = "SRV",
        ["dns:static-records:records:1:target"] = "db.lashup.directory",
        ["dns:static-records:records:1:port"] = "5432",
        ["dns:static-records:records:1:ttl"] = "300",
    };

    [Fact]
    public void ConfigureServices_InMemoryConfiguration_RegistersADnsRecordSourceBoundToItsSection()
    {
        var host = new PluginTestHost(Capabilities.DnsSources, "static-records", Settings);

        host.Configure(new StaticRecordsPlugin());
        using var services = host.Start();

        Assert.Contains(host.Services, d => d.ServiceType == typeof(IDnsRecordSource) && d.ImplementationType == typeof(StaticRecordSource));
        Assert.Equal([new DeclaredOptions("dns:static-records", typeof(StaticRecordsOptions))], host.DeclaredOptions);
        var source = Assert.Single(services.GetServices<IDnsRecordSource>());
        Assert.Equal(150, source.Order);
        var a = Assert.Single(source.Lookup("db.lashup.directory", DnsRecordType.A).Records);
        Assert.Equal(("10.0.0.5", 15u), (a.Address!.ToString(), a.Ttl));
        var srv = Assert.Single(source.Lookup("_pg._tcp.db.lashup.directory", DnsRecordType.SRV).Records);
        Assert.Equal(("db.lashup.directory", (ushort)5432, 300u, (ushort)0, (ushort)1), (srv.Target, srv.Port, srv.Ttl, srv.Priority, srv.Weight));
    }

    [Fact]
    public void ConfigureServices_AnotherSourceAlreadyRegistered_AddsAlongsideIt()
    {
        var host = new PluginTestHost(Capabilities.DnsSources, "static-records", Settings);
        var other = Substitute.For<IDnsRecordSource>();
        host.Services.AddSingleton(other);

        host.Configure(new StaticRecordsPlugin());
        using var services = host.Start();

        var sources = services.GetServices<IDnsRecordSource>().ToList();
        Assert.Equal(2, sources.Count);
        Assert.Same(other, sources[0]);
        Assert.IsType<StaticRecordSource>(sources[1]);
    }

    [Fact]
    public void ConfigureServices_NoSection_ServesNothing()
    {
        var host = new PluginTestHost(Capabilities.DnsSources, "static-records");

        using var services = host.Configure(new StaticRecordsPlugin()).Start();

        var source = services.GetRequiredService<IDnsRecordSource>();
        Assert.Equal(100, source.Order);
        Assert.False(source.Lookup("db.lashup.directory", DnsRecordType.ANY).Known);
    }

    [Fact]
    public void ConfigureServices_HandBuiltContext_ReadsOnlyItsOwnSection()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(Settings).Build().GetSection("dns:static-records");
        var root = Substitute.For<IConfiguration>();
        var declared = new List<(string, Type)>();
        var context = new PluginContext(
            Capabilities.DnsSources, "static-records", section, root, new NodeInfo("node-1", "lashup", "/tmp/lashup"), "/opt/lashup/plugins/StaticRecords",
            (path, type) => declared.Add((path, type)));
        var services = new ServiceCollection();

        new StaticRecordsPlugin().ConfigureServices(context, services);
        using var provider = services.BuildServiceProvider();
        var source = provider.GetRequiredService<IDnsRecordSource>();

        Assert.True(source.Lookup("db.lashup.directory", DnsRecordType.A).Known);
        Assert.Equal([("dns:static-records", typeof(StaticRecordsOptions))], declared);
        Assert.Empty(root.ReceivedCalls());
    }
}
