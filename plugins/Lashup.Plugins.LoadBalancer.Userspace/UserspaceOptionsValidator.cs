using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary>Checks <c>[loadbalancer.userspace]</c> before anything starts; each failure names its key.</summary>
internal sealed class UserspaceOptionsValidator : IValidateOptions<UserspaceOptions>
{
    public ValidateOptionsResult Validate(string? name, UserspaceOptions o)
    {
        var errors = new List<string>();
        if (o.ConnectTimeout.Value < TimeSpan.FromMilliseconds(250) || o.ConnectTimeout.Value > TimeSpan.FromMinutes(1))
        {
            errors.Add($"loadbalancer.userspace.connect_timeout: must be between 250ms and 1m, got {o.ConnectTimeout}");
        }

        if (o.IdleTimeout.Value < TimeSpan.FromSeconds(1) || o.IdleTimeout.Value > TimeSpan.FromDays(7))
        {
            errors.Add($"loadbalancer.userspace.idle_timeout: must be between 1s and 7d, got {o.IdleTimeout}");
        }

        if (o.UdpIdleTimeout.Value < TimeSpan.FromSeconds(1) || o.UdpIdleTimeout.Value > TimeSpan.FromHours(1))
        {
            errors.Add($"loadbalancer.userspace.udp_idle_timeout: must be between 1s and 1h, got {o.UdpIdleTimeout}");
        }

        if (o.MaxConnections is < 1 or > 1_048_576)
        {
            errors.Add($"loadbalancer.userspace.max_connections: must be 1 to 1048576, got {o.MaxConnections}");
        }

        if (o.MaxUdpFlows is < 1 or > 1_048_576)
        {
            errors.Add($"loadbalancer.userspace.max_udp_flows: must be 1 to 1048576, got {o.MaxUdpFlows}");
        }

        if (o.Workers is < 0 or > 256)
        {
            errors.Add($"loadbalancer.userspace.workers: must be 0 to 256 (0: one per CPU), got {o.Workers}");
        }

        if (o.ListenAddress.Length > 0 && (!IPAddress.TryParse(o.ListenAddress, out var address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)))
        {
            errors.Add($"loadbalancer.userspace.listen_address: expected one address of this host such as \"127.0.0.2\" (not a wildcard), got \"{o.ListenAddress}\"");
        }
        else if (o.ListenAddress.Length > 0 && !IsLocal(IPAddress.Parse(o.ListenAddress)))
        {
            errors.Add($"loadbalancer.userspace.listen_address: {o.ListenAddress} is not an address of this host; every VIP would go unserved");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Whether this host can bind <paramref name="address"/> (the kernel's answer, as the proxy will get it).</summary>
    private static bool IsLocal(IPAddress address)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            return false;
        }
        catch (SocketException)
        {
            // Not this check's to judge (no IPv6 on this host, ...): the VIPs report it.
            return true;
        }
    }
}
