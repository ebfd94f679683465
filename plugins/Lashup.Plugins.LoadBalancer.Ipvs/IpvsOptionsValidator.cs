using Lashup.Plugins.LoadBalancer.Ipvs.Kernel;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.LoadBalancer.Ipvs;

/// <summary>
/// Checks <c>[loadbalancer.ipvs]</c> before anything starts: the scheduler must be one the kernel has (the kernel would
/// answer an unknown one with ENOENT on every VIP). The failure names its key, so <c>lashup config check</c> gives its
/// file and line.
/// </summary>
internal sealed class IpvsOptionsValidator : IValidateOptions<IpvsOptions>
{
    public ValidateOptionsResult Validate(string? name, IpvsOptions options) =>
        IpvsProtocol.Schedulers.Contains(options.Scheduler, StringComparer.Ordinal)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(
                $"loadbalancer.ipvs.scheduler: expected one of the kernel's IPVS schedulers ({string.Join(", ", IpvsProtocol.Schedulers)}), got \"{options.Scheduler}\"");
}
