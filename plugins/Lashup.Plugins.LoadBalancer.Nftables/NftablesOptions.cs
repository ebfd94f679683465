using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.LoadBalancer.Nftables;

/// <summary><c>[loadbalancer.nftables]</c>: kernel DNAT from an nft table of Lashup's own.</summary>
public sealed class NftablesOptions
{
    /// <summary>
    /// The <c>inet</c> table the backend owns (created, rewritten, deleted); it touches no other. Letters, digits and
    /// <c>_</c>, starting with a letter, at most 64.
    /// </summary>
    [ConfigurationKeyName("table")]
    public string Table { get; set; } = "lashup_lb";

    /// <summary>
    /// How finely weights are kept: a VIP whose backends have unequal weights gets this many buckets (more when it has
    /// more backends than this), shared out by weight; a VIP with equal weights gets one bucket per backend.
    /// </summary>
    [ConfigurationKeyName("buckets")]
    [Range(1, 256)]
    public int Buckets { get; set; } = 16;
}
