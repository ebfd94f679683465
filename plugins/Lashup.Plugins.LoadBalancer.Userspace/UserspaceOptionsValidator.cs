using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.LoadBalancer.Userspace;

/// <summary>
/// Checks <c>[loadbalancer.userspace]</c> before anything starts, beyond the ranges its <c>[Range]</c> attributes declare
/// (the host checks those, with file:line): the listen address. Each failure names its key.
/// </summary>
internal sealed class UserspaceOptionsValidator : IValidateOptions<UserspaceOptions>
{
    public ValidateOptionsResult Validate(string? name, UserspaceOptions o)
    {
        var errors = new List<string>();
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
