using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary><c>[overlay.vxlan]</c>: the VXLAN device this node's overlay traffic goes through.</summary>
public sealed class VxlanOptions
{
    /// <summary>The smallest MTU accepted (IPv4's minimum datagram every host must take).</summary>
    public const int MinMtu = 576;

    /// <summary>The largest MTU accepted: a 64 KiB IPv4 datagram less the 50 bytes VXLAN adds.</summary>
    public const int MaxMtu = 65485;

    /// <summary>
    /// The VXLAN device's name (at most 15 characters, no '/', ':' or spaces). The backend owns the device of this name
    /// that carries its alias <c>lashup:vxlan</c>; a device of this name without it is refused, never touched.
    /// </summary>
    [ConfigurationKeyName("device")]
    public string Device { get; set; } = "lashup0";

    /// <summary>The VXLAN network identifier, the same on every node.</summary>
    [ConfigurationKeyName("vni")]
    [Range(1, 16777215)]
    public int Vni { get; set; } = 1024;

    /// <summary>The UDP port VXLAN travels on, the same on every node (4789 is IANA's; dcos-overlay used 64000).</summary>
    [ConfigurationKeyName("port")]
    [Range(1, 65535)]
    public int Port { get; set; } = 4789;

    /// <summary>
    /// The device's MTU; 0: the underlay device's MTU less 50 (VXLAN over IPv4; less 70 over IPv6). Otherwise
    /// 576-65485, and it must fit the underlay device (checked when the device is programmed).
    /// </summary>
    [ConfigurationKeyName("mtu")]
    public int Mtu { get; set; }
}
