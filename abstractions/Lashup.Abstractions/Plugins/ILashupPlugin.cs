using Microsoft.Extensions.DependencyInjection;

namespace Lashup.Abstractions.Plugins;

/// <summary>
/// The startup of a plugin. The host creates it once, when the plugin is selected by configuration, and calls
/// <see cref="ConfigureServices"/> before the container is built. It only registers services: work starts in
/// <see cref="Lifecycle.ILifecycleParticipant"/> implementations it registers.
/// </summary>
public interface ILashupPlugin
{
    /// <summary>Registers the plugin's services into the host's single container.</summary>
    /// <param name="context">What the host knows about this plugin: its configuration section, the node, paths.</param>
    /// <param name="services">The host's service collection. Prefer <c>TryAdd*</c> so tests can pre-register fakes.</param>
    void ConfigureServices(PluginContext context, IServiceCollection services);
}
