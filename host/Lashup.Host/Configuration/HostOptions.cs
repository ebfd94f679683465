using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Configuration;

/// <summary><c>[node]</c>: who this node is.</summary>
public sealed class NodeOptions
{
    /// <summary>The node's unique name in the cluster.</summary>
    [ConfigurationKeyName("name")]
    public string Name { get; set; } = Environment.MachineName.ToLowerInvariant();

    /// <summary>The cluster's name; frames from other clusters are dropped.</summary>
    [ConfigurationKeyName("cluster")]
    public string Cluster { get; set; } = "lashup";

    /// <summary>
    /// Where durable state lives; relative paths are relative to the config file (to the working directory for the
    /// embedded default, which has no file).
    /// </summary>
    [ConfigurationKeyName("data_dir")]
    public string DataDir { get; set; } = "data";

    /// <summary>How long a graceful stop may take before the host gives up waiting.</summary>
    [ConfigurationKeyName("shutdown_timeout")]
    [Range(typeof(Duration), "1s", "1h")]
    public Duration ShutdownTimeout { get; set; } = Duration.FromSeconds(10);

    /// <summary>
    /// How often the daemon checks whether the GC holds much more memory than it uses after a burst, and returns it
    /// to the system; 0 turns it off.
    /// </summary>
    [ConfigurationKeyName("memory_trim_interval")]
    [Range(typeof(Duration), "0", "1d")]
    public Duration MemoryTrimInterval { get; set; } = Duration.FromSeconds(30);
}

/// <summary><c>[admin]</c>: the admin HTTP API.</summary>
public sealed class AdminOptions
{
    /// <summary>Address and port to listen on; off loopback a token is required.</summary>
    [ConfigurationKeyName("listen")]
    [ListenEndpoint(ListenProtocols.Tcp)]
    public string Listen { get; set; } = "127.0.0.1:9470";

    /// <summary>Bearer token required on every request except /health when set (and always off loopback).</summary>
    [ConfigurationKeyName("token")]
    public string Token { get; set; } = "";
}

/// <summary><c>[plugins]</c>: where plugins are found.</summary>
public sealed class PluginsOptions
{
    /// <summary>
    /// Folders holding one sub-folder per plugin, searched after the host's own plugin folder and the vendor folder
    /// (<see cref="InstallLayout.PluginDirectories"/>); relative paths are relative to the config file.
    /// </summary>
    [ConfigurationKeyName("directories")]
    public List<string> Directories { get; set; } = [];
}

/// <summary>Log verbosity.</summary>
public enum LogLevelOption
{
    /// <summary>Everything.</summary>
    Trace,

    /// <summary>Debugging detail.</summary>
    Debug,

    /// <summary>Normal operation.</summary>
    Information,

    /// <summary>Problems that do not stop the node.</summary>
    Warning,

    /// <summary>Failures.</summary>
    Error,
}

/// <summary>Log line format.</summary>
public enum LogFormatOption
{
    /// <summary>One human-readable line per event.</summary>
    Simple,

    /// <summary>One JSON object per line.</summary>
    Json,
}

/// <summary><c>[logging]</c>.</summary>
public sealed class LoggingOptions
{
    /// <summary>Minimum level.</summary>
    [ConfigurationKeyName("level")]
    public LogLevelOption Level { get; set; } = LogLevelOption.Information;

    /// <summary>Line format.</summary>
    [ConfigurationKeyName("format")]
    public LogFormatOption Format { get; set; } = LogFormatOption.Simple;
}
