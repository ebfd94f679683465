using System.Globalization;
using Lashup.Abstractions.Dns;
using Microsoft.Extensions.Options;
using NSubstitute;

namespace StaticRecords.Tests;

public sealed class StaticRecordSourceTests
{
    private static readonly StaticRecordSource Source = new(Options.Create(new StaticRecordsOptions
    {
        DefaultTtl = 60,
        Records =
        [
            new() { Name = "db.lashup.directory", Type = "A", Address = "10.0.0.5", Ttl = 30 },
            new() { Name = "db.lashup.directory", Type = "A", Address = "10.0.0.6" },
            new() { Name = "db.lashup.directory", Type = "AAAA", Address = "fd00::5" },
            new() { Name = "db.lashup.directory", Type = "TXT", Text = "owner=team-data" },
            new() { Name = "_pg._tcp.db.lashup.directory", Type = "SRV", Target = "db.lashup.directory", Port = 5432, Priority = 10, Weight = 5 },
            new() { Name = "WWW.Lashup.Directory.", Type = "cname", Target = "Web.Lashup.Directory." },
        ],
    }));

    [Theory]
    [InlineData("db.lashup.directory", DnsRecordType.A, "db.lashup.directory 30 A 10.0.0.5", "db.lashup.directory 60 A 10.0.0.6")]
    [InlineData("db.lashup.directory", DnsRecordType.AAAA, "db.lashup.directory 60 AAAA fd00::5")]
    [InlineData("db.lashup.directory", DnsRecordType.TXT, "db.lashup.directory 60 TXT \"owner=team-data\"")]
    [InlineData("_pg._tcp.db.lashup.directory", DnsRecordType.SRV, "_pg._tcp.db.lashup.directory 60 SRV 10 5 5432 db.lashup.directory")]
    [InlineData("www.lashup.directory", DnsRecordType.CNAME, "www.lashup.directory 60 CNAME web.lashup.directory")]
    public void Lookup_EachRecordKind_ReturnsTheRecordsOfThatType(string name, DnsRecordType type, params string[] expected)
    {
        var lookup = Source.Lookup(name, type);

        Assert.True(lookup.Known);
        Assert.Equal(expected, lookup.Records.Select(Show));
    }

    [Theory]
    [InlineData("db.lashup.directory", DnsRecordType.SRV)]
    [InlineData("db.lashup.directory", DnsRecordType.CNAME)]
    [InlineData("db.lashup.directory", DnsRecordType.PTR)]
    [InlineData("_pg._tcp.db.lashup.directory", DnsRecordType.A)]
    [InlineData("_pg._tcp.db.lashup.directory", DnsRecordType.TXT)]
    public void Lookup_NameExistsWithOtherTypesOnly_ReturnsNoData(string name, DnsRecordType type)
    {
        var lookup = Source.Lookup(name, type);

        Assert.True(lookup.Known);
        Assert.Empty(lookup.Records);
    }

    [Theory]
    [InlineData("nope.lashup.directory")]
    [InlineData("lashup.directory")]
    [InlineData("x.db.lashup.directory")]
    [InlineData("db.lashup.director")]
    [InlineData("web.lashup.directory")]
    [InlineData("")]
    public void Lookup_NameNotConfigured_ReturnsUnknown(string name)
    {
        Assert.Equal(DnsLookup.Unknown, Source.Lookup(name, DnsRecordType.A));
        Assert.False(Source.Lookup(name, DnsRecordType.ANY).Known);
    }

    [Theory]
    [InlineData("DB.LASHUP.DIRECTORY")]
    [InlineData("Db.Lashup.Directory")]
    [InlineData("db.lashup.directory.")]
    [InlineData("DB.lashup.DIRECTORY.")]
    public void Lookup_OtherCaseOrTrailingDot_FindsTheName(string name)
    {
        var lookup = Source.Lookup(name, DnsRecordType.A);

        Assert.Equal(["10.0.0.5", "10.0.0.6"], lookup.Records.Select(r => r.Address!.ToString()));
    }

    [Fact]
    public void Lookup_ConfiguredInOtherCaseWithTrailingDot_IsStoredNormalised()
    {
        var record = Assert.Single(Source.Lookup("www.lashup.directory", DnsRecordType.CNAME).Records);

        Assert.Equal("www.lashup.directory", record.Name);
        Assert.Equal("web.lashup.directory", record.Target);
    }

    [Fact]
    public void Lookup_Any_ReturnsEveryRecordOfTheNameInConfigurationOrder()
    {
        var lookup = Source.Lookup("db.lashup.directory", DnsRecordType.ANY);

        Assert.True(lookup.Known);
        Assert.Equal(
            ["db.lashup.directory 30 A 10.0.0.5", "db.lashup.directory 60 A 10.0.0.6", "db.lashup.directory 60 AAAA fd00::5", "db.lashup.directory 60 TXT \"owner=team-data\""],
            lookup.Records.Select(Show));
    }

    [Theory]
    [InlineData(DnsRecordType.A)]
    [InlineData(DnsRecordType.AAAA)]
    [InlineData(DnsRecordType.TXT)]
    [InlineData(DnsRecordType.ANY)]
    public void Lookup_AliasAskedForAnotherType_ReturnsItsCname(DnsRecordType type)
    {
        var lookup = Source.Lookup("www.lashup.directory", type);

        Assert.Equal(["www.lashup.directory 60 CNAME web.lashup.directory"], lookup.Records.Select(Show));
    }

    [Fact]
    public void Lookup_Repeated_AllocatesNothing()
    {
        Source.Lookup("DB.lashup.directory.", DnsRecordType.A);
        Source.Lookup("nope.lashup.directory", DnsRecordType.A);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Source.Lookup("DB.lashup.directory.", DnsRecordType.A);
            Source.Lookup("db.lashup.directory", DnsRecordType.SRV);
            Source.Lookup("nope.lashup.directory", DnsRecordType.A);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Properties_FromOptions_NameOrderAndCount()
    {
        var source = new StaticRecordSource(Options.Create(new StaticRecordsOptions { Order = 250 }));

        Assert.Equal("static-records", source.Name);
        Assert.Equal(250, source.Order);
        Assert.Equal(0, source.Count);
        Assert.Equal(100, new StaticRecordsOptions().Order);
        Assert.Equal(6, Source.Count);
    }

    [Fact]
    public void Changed_StaticRecords_IsNeverRaised()
    {
        var source = new StaticRecordSource(Options.Create(new StaticRecordsOptions
        {
            Records = [new() { Name = "db.lashup.directory", Type = "A", Address = "10.0.0.5" }],
        }));
        var handler = Substitute.For<EventHandler>();

        source.Changed += handler;
        source.Lookup("db.lashup.directory", DnsRecordType.A);
        source.Changed -= handler;

        handler.DidNotReceiveWithAnyArgs().Invoke(default, default!);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsWithEveryProblem()
    {
        var options = Options.Create(new StaticRecordsOptions
        {
            Records = [new() { Name = "db.lashup.directory", Type = "A" }, new() { Name = "x", Type = "MX" }],
        });

        var e = Assert.Throws<ArgumentException>(() => new StaticRecordSource(options));

        Assert.StartsWith(
            "invalid static records: records[0].address: required for an A record; records[1].type: unknown record type \"MX\"; use one of A, AAAA, CNAME, SRV, TXT",
            e.Message,
            StringComparison.Ordinal);
    }

    private static string Show(DnsRecord r)
    {
        var data = r.Type switch
        {
            DnsRecordType.A or DnsRecordType.AAAA => r.Address!.ToString(),
            DnsRecordType.SRV => string.Create(CultureInfo.InvariantCulture, $"{r.Priority} {r.Weight} {r.Port} {r.Target}"),
            DnsRecordType.TXT => $"\"{r.Text}\"",
            _ => r.Target,
        };
        return string.Create(CultureInfo.InvariantCulture, $"{r.Name} {r.Ttl} {r.Type} {data}");
    }
}
