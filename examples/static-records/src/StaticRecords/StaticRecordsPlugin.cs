using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.DependencyInjection;

[assembly: LashupPlugin(Capabilities.DnsSources, "static-records", typeof(StaticRecords.StaticRecordsPlugin))]

namespace StaticRecords;

/// <summary>
/// The startup of the <c>static-records</c> DNS record source, selected by <c>[dns] sources = ["static-records"]</c> and
/// configured in <c>[dns.static-records]</c>.
/// </summary>
public sealed class StaticRecordsPlugin : ILashupPlugin
{
    /// <inheritdoc/>
    public void ConfigureServices(PluginContext context, IServiceCollection services) => services.AddStaticRecords(context);
}
