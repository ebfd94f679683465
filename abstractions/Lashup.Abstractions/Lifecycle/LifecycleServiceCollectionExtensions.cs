using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Lashup.Abstractions.Lifecycle;

/// <summary>Registration of lifecycle participants and readiness checks.</summary>
public static class LifecycleServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="T"/> as a singleton and as an <see cref="ILifecycleParticipant"/>, so the host
    /// starts it in its stage. If it also implements <see cref="IReadinessCheck"/>, it is registered as one.
    /// </summary>
    public static IServiceCollection AddLifecycleParticipant<T>(this IServiceCollection services)
        where T : class, ILifecycleParticipant
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<T>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant, T>(sp => sp.GetRequiredService<T>()));
        if (typeof(IReadinessCheck).IsAssignableFrom(typeof(T)))
        {
            AddReadinessOf<T>(services);
        }

        return services;
    }

    /// <summary>Registers <typeparamref name="T"/> as a singleton readiness check.</summary>
    public static IServiceCollection AddReadinessCheck<T>(this IServiceCollection services)
        where T : class, IReadinessCheck
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<T>();
        AddReadinessOf<T>(services);
        return services;
    }

    /// <summary>
    /// Registers the singleton <typeparamref name="T"/> as a readiness check unless it already is, whichever of
    /// <see cref="AddLifecycleParticipant{T}"/> and <see cref="AddReadinessCheck{T}"/> registered it.
    /// </summary>
    private static void AddReadinessOf<T>(IServiceCollection services)
        where T : class
    {
        if (!services.Any(d => d.ServiceType == typeof(IReadinessCheck) && d.ServiceKey is null && d.ImplementationFactory?.Target is ReadinessOf<T>))
        {
            services.AddSingleton(typeof(IReadinessCheck), new ReadinessOf<T>().Resolve);
        }
    }

    /// <summary>Resolves a participant as its readiness check; its type marks the registration as done once.</summary>
    private sealed class ReadinessOf<T>
        where T : class
    {
        public object Resolve(IServiceProvider sp) => sp.GetRequiredService<T>();
    }
}
