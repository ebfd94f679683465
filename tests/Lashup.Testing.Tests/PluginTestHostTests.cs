using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lashup.Testing.Tests;

public sealed class PluginTestHostTests
{
    [Theory]
    [InlineData("dns", "lashup", "dns")]
    [InlineData("dns.sources", "static-records", "dns:static-records")]
    [InlineData("loadbalancer.backend", "userspace", "loadbalancer:userspace")]
    [InlineData("core", "lashup", "core")]
    public void SectionPathOf_Capability_IsTheHostsSectionPath(string capability, string name, string expected)
    {
        Assert.Equal(expected, PluginTestHost.SectionPathOf(capability, name));
        Assert.Equal(expected, new PluginTestHost(capability, name).Context.Configuration.Path);
    }

    [Fact]
    public void Constructor_Settings_ContextSeesItsSectionAndTheRoot()
    {
        var host = new PluginTestHost("loadbalancer.backend", "userspace", new Dictionary<string, string?>
        {
            ["loadbalancer:backend"] = "userspace",
            ["loadbalancer:userspace:depth"] = "4",
        });

        Assert.Equal(("loadbalancer.backend", "userspace"), (host.Context.Capability, host.Context.Name));
        Assert.Equal("4", host.Context.Configuration["depth"]);
        Assert.Same(host.Configuration, host.Context.Root);
        Assert.Equal("userspace", host.Context.Root["loadbalancer:backend"]);
        Assert.Equal(("node-1", "lashup"), (host.Context.Node.Name, host.Context.Node.ClusterName));
        Assert.Equal(AppContext.BaseDirectory, host.Context.PluginDirectory);
    }

    [Fact]
    public void Configure_PluginAddsOptions_RecordsTheDeclaredSectionAndBindsIt()
    {
        var host = new PluginTestHost("loadbalancer.backend", "userspace", new Dictionary<string, string?> { ["loadbalancer:userspace:depth"] = "4" });

        using var services = host.Configure(new DepthPlugin()).Start();

        Assert.Equal([new DeclaredOptions("loadbalancer:userspace", typeof(DepthOptions))], host.DeclaredOptions);
        Assert.Equal(4, services.GetRequiredService<IOptions<DepthOptions>>().Value.Depth);
    }

    [Fact]
    public void Start_OptionsFailValidation_ThrowsAsTheHostWouldAtStart()
    {
        var host = new PluginTestHost("loadbalancer.backend", "userspace", new Dictionary<string, string?> { ["loadbalancer:userspace:depth"] = "-1" });
        host.Configure(new DepthPlugin());

        var e = Assert.Throws<OptionsValidationException>(() => host.Start());

        Assert.Equal(["depth must not be negative"], e.Failures);
    }

    [Fact]
    public void Start_MissingDependency_FailsWhenBuilt()
    {
        var host = new PluginTestHost("dns", "lashup");
        host.Services.AddSingleton<NeedsDepth>();

        Assert.Throws<AggregateException>(() => host.Start());
    }

    [Fact]
    public void Start_PreRegisteredFake_IsWhatThePluginGets()
    {
        var host = new PluginTestHost("loadbalancer.backend", "userspace");
        var fake = new FakeClusterMembership("node-7");
        host.Services.AddSingleton<IClusterMembership>(fake);

        using var services = host.Configure(new DepthPlugin()).Start();

        Assert.Same(fake, services.GetRequiredService<IClusterMembership>());
    }

    public sealed class DepthOptions
    {
        [ConfigurationKeyName("depth")]
        public int Depth { get; set; } = 3;
    }

    private sealed class DepthPlugin : ILashupPlugin
    {
        public void ConfigureServices(PluginContext context, IServiceCollection services) =>
            services.AddPluginOptions<DepthOptions>(context).Validate(o => o.Depth >= 0, "depth must not be negative");
    }

    private sealed class NeedsDepth(DepthOptions options)
    {
        public int Depth => options.Depth;
    }
}
