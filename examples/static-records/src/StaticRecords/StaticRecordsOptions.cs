using Microsoft.Extensions.Configuration;

namespace StaticRecords;

/// <summary><c>[dns.static-records]</c>: the records to serve.</summary>
internal sealed class StaticRecordsOptions
{
    /// <summary>Where the source sits in the DNS server's chain; lower is asked first.</summary>
    [ConfigurationKeyName("order")]
    public int Order { get; set; } = 100;

    /// <summary>The TTL, in seconds, of records that set none.</summary>
    [ConfigurationKeyName("default_ttl")]
    public int DefaultTtl { get; set; } = 60;

    /// <summary>The records, one inline table each.</summary>
    [ConfigurationKeyName("records")]
    public List<StaticRecordOptions> Records { get; set; } = [];
}

/// <summary>
/// One record of <c>records</c>. Which keys apply depends on <see cref="Type"/>: <c>address</c> for A and AAAA,
/// <c>target</c> for CNAME, <c>target</c>/<c>port</c>/<c>priority</c>/<c>weight</c> for SRV, <c>text</c> for TXT.
/// </summary>
internal sealed class StaticRecordOptions
{
    /// <summary>The owner name; matched without regard to case or a trailing dot.</summary>
    [ConfigurationKeyName("name")]
    public string? Name { get; set; }

    /// <summary>A, AAAA, CNAME, SRV or TXT.</summary>
    [ConfigurationKeyName("type")]
    public string? Type { get; set; }

    /// <summary>The address of an A (IPv4) or AAAA (IPv6) record.</summary>
    [ConfigurationKeyName("address")]
    public string? Address { get; set; }

    /// <summary>The target name of a CNAME or SRV record.</summary>
    [ConfigurationKeyName("target")]
    public string? Target { get; set; }

    /// <summary>The port of an SRV record.</summary>
    [ConfigurationKeyName("port")]
    public int? Port { get; set; }

    /// <summary>The priority of an SRV record (default 0).</summary>
    [ConfigurationKeyName("priority")]
    public int? Priority { get; set; }

    /// <summary>The weight of an SRV record (default 1).</summary>
    [ConfigurationKeyName("weight")]
    public int? Weight { get; set; }

    /// <summary>The text of a TXT record.</summary>
    [ConfigurationKeyName("text")]
    public string? Text { get; set; }

    /// <summary>The TTL in seconds; <see cref="StaticRecordsOptions.DefaultTtl"/> when unset.</summary>
    [ConfigurationKeyName("ttl")]
    public int? Ttl { get; set; }
}
