using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

[assembly: LashupPlugin("fixture", "good", typeof(Fixture.Good.GoodPlugin))]

namespace Fixture.Good;

/// <summary>A fixture subsystem: writes a marker file on start and on stop, so tests see the lifecycle.</summary>
public sealed class GoodPlugin : ILashupPlugin
{
    public void ConfigureServices(PluginContext context, IServiceCollection services)
    {
        services.AddPluginOptions<GoodOptions>(context);
        services.AddSingleton(context.Node);
        services.AddLifecycleParticipant<MarkerParticipant>();
        services.AddSingleton<IDnsRecordSource, NoRecords>();
    }
}

public sealed class GoodOptions
{
    [ConfigurationKeyName("greeting")]
    public string Greeting { get; set; } = "hello";

    [ConfigurationKeyName("count")]
    [Range(0, 1000)]
    public int Count { get; set; } = 1;

    [ConfigurationKeyName("interval")]
    public Duration Interval { get; set; } = Duration.FromSeconds(1);

    [ConfigurationKeyName("marker_file")]
    public string MarkerFile { get; set; } = "";

    [ConfigurationKeyName("fail_start")]
    public bool FailStart { get; set; }

    /// <summary>A vendor's listen address: the host checks it with every other (this fixture binds nothing).</summary>
    [ConfigurationKeyName("listen")]
    [ListenEndpoint(ListenProtocols.Tcp)]
    public string Listen { get; set; } = "";
}

public sealed class MarkerParticipant(IOptions<GoodOptions> options) : ILifecycleParticipant, IReadinessCheck
{
    private volatile bool _ready;

    public int Stage => LifecycleStage.Services;

    public string Name => "fixture.marker";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.FailStart)
        {
            throw new InvalidOperationException("told to fail");
        }

        Append($"started {options.Value.Greeting} x{options.Value.Count} every {options.Value.Interval}");
        _ready = true;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _ready = false;
        Append("stopped");
        return Task.CompletedTask;
    }

    public Readiness Check() => _ready ? Readiness.Ready : Readiness.NotReady("not started");

    private void Append(string line)
    {
        if (options.Value.MarkerFile.Length > 0)
        {
            File.AppendAllText(options.Value.MarkerFile, line + "\n");
        }
    }
}

public sealed class NoRecords : IDnsRecordSource
{
    public string Name => "fixture";

    public int Order => 100;

    public event EventHandler? Changed { add { } remove { } }

    public DnsLookup Lookup(string name, DnsRecordType type) => DnsLookup.Unknown;
}
