using System.Net;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Dns;

/// <summary>Checks <c>[dns]</c> before anything starts; each failure names its key.</summary>
internal sealed class DnsOptionsValidator : IValidateOptions<DnsOptions>
{
    public ValidateOptionsResult Validate(string? name, DnsOptions o)
    {
        var errors = new List<string>();
        if (o.EffectiveListen.Count == 0)
        {
            errors.Add("dns.listen: at least one \"address:port\" is needed (or set [dns] enabled = false)");
        }

        for (var i = 0; i < o.EffectiveListen.Count; i++)
        {
            if (!IPEndPoint.TryParse(o.EffectiveListen[i], out var endpoint) || !o.EffectiveListen[i].Contains(':', StringComparison.Ordinal))
            {
                errors.Add($"dns.listen[{i}]: expected \"address:port\" such as \"127.0.0.1:8053\", got \"{o.EffectiveListen[i]}\"");
            }
            else if (endpoint.Port == 0 && o.EffectiveListen.Count > 1)
            {
                errors.Add($"dns.listen[{i}]: port 0 (any free port) works only with a single listen address");
            }
        }

        if (o.EffectiveZones.Count == 0)
        {
            errors.Add("dns.zones: at least one zone is needed, e.g. [\"lashup.directory\"]");
        }

        Span<byte> wire = stackalloc byte[DnsName.MaxLength];
        for (var i = 0; i < o.EffectiveZones.Count; i++)
        {
            var zone = o.EffectiveZones[i];
            if (string.IsNullOrWhiteSpace(zone) || zone.Trim('.').Length == 0 || !DnsName.TryFromText(zone, wire, out var length) || length > DnsName.MaxLength - 133)
            {
                errors.Add($"dns.zones[{i}]: \"{zone}\" is not a domain name Lashup can serve (letters, digits, '-', dots; not the root; at most 122 octets, leaving room for instance, service and SRV labels)");
            }
            else if (o.EffectiveZones.Take(i).Any(z => DnsName.Normalize(z) == DnsName.Normalize(zone)))
            {
                errors.Add($"dns.zones[{i}]: \"{zone}\" is listed twice");
            }
        }

        Range(errors, "dns.ttl", o.Ttl, 0, 86_400);
        Range(errors, "dns.negative_ttl", o.NegativeTtl, 0, 86_400);
        Range(errors, "dns.cache_size", o.CacheSize, 0, 10_000_000);
        Range(errors, "dns.udp_workers", o.UdpWorkers, 0, 64);
        Range(errors, "dns.max_udp_payload", o.MaxUdpPayload, DnsResponseWriter.ClassicUdpLimit, 4096);
        Range(errors, "dns.tcp_max_connections", o.TcpMaxConnections, 1, 65_536);
        if (o.ForwardTimeout.Value <= TimeSpan.Zero || o.ForwardTimeout.Value > TimeSpan.FromSeconds(30))
        {
            errors.Add($"dns.forward_timeout: must be above 0 and at most 30s, got {o.ForwardTimeout}");
        }

        if (o.TcpIdleTimeout.Value <= TimeSpan.Zero)
        {
            errors.Add($"dns.tcp_idle_timeout: must be above 0, got {o.TcpIdleTimeout}");
        }

        if (o.Upstreams.Count > 0)
        {
            if (!UpstreamParser.TryParse(o.Upstreams, out var upstreams, out var upstreamError))
            {
                errors.Add($"dns.upstreams: {upstreamError}");
            }
            else
            {
                // Forwarding to ourselves would loop: every forwarded query would come back to be forwarded again.
                foreach (var upstream in upstreams)
                {
                    if (o.EffectiveListen.Any(l => IPEndPoint.TryParse(l, out var own) && own.Port == upstream.Port
                            && (own.Address.Equals(upstream.Address) || own.Address.Equals(IPAddress.Any) || own.Address.Equals(IPAddress.IPv6Any))))
                    {
                        errors.Add($"dns.upstreams: {upstream} is this server's own listen address (a forwarding loop); \"system\" may point there through /etc/resolv.conf");
                    }
                }
            }
        }

        for (var i = 0; i < o.EffectiveAllowRecursionFrom.Count; i++)
        {
            if (!IPNetwork.TryParse(o.EffectiveAllowRecursionFrom[i], out _))
            {
                errors.Add($"dns.allow_recursion_from[{i}]: expected a CIDR range such as \"10.0.0.0/8\", got \"{o.EffectiveAllowRecursionFrom[i]}\"");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Range(List<string> errors, string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key}: must be {min} to {max}, got {value}");
        }
    }
}
