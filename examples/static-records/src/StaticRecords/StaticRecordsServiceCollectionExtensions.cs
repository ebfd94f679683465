using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace StaticRecords;

/// <summary>Registration of the static record source.</summary>
internal static class StaticRecordsServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="StaticRecordsOptions"/> to the plugin's section, validates them at start, and adds the source to
    /// the <see cref="IDnsRecordSource"/>s the DNS server chains (alongside any other sources, never replacing one).
    /// </summary>
    public static IServiceCollection AddStaticRecords(this IServiceCollection services, PluginContext context)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
        services.AddPluginOptions<StaticRecordsOptions>(context);
        var section = context.Configuration.Path.Replace(':', '.');
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StaticRecordsOptions>>(new StaticRecordsOptionsValidator(section)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IDnsRecordSource, StaticRecordSource>());
        return services;
    }
}
