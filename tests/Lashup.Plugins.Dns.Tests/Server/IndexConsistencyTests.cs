using System.Net;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Server;
using Lashup.Plugins.Dns.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using DnsRecordType = Lashup.Abstractions.Dns.DnsRecordType;

namespace Lashup.Plugins.Dns.Tests.Server;

public sealed class IndexConsistencyTests
{
    private static readonly string[] Zones = ["lashup.directory"];

    private static IEnumerable<IndexedRecord> Service(int generation) => ClusterRecords.ForService("web",
        [.. Enumerable.Range(1, 3).Select(i => new ServiceInstance("web", $"i{i}", IPAddress.Parse($"10.0.{generation % 200}.{i}"), "n", [ServicePort.Parse("http:80/tcp")]))],
        _ => true, Zones);

    [Fact]
    public async Task SetOwner_ServiceChangesWhileRead_ItsNameNeverLooksEmptyOrMissing()
    {
        var index = new RecordIndex(Zones, new ZoneSettings(5, 5, 1));
        index.SetOwner("svc", Service(0));
        var web = DnsName.FromText("web.lashup.directory");
        var tcp = DnsName.FromText("_tcp.web.lashup.directory");
        var bad = 0;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (index.Find(web)?.Find(DnsRecordType.A) is null || index.Find(tcp) is null)
                {
                    Interlocked.Increment(ref bad);
                }
            }
        });

        for (var generation = 1; generation <= 2000; generation++)
        {
            index.SetOwner("svc", Service(generation));
        }

        await stop.CancelAsync();
        await reader.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, bad);
    }

    [Fact]
    public void SetOwner_RecordWhoseNameCannotBeEncoded_IsSkipped_TheRestIndexed()
    {
        var index = new RecordIndex(Zones, new ZoneSettings(5, 5, 1));
        var tooLong = new string('a', 64);

        index.SetOwner("svc",
        [
            IndexedRecord.ForAddress("web.lashup.directory", IPAddress.Parse("10.0.0.1")),
            new IndexedRecord($"_{tooLong}._tcp.web.lashup.directory", DnsRecordType.SRV, Target: "i.web.lashup.directory", Port: 80),
            new IndexedRecord("_80._tcp.web.lashup.directory", DnsRecordType.SRV, Target: $"{tooLong}.web.lashup.directory", Port: 80),
        ]);

        Assert.NotNull(index.Find(DnsName.FromText("web.lashup.directory"))?.Find(DnsRecordType.A));
        Assert.Null(index.Find(DnsName.FromText("_80._tcp.web.lashup.directory")));
        Assert.Equal(1, index.RecordCount);
    }

    [Fact]
    public void Answer_BeforeTheIndexIsLoaded_MissingNameInZoneIsServFail_ThenNxDomain()
    {
        var index = new RecordIndex(Zones, new ZoneSettings(5, 5, 1));
        var engine = new QueryEngine(index, Zones, [], new DnsStats(), 1232, NullLogger<QueryEngine>.Instance);
        var packet = Packets.Concat(Packets.Header(), Packets.Name("web.lashup.directory"), Packets.TypeClass());
        var response = new byte[DnsResponseWriter.MaxMessageSize];

        engine.Answer(packet, response, overTcp: false, recursionAvailable: false, out _, out var before);
        var early = DecodedMessage.Decode(response.AsSpan(0, before)).Header.ResponseCode;
        index.IsLoaded = true;
        engine.Answer(packet, response, overTcp: false, recursionAvailable: false, out _, out var after);

        Assert.Equal(DnsResponseCode.ServerFailure, early);
        Assert.Equal(DnsResponseCode.NxDomain, DecodedMessage.Decode(response.AsSpan(0, after)).Header.ResponseCode);
    }

    [Fact]
    public void Answer_SourceKnowsTheNameButItsRecordsCannotBeWritten_ServFail()
    {
        var index = new RecordIndex(Zones, new ZoneSettings(5, 5, 1)) { IsLoaded = true };
        var source = Substitute.For<IDnsRecordSource>();
        source.Lookup(Arg.Any<string>(), Arg.Any<DnsRecordType>()).Returns(new DnsLookup(true, null!));
        var stats = new DnsStats();
        var engine = new QueryEngine(index, Zones, [source], stats, 1232, NullLogger<QueryEngine>.Instance);
        var packet = Packets.Concat(Packets.Header(), Packets.Name("db.lashup.directory"), Packets.TypeClass());
        var response = new byte[DnsResponseWriter.MaxMessageSize];
        var broken = Substitute.For<IDnsRecordSource>();
        broken.Lookup(Arg.Any<string>(), Arg.Any<DnsRecordType>()).Returns(DnsLookup.Found([new DnsRecord { Name = "db.lashup.directory", Type = DnsRecordType.A }]));
        var engine2 = new QueryEngine(index, Zones, [broken], stats, 1232, NullLogger<QueryEngine>.Instance);

        engine.Answer(packet, response, overTcp: false, recursionAvailable: false, out _, out var nullList);
        var first = DecodedMessage.Decode(response.AsSpan(0, nullList)).Header.ResponseCode;
        engine2.Answer(packet, response, overTcp: false, recursionAvailable: false, out _, out var noAddress);

        Assert.Equal(DnsResponseCode.NoError, first); // a null list reads as empty: NODATA
        Assert.Equal(DnsResponseCode.ServerFailure, DecodedMessage.Decode(response.AsSpan(0, noAddress)).Header.ResponseCode);
        Assert.Equal(1, Volatile.Read(ref stats.SourceErrors));
    }

    [Fact]
    public void Options_ZonesInAnySpelling_AreServedInCanonicalForm()
    {
        var options = new DnsOptions { Zones = ["Cluster.Test.", " lashup.directory"] };

        Assert.Equal(["cluster.test", "lashup.directory"], options.EffectiveZones);
    }
}
