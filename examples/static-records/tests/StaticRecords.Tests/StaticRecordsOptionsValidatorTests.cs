using Lashup.Abstractions.Plugins;
using Lashup.Testing;
using Microsoft.Extensions.Options;

namespace StaticRecords.Tests;

/// <summary>
/// The options as an operator would get them wrong, bound from configuration and validated as at the host's start;
/// the exact messages are asserted. Settings are <c>key=value</c> under <c>[dns.static-records]</c>.
/// </summary>
public sealed class StaticRecordsOptionsValidatorTests
{
    private const string ValidName = "records:0:name=db.lashup.directory";
    private const string NameRule = "(labels of 1-63 letters, digits, '-' or '_' separated by dots, at most 253 characters)";

    [Theory]
    [InlineData("records[0].type: unknown record type \"MX\"; use one of A, AAAA, CNAME, SRV, TXT", ValidName, "records:0:type=MX")]
    [InlineData("records[0].type: required; use one of A, AAAA, CNAME, SRV, TXT", ValidName, "records:0:address=10.0.0.5")]
    [InlineData("records[0].name: required", "records:0:type=A", "records:0:address=10.0.0.5")]
    [InlineData("records[0].name: \"bad name!\" is not a valid DNS name " + NameRule, "records:0:name=bad name!", "records:0:type=A", "records:0:address=10.0.0.5")]
    [InlineData("records[0].name: \"db..lashup\" is not a valid DNS name " + NameRule, "records:0:name=db..lashup", "records:0:type=A", "records:0:address=10.0.0.5")]
    [InlineData("records[0].name: \".\" is not a valid DNS name " + NameRule, "records:0:name=.", "records:0:type=A", "records:0:address=10.0.0.5")]
    [InlineData("records[0].address: required for an A record", ValidName, "records:0:type=A")]
    [InlineData("records[0].address: required for an AAAA record", ValidName, "records:0:type=AAAA")]
    [InlineData("records[0].address: \"fd00::5\" is an IPv6 address; an A record needs an IPv4 address (use type = \"AAAA\")", ValidName, "records:0:type=A", "records:0:address=fd00::5")]
    [InlineData("records[0].address: \"10.0.0.5\" is an IPv4 address; an AAAA record needs an IPv6 address (use type = \"A\")", ValidName, "records:0:type=AAAA", "records:0:address=10.0.0.5")]
    [InlineData("records[0].address: \"10.0.0.300\" is not an IP address", ValidName, "records:0:type=A", "records:0:address=10.0.0.300")]
    [InlineData("records[0].address: \"10.5\" is not an IP address", ValidName, "records:0:type=A", "records:0:address=10.5")]
    [InlineData("records[0].ttl: must be between 0 and 86400 seconds, got 86401", ValidName, "records:0:type=A", "records:0:address=10.0.0.5", "records:0:ttl=86401")]
    [InlineData("records[0].ttl: must be between 0 and 86400 seconds, got -1", ValidName, "records:0:type=A", "records:0:address=10.0.0.5", "records:0:ttl=-1")]
    [InlineData("default_ttl: must be between 0 and 86400 seconds, got -5", "default_ttl=-5")]
    [InlineData("records[0].target: required for a CNAME record", ValidName, "records:0:type=CNAME")]
    [InlineData("records[0].target: \"web lashup\" is not a valid DNS name " + NameRule, ValidName, "records:0:type=CNAME", "records:0:target=web lashup")]
    [InlineData("records[0].port: required for an SRV record", ValidName, "records:0:type=SRV", "records:0:target=db.lashup.directory")]
    [InlineData("records[0].port: must be between 1 and 65535, got 70000", ValidName, "records:0:type=SRV", "records:0:target=db", "records:0:port=70000")]
    [InlineData("records[0].weight: must be between 0 and 65535, got -1", ValidName, "records:0:type=SRV", "records:0:target=db", "records:0:port=5432", "records:0:weight=-1")]
    [InlineData("records[0].target: required for an SRV record", ValidName, "records:0:type=SRV", "records:0:port=5432")]
    [InlineData("records[0].text: required for a TXT record", ValidName, "records:0:type=TXT")]
    [InlineData("records[0].text: not used by an A record", ValidName, "records:0:type=A", "records:0:address=10.0.0.5", "records:0:text=hi")]
    [InlineData("records[0].address: not used by a CNAME record", ValidName, "records:0:type=CNAME", "records:0:target=web", "records:0:address=10.0.0.5")]
    [InlineData("records[1]: the same record as records[0]",
        "records:0:name=db.lashup.directory", "records:0:type=A", "records:0:address=10.0.0.5",
        "records:1:name=DB.Lashup.Directory.", "records:1:type=a", "records:1:address=10.0.0.5")]
    [InlineData("records[1]: www.lashup.directory has both a CNAME and other records (records[0]); a CNAME must be the only record of its name",
        "records:0:name=www.lashup.directory", "records:0:type=A", "records:0:address=10.0.0.5",
        "records:1:name=www.lashup.directory", "records:1:type=CNAME", "records:1:target=web.lashup.directory")]
    [InlineData("records[1]: www.lashup.directory has both a CNAME and other records (records[0]); a CNAME must be the only record of its name",
        "records:0:name=www.lashup.directory", "records:0:type=CNAME", "records:0:target=web.lashup.directory",
        "records:1:name=www.lashup.directory", "records:1:type=TXT", "records:1:text=hi")]
    public void Start_InvalidRecords_FailsWithExactMessage(string expected, params string[] settings)
    {
        var host = Host(settings).Configure(new StaticRecordsPlugin());

        var e = Assert.Throws<OptionsValidationException>(() => host.Start());

        Assert.Equal(["dns.static-records." + expected], e.Failures);
    }

    [Fact]
    public void Start_SeveralProblems_ReportsEachInOrder()
    {
        var host = Host("records:0:name=a.lashup.directory", "records:0:type=A", "records:0:address=fd00::1", "records:0:ttl=100000",
            "records:1:type=MX").Configure(new StaticRecordsPlugin());

        var e = Assert.Throws<OptionsValidationException>(() => host.Start());

        Assert.Equal(
            [
                "dns.static-records.records[0].ttl: must be between 0 and 86400 seconds, got 100000",
                "dns.static-records.records[0].address: \"fd00::1\" is an IPv6 address; an A record needs an IPv4 address (use type = \"AAAA\")",
                "dns.static-records.records[1].name: required",
                "dns.static-records.records[1].type: unknown record type \"MX\"; use one of A, AAAA, CNAME, SRV, TXT",
            ],
            e.Failures);
    }

    [Theory]
    [InlineData("records:0:name=db.lashup.directory", "records:0:type=A", "records:0:address=10.0.0.5")]
    [InlineData("records:0:name=db.lashup.directory", "records:0:type=aaaa", "records:0:address=::ffff:10.0.0.5")]
    [InlineData("records:0:name=_pg._tcp.db", "records:0:type=SRV", "records:0:target=db.", "records:0:port=5432", "records:0:ttl=0")]
    [InlineData("records:0:name=db", "records:0:type=TXT", "records:0:text=")]
    [InlineData("default_ttl=86400")]
    public void Start_ValidOptions_Succeeds(params string[] settings)
    {
        var host = Host(settings).Configure(new StaticRecordsPlugin());

        using var services = host.Start();
    }

    private static PluginTestHost Host(params string[] settings) => new(
        Capabilities.DnsSources,
        "static-records",
        settings.Select(s => s.Split('=', 2)).Select(kv => KeyValuePair.Create("dns:static-records:" + kv[0], (string?)kv[1])));
}
