using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Dns;

namespace StaticRecords;

/// <summary>
/// Turns <see cref="StaticRecordsOptions"/> into <see cref="DnsRecord"/>s: names and targets normalised (lower case,
/// no trailing dot), every rule checked. The one place the configuration is interpreted, for validation and indexing.
/// </summary>
internal static class StaticRecordParser
{
    /// <summary>The largest TTL accepted, in seconds (one day).</summary>
    public const int MaxTtl = 86_400;

    private const string KnownTypes = "A, AAAA, CNAME, SRV, TXT";
    private const int MaxNameLength = 253;
    private const int MaxLabelLength = 63;

    /// <summary>
    /// Parses every record. Problems are added to <paramref name="errors"/> as <c>key: message</c>, the key relative to
    /// the plugin's section (<c>records[2].address</c>).
    /// </summary>
    /// <returns>The records in configuration order; empty when there were problems.</returns>
    public static ImmutableArray<DnsRecord> Parse(StaticRecordsOptions options, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        if (options.DefaultTtl is < 0 or > MaxTtl)
        {
            errors.Add($"default_ttl: must be between 0 and {MaxTtl} seconds, got {options.DefaultTtl}");
        }

        var records = ImmutableArray.CreateBuilder<DnsRecord>(options.Records.Count);
        var seen = new Dictionary<DnsRecord, int>();
        var names = new Dictionary<string, (int First, bool IsCname)>(StringComparer.Ordinal);
        for (var i = 0; i < options.Records.Count; i++)
        {
            var key = $"records[{i}]";
            var record = ParseRecord(options.Records[i], key, options.DefaultTtl, errors);
            if (record is null)
            {
                continue;
            }

            if (seen.TryGetValue(record, out var same))
            {
                errors.Add($"{key}: the same record as records[{same}]");
                continue;
            }

            seen.Add(record, i);
            var isCname = record.Type == DnsRecordType.CNAME;
            if (names.TryGetValue(record.Name, out var existing))
            {
                if (isCname || existing.IsCname)
                {
                    errors.Add($"{key}: {record.Name} has both a CNAME and other records (records[{existing.First}]); a CNAME must be the only record of its name");
                    continue;
                }
            }
            else
            {
                names.Add(record.Name, (i, isCname));
            }

            records.Add(record);
        }

        return errors.Count == before ? records.ToImmutable() : [];
    }

    /// <summary>Lower case, without surrounding blanks or a trailing dot: how names are stored and matched.</summary>
    public static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        return (trimmed.EndsWith('.') ? trimmed[..^1] : trimmed).ToLowerInvariant();
    }

    private static DnsRecord? ParseRecord(StaticRecordOptions? entry, string key, int defaultTtl, List<string> errors)
    {
        if (entry is null)
        {
            errors.Add($"{key}: expected a table such as {{ name = \"db.lashup.directory\", type = \"A\", address = \"10.0.0.5\" }}");
            return null;
        }

        var before = errors.Count;
        var name = ParseName(entry.Name, $"{key}.name", "required", errors);
        var type = ParseType(entry.Type, $"{key}.type", errors);
        if (entry.Ttl is < 0 or > MaxTtl)
        {
            errors.Add($"{key}.ttl: must be between 0 and {MaxTtl} seconds, got {entry.Ttl}");
        }

        if (type is not { } t)
        {
            return null;
        }

        RejectUnused(entry, t, key, errors);
        var required = $"required for {Article(t)} record";
        var record = new DnsRecord { Name = name ?? string.Empty, Type = t, Ttl = (uint)Math.Clamp(entry.Ttl ?? defaultTtl, 0, MaxTtl) };
        switch (t)
        {
            case DnsRecordType.A or DnsRecordType.AAAA:
                record = record with { Address = ParseAddress(entry.Address, t, $"{key}.address", required, errors) };
                break;
            case DnsRecordType.CNAME:
                record = record with { Target = ParseName(entry.Target, $"{key}.target", required, errors) };
                break;
            case DnsRecordType.SRV:
                if (entry.Port is null)
                {
                    errors.Add($"{key}.port: {required}");
                }

                record = record with
                {
                    Target = ParseName(entry.Target, $"{key}.target", required, errors),
                    Port = Range(entry.Port ?? 1, 1, $"{key}.port", errors),
                    Priority = Range(entry.Priority ?? 0, 0, $"{key}.priority", errors),
                    Weight = Range(entry.Weight ?? 1, 0, $"{key}.weight", errors),
                };
                break;
            default:
                if (entry.Text is null)
                {
                    errors.Add($"{key}.text: {required}");
                }

                record = record with { Text = entry.Text };
                break;
        }

        return errors.Count == before ? record : null;
    }

    private static DnsRecordType? ParseType(string? text, string key, List<string> errors)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case null or "":
                errors.Add($"{key}: required; use one of {KnownTypes}");
                return null;
            case "A":
                return DnsRecordType.A;
            case "AAAA":
                return DnsRecordType.AAAA;
            case "CNAME":
                return DnsRecordType.CNAME;
            case "SRV":
                return DnsRecordType.SRV;
            case "TXT":
                return DnsRecordType.TXT;
            default:
                errors.Add($"{key}: unknown record type \"{text}\"; use one of {KnownTypes}");
                return null;
        }
    }

    private static string? ParseName(string? text, string key, string whenMissing, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add($"{key}: {whenMissing}");
            return null;
        }

        var name = NormalizeName(text);
        if (name.Length is 0 or > MaxNameLength
            || name.Split('.').Any(l => l.Length is 0 or > MaxLabelLength || !l.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            errors.Add($"{key}: \"{text}\" is not a valid DNS name (labels of 1-{MaxLabelLength} letters, digits, '-' or '_' separated by dots, at most {MaxNameLength} characters)");
            return null;
        }

        return name;
    }

    private static IPAddress? ParseAddress(string? text, DnsRecordType type, string key, string whenMissing, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add($"{key}: {whenMissing}");
            return null;
        }

        // IPAddress.TryParse also takes shorthands such as "10.5" (10.0.0.5); only a dotted quad is an IPv4 address here.
        var trimmed = text.Trim();
        if (!IPAddress.TryParse(trimmed, out var address)
            || (address.AddressFamily == AddressFamily.InterNetwork && trimmed.Count(c => c == '.') != 3))
        {
            errors.Add($"{key}: \"{text}\" is not an IP address");
            return null;
        }

        var (wanted, other) = type == DnsRecordType.A ? (AddressFamily.InterNetwork, "AAAA") : (AddressFamily.InterNetworkV6, "A");
        if (address.AddressFamily != wanted)
        {
            errors.Add($"{key}: \"{text}\" is an {Family(address.AddressFamily)} address; {Article(type)} record needs an {Family(wanted)} address (use type = \"{other}\")");
            return null;
        }

        return address;
    }

    private static ushort Range(int value, int min, string key, List<string> errors)
    {
        if (value < min || value > ushort.MaxValue)
        {
            errors.Add($"{key}: must be between {min} and {ushort.MaxValue}, got {value}");
            return 0;
        }

        return (ushort)value;
    }

    /// <summary>Keys set on a record of a type that does not use them are mistakes (a TXT with an address, ...).</summary>
    private static void RejectUnused(StaticRecordOptions entry, DnsRecordType type, string key, List<string> errors)
    {
        string[] used = type switch
        {
            DnsRecordType.A or DnsRecordType.AAAA => ["address"],
            DnsRecordType.CNAME => ["target"],
            DnsRecordType.SRV => ["target", "port", "priority", "weight"],
            _ => ["text"],
        };
        (string Key, bool IsSet)[] fields =
        [
            ("address", entry.Address is not null), ("target", entry.Target is not null), ("port", entry.Port is not null),
            ("priority", entry.Priority is not null), ("weight", entry.Weight is not null), ("text", entry.Text is not null),
        ];
        foreach (var field in fields.Where(f => f.IsSet && !used.Contains(f.Key)))
        {
            errors.Add($"{key}.{field.Key}: not used by {Article(type)} record");
        }
    }

    private static string Article(DnsRecordType type) => type is DnsRecordType.A or DnsRecordType.AAAA or DnsRecordType.SRV ? $"an {type}" : $"a {type}";

    private static string Family(AddressFamily family) => family == AddressFamily.InterNetwork ? "IPv4" : "IPv6";
}
