using System.Globalization;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary>
/// Checks <c>[overlay.vxlan]</c> beyond the ranges its <c>[Range]</c> attributes declare (the host checks those, with
/// file:line): the device's name and the MTU (0, or 576-65485).
/// </summary>
internal sealed class VxlanOptionsValidator : IValidateOptions<VxlanOptions>
{
    public ValidateOptionsResult Validate(string? name, VxlanOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var failures = new List<string>();
        if (DeviceNameError(o.Device) is { } device)
        {
            failures.Add($"overlay.vxlan.device: {device}");
        }

        if (o.Mtu != 0 && o.Mtu is < VxlanOptions.MinMtu or > VxlanOptions.MaxMtu)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"overlay.vxlan.mtu: expected 0 (the underlay's MTU less 50, less 70 over IPv6) or {VxlanOptions.MinMtu}-{VxlanOptions.MaxMtu}, got {o.Mtu}"));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Why <paramref name="device"/> is no interface name the kernel takes, or null when it is one.</summary>
    public static string? DeviceNameError(string? device) =>
        string.IsNullOrEmpty(device) || device.Length > 15 || device is "." or ".."
        || device.Any(c => !char.IsAscii(c) || char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or ':')
            ? $"expected an interface name of 1-15 ASCII characters without '/', ':' or spaces (e.g. \"lashup0\"), got \"{device}\""
            : null;
}
