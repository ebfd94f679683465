using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Overlay;

/// <summary>
/// Checks <c>[overlay]</c> before anything starts, beyond the ranges its <c>[Range]</c> attributes declare (the host
/// checks those, with file:line): the range, the subnet prefix against it, the load balancer's named VIP range, the
/// underlay address. Each failure names its key.
/// </summary>
internal sealed class OverlayOptionsValidator : IValidateOptions<OverlayOptions>
{
    public ValidateOptionsResult Validate(string? name, OverlayOptions o)
    {
        var errors = new List<string>();
        if (!TryParseRange(o.Range, out var range, out var error))
        {
            errors.Add($"overlay.range: {error}");
        }
        else
        {
            if (o.SubnetPrefix <= range.PrefixLength)
            {
                errors.Add($"overlay.subnet_prefix: /{o.SubnetPrefix} does not fit in range {range}: it must be longer than /{range.PrefixLength} (e.g. /{Math.Min(30, range.PrefixLength + 8)})");
            }

            if (o.NamedVipRange is { } vipText && IPNetwork.TryParse(vipText, out var vips) && (range.Contains(vips.BaseAddress) || vips.Contains(range.BaseAddress)))
            {
                errors.Add($"overlay.range: {range} overlaps the load balancer's named_vip_range {vipText}; containers and named VIPs need addresses apart");
            }
        }

        IPAddress? underlay = null;
        if (o.UnderlayAddress.Length > 0 && (!IPAddress.TryParse(o.UnderlayAddress, out underlay) || underlay.Equals(IPAddress.Any) || underlay.Equals(IPAddress.IPv6Any)))
        {
            errors.Add($"overlay.underlay_address: expected this host's address on the network between the nodes (e.g. \"192.168.1.10\"), got \"{o.UnderlayAddress}\"");
        }
        else if (o.UnderlayAddress.Length > 0 && range.BaseAddress is not null && underlay is not null && range.Contains(underlay))
        {
            errors.Add($"overlay.underlay_address: {o.UnderlayAddress} is inside the overlay range {range}; the underlay must be the network between the hosts");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>An overlay range: IPv4, a network address in CIDR form, unicast, /8 to /28.</summary>
    public static bool TryParseRange(string? text, out IPNetwork range, out string error)
    {
        range = default;
        error = "";
        if (string.IsNullOrWhiteSpace(text) || !IPNetwork.TryParse(text.Trim(), out var parsed))
        {
            error = $"expected an IPv4 range in CIDR form such as \"10.240.0.0/16\", got \"{text}\"";
            return false;
        }

        if (parsed.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            error = $"\"{text}\" is not IPv4: the overlay hands out IPv4 subnets";
            return false;
        }

        if (!IPAddress.Parse(text.Trim().Split('/')[0]).Equals(parsed.BaseAddress))
        {
            error = $"\"{text}\" is not a network address; did you mean \"{parsed}\"?";
            return false;
        }

        if (parsed.PrefixLength is < 8 or > 28)
        {
            error = $"\"{text}\" must be /8 to /28 (room for at least two subnets)";
            return false;
        }

        var first = parsed.BaseAddress.GetAddressBytes()[0];
        if (first == 0 || first == 127 || first >= 224)
        {
            error = $"\"{text}\" is not a range of unicast addresses";
            return false;
        }

        range = parsed;
        return true;
    }
}
