using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.LoadBalancer.Nftables;

/// <summary>
/// Checks <c>[loadbalancer.nftables]</c> beyond the ranges its <c>[Range]</c> attributes declare (the host checks those,
/// with file:line): the table's name, which goes into nft scripts and must not be able to say anything else.
/// </summary>
internal sealed partial class NftablesOptionsValidator : IValidateOptions<NftablesOptions>
{
    public ValidateOptionsResult Validate(string? name, NftablesOptions o) =>
        IsTableName(o.Table)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"loadbalancer.nftables.table: expected a name of letters, digits and _ starting with a letter, at most 64 (e.g. \"lashup_lb\"), got \"{o.Table}\"");

    /// <summary>Whether <paramref name="table"/> is a table name this backend accepts.</summary>
    public static bool IsTableName(string? table) => table is not null && TableName().IsMatch(table);

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TableName();
}
