using System.Net;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core;

/// <summary>Checks <c>[core]</c> before anything starts; each failure names its key.</summary>
internal sealed class CoreOptionsValidator : IValidateOptions<CoreOptions>
{
    public ValidateOptionsResult Validate(string? name, CoreOptions o)
    {
        var errors = new List<string>();
        if (!TryEndpoint(o.Listen, allowAny: true, allowPortZero: true))
        {
            errors.Add($"core.listen: expected \"address:port\" such as \"127.0.0.1:7470\", got \"{o.Listen}\"");
        }

        if (o.Advertise.Length > 0 && !TryEndpoint(o.Advertise, allowAny: false, allowPortZero: false))
        {
            errors.Add($"core.advertise: expected the \"address:port\" other nodes reach this one at (not a wildcard), got \"{o.Advertise}\"");
        }
        else if (o.Advertise.Length == 0 && IPEndPoint.TryParse(o.Listen, out var listen)
                 && (listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any)))
        {
            errors.Add($"core.advertise: core.listen is the wildcard {o.Listen}, so set advertise to the address other nodes reach this one at");
        }

        for (var i = 0; i < o.Seeds.Count; i++)
        {
            if (!TryEndpoint(o.Seeds[i], allowAny: false, allowPortZero: false))
            {
                errors.Add($"core.seeds[{i}]: expected \"address:port\" such as \"127.0.0.1:7470\", got \"{o.Seeds[i]}\"");
            }
        }

        Positive(errors, "core.active_view_size", o.ActiveViewSize, 1, 64);
        Positive(errors, "core.passive_view_size", o.PassiveViewSize, 1, 1024);
        Positive(errors, "core.active_random_walk_length", o.ActiveRandomWalkLength, 1, MessageValidator.MaxTimeToLive);
        Positive(errors, "core.passive_random_walk_length", o.PassiveRandomWalkLength, 1, MessageValidator.MaxTimeToLive);
        Positive(errors, "core.shuffle_walk_length", o.ShuffleWalkLength, 1, MessageValidator.MaxTimeToLive);
        Positive(errors, "core.indirect_probes", o.IndirectProbes, 0, 16);
        Positive(errors, "core.suspicion_rounds", o.SuspicionRounds, 1, 16);
        Positive(errors, "core.max_joins_per_second", o.MaxJoinsPerSecond, 1, 1_000_000);
        Positive(errors, "core.max_datagram_size", o.MaxDatagramSize, 1200, 65_000);
        Positive(errors, "core.max_stream_frame_size", o.MaxStreamFrameSize, 65_536, 256 * 1024 * 1024);
        if (o.PassiveRandomWalkLength > o.ActiveRandomWalkLength)
        {
            errors.Add($"core.passive_random_walk_length: must not exceed active_random_walk_length ({o.ActiveRandomWalkLength}), got {o.PassiveRandomWalkLength}");
        }

        foreach (var (key, value) in new (string, TimeSpan)[]
                 {
                     ("shuffle_interval_fast", o.ShuffleIntervalFast), ("shuffle_interval", o.ShuffleInterval),
                     ("join_retry_interval", o.JoinRetryInterval), ("probe_interval", o.ProbeInterval),
                     ("probe_timeout_min", o.ProbeTimeoutMin), ("probe_timeout_max", o.ProbeTimeoutMax),
                     ("gm_refresh_interval", o.GmRefreshInterval), ("gm_sync_interval", o.GmSyncInterval),
                     ("relink_interval", o.RelinkInterval), ("expire_after", o.ExpireAfter),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"core.{key}: must be longer than zero");
            }
        }

        if (o.PruneMarkerTtl.Value < 2 * o.ExpireAfter.Value)
        {
            // A node away for half of prune_marker_ttl discards its replica at start; below expire_after it would
            // discard writes that no prune collected yet. And a member may stay unreachable for up to expire_after and
            // still come back with the pruned node's entries: the marker must outlive that.
            errors.Add($"core.prune_marker_ttl: must be at least twice expire_after ({new Lashup.Abstractions.Configuration.Duration(2 * o.ExpireAfter.Value)}), got {o.PruneMarkerTtl}");
        }

        if (o.ProbeTimeoutMin.Value > o.ProbeTimeoutMax.Value)
        {
            errors.Add($"core.probe_timeout_min: must not exceed probe_timeout_max ({o.ProbeTimeoutMax})");
        }

        if (o.MaxValueSize > o.MaxStreamFrameSize / 2)
        {
            // A value travels whole in anti-entropy, in one TCP frame with its key and version vector (pruning markers
            // keep to the same half): a larger one could be written here but never reach another node.
            errors.Add($"core.max_value_size: must be at most half of max_stream_frame_size ({o.MaxStreamFrameSize / 2}), got {o.MaxValueSize}");
        }

        try
        {
            Keyring.Parse(o.Keyring)?.Dispose();
        }
        catch (FormatException e)
        {
            errors.Add(e.Message);
        }

        foreach (var (key, value) in o.Metadata)
        {
            if (key.Length is 0 or > MessageValidator.MaxMetadataKeyLength || value.Length > MessageValidator.MaxMetadataValueLength)
            {
                errors.Add($"core.metadata.{key}: keys are 1-{MessageValidator.MaxMetadataKeyLength} characters and values at most {MessageValidator.MaxMetadataValueLength}");
            }
        }

        if (o.Metadata.Count > MessageValidator.MaxMetadataEntries - 8)
        {
            errors.Add($"core.metadata: at most {MessageValidator.MaxMetadataEntries - 8} entries");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool TryEndpoint(string text, bool allowAny, bool allowPortZero) =>
        text.Contains(':', StringComparison.Ordinal) && IPEndPoint.TryParse(text, out var ep)
        && (allowPortZero || ep.Port != 0)
        && (allowAny || !(ep.Address.Equals(IPAddress.Any) || ep.Address.Equals(IPAddress.IPv6Any)));

    private static void Positive(List<string> errors, string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key}: must be between {min} and {max}, got {value}");
        }
    }
}
