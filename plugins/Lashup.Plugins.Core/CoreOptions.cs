using System.ComponentModel.DataAnnotations;
using Lashup.Abstractions.Configuration;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Configuration;

namespace Lashup.Plugins.Core;

/// <summary><c>[core]</c>: the gossip control plane. Defaults are sized for clusters of up to 10,000 nodes.</summary>
public sealed class CoreOptions
{
    /// <summary>UDP and TCP address the node listens on for other nodes.</summary>
    [ConfigurationKeyName("listen")]
    [ListenEndpoint(ListenProtocols.Udp | ListenProtocols.Tcp)]
    public string Listen { get; set; } = "127.0.0.1:7470";

    /// <summary>Address other nodes reach this one at; empty means <see cref="Listen"/>.</summary>
    [ConfigurationKeyName("advertise")]
    public string Advertise { get; set; } = "";

    /// <summary>Addresses (ip:port) of nodes to join through; tried in turn until one answers.</summary>
    [ConfigurationKeyName("seeds")]
    public List<string> Seeds { get; set; } = [];

    /// <summary>Active view size (symmetric neighbours). Lashup: log10(10000) + 3.</summary>
    [ConfigurationKeyName("active_view_size")]
    [Range(1, 64)]
    public int ActiveViewSize { get; set; } = 7;

    /// <summary>Passive view size (backup peers).</summary>
    [ConfigurationKeyName("passive_view_size")]
    [Range(1, 1024)]
    public int PassiveViewSize { get; set; } = 42;

    /// <summary>Active random walk length of a forward-join.</summary>
    [ConfigurationKeyName("active_random_walk_length")]
    [Range(1, MessageValidator.MaxTimeToLive)]
    public int ActiveRandomWalkLength { get; set; } = 8;

    /// <summary>Passive random walk length: a forward-join adds the joiner to the passive view at this hop count.</summary>
    [ConfigurationKeyName("passive_random_walk_length")]
    [Range(1, MessageValidator.MaxTimeToLive)]
    public int PassiveRandomWalkLength { get; set; } = 5;

    /// <summary>Hops of a shuffle's random walk.</summary>
    [ConfigurationKeyName("shuffle_walk_length")]
    [Range(1, MessageValidator.MaxTimeToLive)]
    public int ShuffleWalkLength { get; set; } = 5;

    /// <summary>Shuffle period while the passive view is under half full.</summary>
    [ConfigurationKeyName("shuffle_interval_fast")]
    [Range(typeof(Duration), "100ms", "1h")]
    public Duration ShuffleIntervalFast { get; set; } = Duration.FromSeconds(5);

    /// <summary>Shuffle period once the passive view is at least half full.</summary>
    [ConfigurationKeyName("shuffle_interval")]
    [Range(typeof(Duration), "100ms", "1h")]
    public Duration ShuffleInterval { get; set; } = Duration.FromSeconds(60);

    /// <summary>Seeds are retried every this long (plus up to as much jitter) until one answers.</summary>
    [ConfigurationKeyName("join_retry_interval")]
    [Range(typeof(Duration), "100ms", "10m")]
    public Duration JoinRetryInterval { get; set; } = Duration.FromSeconds(1);

    /// <summary>Every active neighbour is probed about once per this period.</summary>
    [ConfigurationKeyName("probe_interval")]
    [Range(typeof(Duration), "100ms", "1m")]
    public Duration ProbeInterval { get; set; } = Duration.FromSeconds(1);

    /// <summary>Lower bound of the RTT-adaptive probe timeout.</summary>
    [ConfigurationKeyName("probe_timeout_min")]
    [Range(typeof(Duration), "10ms", "1m")]
    public Duration ProbeTimeoutMin { get; set; } = Duration.FromMilliseconds(250);

    /// <summary>Upper bound of the RTT-adaptive probe timeout.</summary>
    [ConfigurationKeyName("probe_timeout_max")]
    [Range(typeof(Duration), "10ms", "1m")]
    public Duration ProbeTimeoutMax { get; set; } = Duration.FromSeconds(2);

    /// <summary>Other nodes asked to probe a neighbour that missed a direct probe.</summary>
    [ConfigurationKeyName("indirect_probes")]
    [Range(0, 16)]
    public int IndirectProbes { get; set; } = 3;

    /// <summary>Failed probe rounds (direct and indirect) in a row before a neighbour is declared failed.</summary>
    [ConfigurationKeyName("suspicion_rounds")]
    [Range(1, 16)]
    public int SuspicionRounds { get; set; } = 3;

    /// <summary>Each node re-floods its own adjacency this often even without change.</summary>
    [ConfigurationKeyName("gm_refresh_interval")]
    [Range(typeof(Duration), "1s", "1d")]
    public Duration GmRefreshInterval { get; set; } = new(TimeSpan.FromMinutes(5));

    /// <summary>Anti-entropy of the member graph with one random neighbour this often.</summary>
    [ConfigurationKeyName("gm_sync_interval")]
    [Range(typeof(Duration), "100ms", "1h")]
    public Duration GmSyncInterval { get; set; } = Duration.FromSeconds(30);

    /// <summary>A random unreachable node is re-linked this often (so healed partitions re-merge).</summary>
    [ConfigurationKeyName("relink_interval")]
    [Range(typeof(Duration), "100ms", "1h")]
    public Duration RelinkInterval { get; set; } = Duration.FromSeconds(12);

    /// <summary>Unreachable nodes are forgotten after this long.</summary>
    [ConfigurationKeyName("expire_after")]
    [Range(typeof(Duration), "10s", "24d")]
    public Duration ExpireAfter { get; set; } = new(TimeSpan.FromHours(24));

    /// <summary>A node accepts at most this many joins per second; over it, joiners are sent elsewhere.</summary>
    [ConfigurationKeyName("max_joins_per_second")]
    [Range(1, 1_000_000)]
    public int MaxJoinsPerSecond { get; set; } = 50;

    /// <summary>Largest UDP frame sent or accepted, in bytes.</summary>
    [ConfigurationKeyName("max_datagram_size")]
    [Range(1200, 65_000)]
    public int MaxDatagramSize { get; set; } = 60_000;

    /// <summary>Largest TCP frame accepted, in bytes.</summary>
    [ConfigurationKeyName("max_stream_frame_size")]
    [Range(65_536, 256 * 1024 * 1024)]
    public int MaxStreamFrameSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Anti-entropy of the replicated store with one random neighbour this often.</summary>
    [ConfigurationKeyName("kv_sync_interval")]
    [Range(typeof(Duration), "100ms", "1h")]
    public Duration KvSyncInterval { get; set; } = Duration.FromSeconds(5);

    /// <summary>
    /// How long a pruning marker (the record that a departed node's entries were collected) is kept after the prune,
    /// so that every replica learns it and cleans what it merges; then it is deleted, and the departed replica retired
    /// for good in the departure record. At least twice <c>expire_after</c>.
    /// </summary>
    [ConfigurationKeyName("prune_marker_ttl")]
    [Range(typeof(Duration), "20s", "48d")]
    public Duration PruneMarkerTtl { get; set; } = new(TimeSpan.FromHours(48));

    /// <summary>Largest encoded value of one key of the replicated store, in bytes.</summary>
    [ConfigurationKeyName("max_value_size")]
    [Range(1024, 128 * 1024 * 1024)]
    public int MaxValueSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// AES-GCM keys, base64 of 16, 24 or 32 bytes. The first encrypts; all decrypt, so a key rotates in three steps
    /// (add it second everywhere, move it first everywhere, drop the old one). Empty: no encryption.
    /// </summary>
    [ConfigurationKeyName("keyring")]
    public List<string> Keyring { get; set; } = [];

    /// <summary>Metadata this node publishes about itself (e.g. <c>zone = "a"</c>).</summary>
    [ConfigurationKeyName("metadata")]
    public Dictionary<string, string> Metadata { get; set; } = [];
}
