using Microsoft.Extensions.Options;

namespace StaticRecords;

/// <summary>
/// Validates <see cref="StaticRecordsOptions"/> at start: every problem is reported, one message each, prefixed with the
/// key as the operator wrote it (<c>dns.static-records.records[2].address: ...</c>).
/// </summary>
/// <param name="section">The plugin's section in TOML notation, e.g. <c>dns.static-records</c>.</param>
internal sealed class StaticRecordsOptionsValidator(string section) : IValidateOptions<StaticRecordsOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, StaticRecordsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        StaticRecordParser.Parse(options, errors);
        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(e => $"{section}.{e}"));
    }
}
