using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lashup.Abstractions.Plugins;

/// <summary>Registration helpers for plugins.</summary>
public static class PluginServiceCollectionExtensions
{
    /// <summary>
    /// Binds <typeparamref name="TOptions"/> to the plugin's configuration section, declares the section to the host
    /// for key and type validation, and validates the options on start through <see cref="IValidateOptions{TOptions}"/>
    /// registrations and data annotations the plugin adds.
    /// </summary>
    /// <returns>The options builder, to chain validation.</returns>
    public static OptionsBuilder<TOptions> AddPluginOptions<TOptions>(this IServiceCollection services, PluginContext context)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(context);
        context.DeclareOptions(context.Configuration.Path, typeof(TOptions));
        var section = context.Configuration;
        return services.AddOptions<TOptions>()
            .Bind(section)
            .ValidateOnStart();
    }
}
