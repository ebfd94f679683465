using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Admin;
using Lashup.Host.Admin;
using Lashup.Host.Configuration;
using Lashup.Host.Lifecycle;
using Lashup.Host.Metrics;
using Lashup.Host.Plugins;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Lashup.Host;

/// <summary>The <c>lashup run</c> and <c>lashup config check</c> commands.</summary>
internal static partial class Daemon
{
    /// <summary>Exit code for bad configuration or input.</summary>
    public const int ExitBadInput = 2;

    /// <summary>Exit code for a failure at run time.</summary>
    public const int ExitFailure = 1;

    /// <summary>Validates a config file as fully as possible without starting anything.</summary>
    public static int Check(string? path, TextWriter stdout, TextWriter stderr, InstallLayout? layout = null)
    {
        var errors = new List<ConfigException>();
        var config = TryLoad(path, errors, layout);
        if (config is not null && errors.Count == 0)
        {
            var declared = new List<(string, Type)>();
            var services = new ServiceCollection();
            services.AddOptions();
            PluginActivator.Activate(config, services, declared, errors);
            PluginActivator.ValidateSections(config, declared, errors);
            if (errors.Count == 0)
            {
                using var provider = services.BuildServiceProvider();
                ValidatePluginOptions(provider, config, errors);
                if (errors.Count == 0)
                {
                    StartupChecks.CheckListenEndpoints(config, provider, declared, errors);
                }
            }

            if (errors.Count == 0 && AdminEndpoint.TryParse(config.Admin.Listen, out var endpoint) && !IsPortFree(endpoint))
            {
                errors.Add(PortInUse(config, endpoint));
            }

            StartupChecks.CheckDataDirectory(config, keepCreated: false, errors);
        }

        foreach (var warning in config?.Warnings ?? [])
        {
            stderr.WriteLine($"warning: {warning}");
        }

        if (errors.Count > 0)
        {
            Report(errors, stderr);
            return ExitBadInput;
        }

        stdout.WriteLine($"{config!.DisplayName}: ok ({config.Selected.Length} plugin(s) selected{(config.Selected.Length == 0 ? string.Empty : ": " + string.Join(", ", config.Selected.Select(s => s.Descriptor)))})");
        return 0;
    }

    /// <summary>Runs the daemon until SIGTERM/SIGINT.</summary>
    public static async Task<int> RunAsync(string? path, TextWriter stderr)
    {
        var errors = new List<ConfigException>();
        var config = TryLoad(path, errors, null);
        if (config is null || errors.Count > 0)
        {
            Report(errors, stderr);
            return ExitBadInput;
        }

        StartupChecks.CheckDataDirectory(config, keepCreated: true, errors);
        if (errors.Count > 0)
        {
            Report(errors, stderr);
            return ExitBadInput;
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "lashup",
            ContentRootPath = config.BaseDirectory,
            Args = [],
        });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddTomlDocument(config.Document);
        ConfigureLogging(builder.Logging, config.Logging);
        // node.shutdown_timeout is at most 1h; clamped all the same, as the host's stop timer throws past a timer's longest period.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromTicks(
            Math.Min(config.Node.ShutdownTimeout.Value.Ticks, OptionsSchemaValidator.MaxTimerPeriod.Value.Ticks)));
        AdminEndpoint.TryParse(config.Admin.Listen, out var adminEndpoint);
        builder.WebHost.ConfigureKestrel(k => k.Listen(adminEndpoint));
        builder.Services.AddSingleton(config);
        builder.Services.AddSingleton(new PrometheusExporter());
        builder.Services.AddSingleton<LifecycleOrchestrator>();
        var notifier = new SystemdNotifier();
        if (notifier.IsEnabled)
        {
            // First, so that it reports "starting" before plugins start and stops after them.
            var watchdog = SystemdNotifications.WatchdogInterval(
                Environment.GetEnvironmentVariable("WATCHDOG_USEC"), Environment.GetEnvironmentVariable("WATCHDOG_PID"), Environment.ProcessId);
            builder.Services.AddHostedService(sp => new SystemdNotifications(
                notifier, Environment.GetEnvironmentVariable("NOTIFY_SOCKET") ?? string.Empty, () => AdminApi.Readiness(sp), sp.GetRequiredService<IHostApplicationLifetime>(), watchdog, TimeProvider.System,
                sp.GetRequiredService<ILogger<SystemdNotifications>>()));
        }

        builder.Services.AddHostedService(sp => sp.GetRequiredService<LifecycleOrchestrator>());
        builder.Services.AddHostedService(sp => new MemoryTrimmer(
            config.Node.MemoryTrimInterval, TimeProvider.System, sp.GetRequiredService<ILogger<MemoryTrimmer>>(), sp.GetRequiredService<IMeterFactory>()));

        var declared = new List<(string, Type)>();
        var activated = PluginActivator.Activate(config, builder.Services, declared, errors);
        PluginActivator.ValidateSections(config, declared, errors);
        if (errors.Count > 0)
        {
            Report(errors, stderr);
            return ExitBadInput;
        }

        var app = builder.Build();
        ValidatePluginOptions(app.Services, config, errors);
        if (errors.Count == 0)
        {
            StartupChecks.CheckListenEndpoints(config, app.Services, declared, errors);
        }

        if (errors.Count > 0)
        {
            Report(errors, stderr);
            await app.DisposeAsync();
            return ExitBadInput;
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Lashup.Host");
        foreach (var warning in config.Warnings)
        {
            LogConfigWarning(logger, warning);
        }

        var plugins = activated.Select(a => new PluginInfo(
            a.Plugin.Descriptor.Capability, a.Plugin.Descriptor.Name, a.Plugin.Descriptor.Version.ToString(3), a.Plugin.Descriptor.Folder)).ToList();
        RegisterHostMetrics(app.Services.GetRequiredService<IMeterFactory>(), plugins);

        try
        {
            AdminApi.Map(app, config, plugins);
            await app.StartAsync();
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            Report([PortInUse(config, adminEndpoint)], stderr);
            await app.DisposeAsync();
            return ExitBadInput;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogStartFailed(logger, e.Message);
            await stderr.WriteLineAsync($"lashup: failed to start: {e.Message}");
            if (notifier.IsEnabled)
            {
                try
                {
                    notifier.Notify(new ServiceState($"STATUS=failed to start: {e.Message.ReplaceLineEndings(" ")}"));
                }
                catch (SocketException)
                {
                }
            }

            await app.DisposeAsync();
            return ExitFailure;
        }

        LogStarted(logger, config.Node.Name, config.Node.Cluster, config.Admin.Listen, string.Join(", ", plugins.Select(p => $"{p.Capability}/{p.Name}")));
        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }

    private static void RegisterHostMetrics(IMeterFactory meters, IReadOnlyList<PluginInfo> plugins)
    {
        var meter = meters.Create("Lashup.Host");
        var started = System.Diagnostics.Stopwatch.StartNew();
        meter.CreateObservableGauge("lashup.host.uptime_seconds", () => started.Elapsed.TotalSeconds, "s", "Seconds since the daemon started");
        meter.CreateObservableGauge("lashup.host.plugins", () => plugins.Select(p => new Measurement<int>(
            1, new KeyValuePair<string, object?>("capability", p.Capability), new KeyValuePair<string, object?>("name", p.Name))),
            description: "Loaded plugins (1 per capability and name)");
    }

    /// <summary>
    /// Runs the plugins' own options validation (what <c>ValidateOnStart</c> would run at start) and reports each
    /// failure as one error, located in the TOML file when the failure starts with the key it is about.
    /// </summary>
    private static void ValidatePluginOptions(IServiceProvider provider, LoadedConfiguration config, List<ConfigException> errors)
    {
        try
        {
            provider.GetService<IStartupValidator>()?.Validate();
        }
        catch (Exception e) when (e is OptionsValidationException or AggregateException)
        {
            var failures = e is AggregateException aggregate
                ? aggregate.Flatten().InnerExceptions.OfType<OptionsValidationException>().SelectMany(x => x.Failures)
                : ((OptionsValidationException)e).Failures;
            foreach (var failure in failures)
            {
                var key = failure.Split(": ", 2)[0];
                var path = System.Text.RegularExpressions.Regex.Replace(key, @"\[(\d+)\]", ":$1").Replace('.', ':');
                errors.Add(new ConfigException(failure, config.Document.Find(path)?.Location, path));
            }
        }
    }

    private static LoadedConfiguration? TryLoad(string? path, List<ConfigException> errors, InstallLayout? layout)
    {
        try
        {
            return ConfigLoader.Load(path, errors, layout);
        }
        catch (ConfigException e)
        {
            errors.Add(e);
            return null;
        }
    }

    private static void Report(IEnumerable<ConfigException> errors, TextWriter stderr)
    {
        foreach (var e in errors)
        {
            stderr.WriteLine($"error: {e.Message}");
        }
    }

    private static ConfigException PortInUse(LoadedConfiguration config, IPEndPoint endpoint) =>
        new($"admin.listen: {endpoint} is already in use by another process; stop it or choose another port",
            config.Document.Find("admin:listen")?.Location, "admin:listen");

    private static bool IsPortFree(IPEndPoint endpoint)
    {
        try
        {
            using var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(endpoint);
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
        catch (SocketException)
        {
            // Not ours to judge here (e.g. an address not on this machine); run reports it.
            return true;
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, LoggingOptions options)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel((LogLevel)(int)options.Level);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        // A start failure is reported once, by the host, in one line; not again with a stack trace.
        logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        if (options.Format == LogFormatOption.Json)
        {
            logging.AddJsonConsole(o => o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ");
        }
        else
        {
            logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
                o.ColorBehavior = LoggerColorBehavior.Disabled;
            });
        }

        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Lashup node {Node} of cluster {Cluster} is up; admin API on {Admin}; plugins: {Plugins}")]
    private static partial void LogStarted(ILogger logger, string node, string cluster, string admin, string plugins);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    private static partial void LogConfigWarning(ILogger logger, string warning);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Failed to start: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, string reason);
}
