using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lashup.Testing;

/// <summary>
/// Runs a plugin's <see cref="ILashupPlugin.ConfigureServices"/> the way the host does, over an in-memory configuration
/// instead of a TOML file: the plugin gets the <see cref="PluginContext"/> the host would give it (its own section at
/// the same path), the options sections it declares are recorded, and <see cref="Start"/> builds the container and runs
/// the validation the host runs at start.
/// </summary>
/// <example>
/// <code>
/// var host = new PluginTestHost(Capabilities.DnsSources, "static-records", new Dictionary&lt;string, string?&gt;
/// {
///     ["dns:static-records:records:0:name"] = "db.lashup.directory",  // [dns.static-records] records = [{ name = ... }]
/// });
/// host.Configure(new StaticRecordsPlugin());
/// using var services = host.Start();
/// var source = services.GetRequiredService&lt;IDnsRecordSource&gt;();
/// </code>
/// </example>
public sealed class PluginTestHost
{
    private readonly List<DeclaredOptions> _declared = [];

    /// <summary>Creates a host for the plugin <paramref name="name"/> of <paramref name="capability"/>.</summary>
    /// <param name="capability">The capability the plugin is selected for, e.g. <see cref="Capabilities.DnsSources"/>.</param>
    /// <param name="name">The plugin's name, e.g. <c>static-records</c>.</param>
    /// <param name="configuration">
    /// The whole configuration as the host's TOML provider flattens it: keys are full paths with <c>:</c> between
    /// sections and array indexes (<c>dns:static-records:records:0:name</c> for
    /// <c>[dns.static-records] records = [{ name = "..." }]</c>), values are strings (<c>"30"</c>, <c>"true"</c>).
    /// </param>
    /// <param name="node">This node's identity; by default <c>node-1</c> of cluster <c>lashup</c> with a data directory under the temp folder.</param>
    /// <param name="pluginDirectory">The folder the plugin pretends to be loaded from; by default the test's base directory.</param>
    public PluginTestHost(
        string capability,
        string name,
        IEnumerable<KeyValuePair<string, string?>>? configuration = null,
        NodeInfo? node = null,
        string? pluginDirectory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(capability);
        ArgumentException.ThrowIfNullOrEmpty(name);
        SectionPath = SectionPathOf(capability, name);
        Configuration = new ConfigurationBuilder().AddInMemoryCollection(configuration ?? []).Build();
        Context = new PluginContext(
            capability,
            name,
            Configuration.GetSection(SectionPath),
            Configuration,
            node ?? new NodeInfo("node-1", "lashup", Path.Combine(Path.GetTempPath(), "lashup-test", "node-1")),
            pluginDirectory ?? AppContext.BaseDirectory,
            (path, type) => _declared.Add(new DeclaredOptions(path, type)));
    }

    /// <summary>
    /// The configuration path of the plugin's own section, as the host computes it: the capability itself for a
    /// subsystem (<c>dns</c>), <c>subsystem:name</c> for a plugin selected inside a subsystem (<c>dns:static-records</c>).
    /// </summary>
    public string SectionPath { get; }

    /// <summary>The whole configuration, also the context's <see cref="PluginContext.Root"/>.</summary>
    public IConfigurationRoot Configuration { get; }

    /// <summary>The context passed to <see cref="ILashupPlugin.ConfigureServices"/>.</summary>
    public PluginContext Context { get; }

    /// <summary>The container the plugin registers into. Tests may pre-register fakes here before <see cref="Configure"/>.</summary>
    public IServiceCollection Services { get; } = new ServiceCollection();

    /// <summary>The options sections the plugin declared through <see cref="PluginContext.DeclareOptions"/>, in order.</summary>
    public IReadOnlyList<DeclaredOptions> DeclaredOptions => _declared;

    /// <summary>The configuration path of the section of plugin <paramref name="name"/> of <paramref name="capability"/>.</summary>
    /// <param name="capability">A capability, e.g. <c>dns</c> or <c>dns.sources</c>.</param>
    /// <param name="name">The plugin's name.</param>
    /// <returns><c>dns</c> for a subsystem, <c>dns:static-records</c> for a plugin selected inside one.</returns>
    public static string SectionPathOf(string capability, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(capability);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var dot = capability.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? capability : $"{capability[..dot]}:{name}";
    }

    /// <summary>Calls <paramref name="plugin"/>'s <see cref="ILashupPlugin.ConfigureServices"/> with <see cref="Context"/> and <see cref="Services"/>.</summary>
    /// <returns>This host, for chaining.</returns>
    public PluginTestHost Configure(ILashupPlugin plugin)
    {
        ArgumentNullException.ThrowIfNull(plugin);
        plugin.ConfigureServices(Context, Services);
        return this;
    }

    /// <summary>
    /// Builds the container (checking that every registration can be constructed) and runs the start-time validation
    /// the host runs, so options registered with <c>ValidateOnStart</c> (as <c>AddPluginOptions</c> does) fail here
    /// with the <see cref="OptionsValidationException"/> an operator would see.
    /// </summary>
    /// <returns>The built container; dispose it at the end of the test.</returns>
    /// <exception cref="OptionsValidationException">Options failed validation.</exception>
    public ServiceProvider Start()
    {
        var provider = Services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        try
        {
            provider.GetService<IStartupValidator>()?.Validate();
        }
        catch
        {
            provider.Dispose();
            throw;
        }

        return provider;
    }
}

/// <summary>An options section a plugin declared to the host.</summary>
/// <param name="SectionPath">The configuration path, e.g. <c>dns:static-records</c>.</param>
/// <param name="OptionsType">The options type bound to it.</param>
public sealed record DeclaredOptions(string SectionPath, Type OptionsType);
