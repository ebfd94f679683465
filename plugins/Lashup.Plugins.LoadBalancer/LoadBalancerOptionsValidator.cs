using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.LoadBalancer;

/// <summary>Checks <c>[loadbalancer]</c> before anything starts; each failure names its key.</summary>
internal sealed class LoadBalancerOptionsValidator : IValidateOptions<LoadBalancerOptions>
{
    public ValidateOptionsResult Validate(string? name, LoadBalancerOptions o)
    {
        var errors = new List<string>();
        if (!TryParseRange(o.NamedVipRange, out var range, out var error))
        {
            errors.Add($"loadbalancer.named_vip_range: {error}");
        }
        else if (o.OverlayRange is { } overlayText && IPNetwork.TryParse(overlayText, out var overlay) && Overlaps(range, overlay))
        {
            errors.Add($"loadbalancer.named_vip_range: {o.NamedVipRange} overlaps the overlay's range {overlayText} ([overlay] range); named VIPs need addresses no container has");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// A range named VIPs can come from: a network address in CIDR form (<c>10.200.0.0/16</c>) with room for at least
    /// two addresses (IPv4 /30 at most, IPv6 /126), not unspecified or multicast.
    /// </summary>
    public static bool TryParseRange(string? text, out IPNetwork range, out string error)
    {
        range = default;
        error = "";
        if (string.IsNullOrWhiteSpace(text) || !IPNetwork.TryParse(text.Trim(), out var parsed))
        {
            error = $"expected a range in CIDR form such as \"10.200.0.0/16\", got \"{text}\"";
            return false;
        }

        var prefix = IPAddress.Parse(text.Trim().Split('/')[0]);
        if (!prefix.Equals(parsed.BaseAddress))
        {
            error = $"\"{text}\" is not a network address; did you mean \"{parsed}\"?";
            return false;
        }

        var v4 = parsed.BaseAddress.AddressFamily == AddressFamily.InterNetwork;
        if (parsed.PrefixLength > (v4 ? 30 : 126))
        {
            error = $"\"{text}\" is too small: a range needs room for at least two VIPs (at most /{(v4 ? 30 : 126)})";
            return false;
        }

        var first = parsed.BaseAddress.GetAddressBytes()[0];
        if ((v4 && (first == 0 || first >= 224)) || (!v4 && (first == 0xff || parsed.BaseAddress.Equals(IPAddress.IPv6Any))))
        {
            error = $"\"{text}\" is not a range of unicast addresses";
            return false;
        }

        range = parsed;
        return true;
    }

    private static bool Overlaps(IPNetwork a, IPNetwork b) =>
        a.BaseAddress.AddressFamily == b.BaseAddress.AddressFamily && (a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress));
}
