namespace Lashup.Plugins.Overlay.HostRoutes;

/// <summary>
/// <c>[overlay.host-routes]</c>: no keys. Everything the backend needs comes from the overlay's table (each peer's
/// subnet and underlay address) and from the kernel (the link each underlay address is reached on, its MTU). Declared
/// so that the host reports any key written in the section as unknown instead of ignoring it.
/// </summary>
public sealed class HostRoutesOptions
{
}
