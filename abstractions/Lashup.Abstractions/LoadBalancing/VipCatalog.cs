using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Services;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>
/// The service a VIP also takes backends from (<c>lashup vip add VIP --service NAME[:PORT]</c>): every instance of
/// <c>services/&lt;name&gt;</c> with a port of that number and the VIP's protocol, at weight 1, on its node.
/// </summary>
/// <param name="Name">The service name.</param>
/// <param name="Port">The port of the instances to take.</param>
public sealed record VipServiceRef(string Name, ushort Port)
{
    /// <summary>Parses <c>NAME[:PORT]</c>; the port defaults to <paramref name="defaultPort"/> (the VIP's).</summary>
    /// <param name="text">The text.</param>
    /// <param name="defaultPort">The port when none is written.</param>
    /// <param name="service">The reference, when valid.</param>
    /// <param name="error">What is wrong.</param>
    /// <returns>Whether the text is valid.</returns>
    public static bool TryParse(string? text, ushort defaultPort, [NotNullWhen(true)] out VipServiceRef? service, [NotNullWhen(false)] out string? error)
    {
        service = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "a service must not be empty; write NAME[:PORT]";
            return false;
        }

        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        var name = (colon < 0 ? trimmed : trimmed[..colon]).ToLowerInvariant();
        if (!ServiceCatalog.IsValidServiceName(name, out var nameError))
        {
            error = $"service \"{text}\": {nameError}";
            return false;
        }

        var port = defaultPort;
        if (colon >= 0 && (!ushort.TryParse(trimmed.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port == 0))
        {
            error = $"service \"{text}\": the port must be 1 to 65535";
            return false;
        }

        if (port == 0)
        {
            error = $"service \"{text}\": the port must be 1 to 65535";
            return false;
        }

        service = new VipServiceRef(name, port);
        error = null;
        return true;
    }

    /// <summary>The stored form, <c>web:8080</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => Name + ":" + Port.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A VIP as the store holds it (<see cref="VipCatalog.Read"/>): its backends and its service, if any.</summary>
/// <param name="Id">The VIP.</param>
/// <param name="Backends">The backends written for it (not those of its service), ordered by endpoint.</param>
/// <param name="Service">The service it takes backends from, or null.</param>
public sealed record VipDefinition(VipId Id, ImmutableArray<VipBackend> Backends, VipServiceRef? Service);

/// <summary>
/// The layout of VIPs in the replicated store, shared by whatever writes them (the load balancer's admin API, <c>lashup
/// vip</c>) and whatever reads them (the load balancer on every node, vendors' plugins). One key per VIP,
/// <c>lb/vips/&lt;proto&gt;/&lt;addr-or-name&gt;:&lt;port&gt;</c> (<see cref="VipId.ToString"/>), whose value holds a flag
/// <c>vip</c> (the VIP exists, even without backends), a map <c>backends</c> of one map per <c>ADDR:PORT</c> with
/// <c>node</c> and <c>weight</c> (LWW registers), and <c>service</c> (an LWW register, <see cref="VipServiceRef"/>).
/// Adding or changing a backend touches its own fields, so backends written from many nodes merge; removing one removes
/// its field, and a concurrent re-add wins (add-wins map), as for <see cref="ServiceCatalog"/> instances.
/// </summary>
public static class VipCatalog
{
    /// <summary>The largest backend weight.</summary>
    public const int MaxWeight = 1000;

    /// <summary>The weight of a backend added without one.</summary>
    public const int DefaultWeight = 1;

    private const string PresentField = "vip";
    private const string BackendsField = "backends";
    private const string NodeField = "node";
    private const string WeightField = "weight";
    private const string ServiceField = "service";

    /// <summary>The key prefix of all VIPs: <c>lb/vips</c>.</summary>
    public static KvKey Prefix { get; } = KvKey.Parse("lb/vips");

    /// <summary>The key of <paramref name="vip"/>.</summary>
    /// <param name="vip">The VIP.</param>
    /// <returns><c>lb/vips/&lt;proto&gt;/&lt;addr-or-name&gt;:&lt;port&gt;</c>.</returns>
    public static KvKey KeyOf(VipId vip)
    {
        ArgumentNullException.ThrowIfNull(vip);
        return KvKey.Parse(Prefix.Value + "/" + vip);
    }

    /// <summary>The VIP of a key under <see cref="Prefix"/>; null for any other key (or one not in canonical form).</summary>
    /// <param name="key">A key.</param>
    /// <returns>The VIP, or null.</returns>
    public static VipId? IdOf(KvKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return key.Segments.Length == 4 && key.StartsWith(Prefix) && VipId.TryParseKeyText(key.Segments[2] + "/" + key.Segments[3], out var vip)
            ? vip
            : null;
    }

    /// <summary>Whether <paramref name="weight"/> is a valid backend weight (0 to <see cref="MaxWeight"/>; 0 drains).</summary>
    /// <param name="weight">The weight.</param>
    /// <param name="error">Why not.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValidWeight(int weight, [NotNullWhen(false)] out string? error)
    {
        error = weight is >= 0 and <= MaxWeight ? null : $"the weight must be 0 to {MaxWeight} (0 drains), got {weight}";
        return error is null;
    }

    /// <summary>The operations that make the VIP exist (with or without backends).</summary>
    /// <returns>The operations for <see cref="IReplicatedStore.UpdateAsync"/> on <see cref="KeyOf"/>.</returns>
    public static IReadOnlyList<CrdtOp> Declare() => [new FlagEnable([PresentField])];

    /// <summary>
    /// The operations that remove the VIP: every field of <paramref name="current"/> (a backend or service written
    /// concurrently elsewhere survives, add-wins).
    /// </summary>
    /// <param name="current">The VIP's current value.</param>
    /// <returns>The operations; empty when nothing is present.</returns>
    public static IReadOnlyList<CrdtOp> Remove(IMapValue current)
    {
        ArgumentNullException.ThrowIfNull(current);
        return [.. current.Fields.Select(f => new RemoveField([f.Name]))];
    }

    /// <summary>The operations that add a backend, or change its node and weight.</summary>
    /// <param name="backend">The backend.</param>
    /// <returns>The operations.</returns>
    /// <exception cref="ArgumentException">The node is empty or the weight out of range.</exception>
    public static IReadOnlyList<CrdtOp> SetBackend(VipBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend.Endpoint);
        if (string.IsNullOrEmpty(backend.Node))
        {
            throw new ArgumentException("a backend needs the name of its node", nameof(backend));
        }

        if (!IsValidWeight(backend.Weight, out var error))
        {
            throw new ArgumentException(error, nameof(backend));
        }

        var field = VipId.FormatEndpoint(backend.Endpoint);
        return
        [
            new FlagEnable([PresentField]),
            new LwwSet([BackendsField, field, NodeField], backend.Node),
            new LwwSet([BackendsField, field, WeightField], backend.Weight.ToString(CultureInfo.InvariantCulture)),
        ];
    }

    /// <summary>The operation that removes a backend (a concurrent re-add elsewhere wins).</summary>
    /// <param name="endpoint">The backend.</param>
    /// <returns>The operations.</returns>
    public static IReadOnlyList<CrdtOp> RemoveBackend(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return [new RemoveField([BackendsField, VipId.FormatEndpoint(endpoint)])];
    }

    /// <summary>The operations that set the VIP's service, or clear it (null).</summary>
    /// <param name="service">The service, or null.</param>
    /// <returns>The operations.</returns>
    public static IReadOnlyList<CrdtOp> SetService(VipServiceRef? service) =>
        service is null ? [new RemoveField([ServiceField])] : [new FlagEnable([PresentField]), new LwwSet([ServiceField], service.ToString())];

    /// <summary>
    /// Reads a VIP entry. The store is replicated from other nodes, so what is malformed (a backend whose field is not
    /// <c>ADDR:PORT</c>, without a node, with a weight that is not 0 to <see cref="MaxWeight"/>; a service that is not
    /// <c>NAME:PORT</c>) is skipped and counted in <paramref name="malformed"/>, never thrown on.
    /// </summary>
    /// <param name="entry">An entry under <see cref="Prefix"/>.</param>
    /// <param name="malformed">How many parts were skipped (a key that names no VIP counts one).</param>
    /// <returns>The VIP; null for a deleted VIP (nothing present) and for a key that names none.</returns>
    public static VipDefinition? Read(KvEntry entry, out int malformed)
    {
        ArgumentNullException.ThrowIfNull(entry);
        malformed = 0;
        if (entry.IsEmpty)
        {
            return null;
        }

        if (IdOf(entry.Key) is not { } id)
        {
            malformed = 1;
            return null;
        }

        var backends = ImmutableArray.CreateBuilder<VipBackend>();
        foreach (var field in entry.Value.GetMap(BackendsField)?.Fields ?? [])
        {
            if (field.Value is not IMapValue fields
                || !VipId.TryParseEndpoint(field.Name, out var endpoint, out _)
                || VipId.FormatEndpoint(endpoint) != field.Name
                || fields.GetLwwRegister(NodeField)?.Value is not { Length: > 0 } node
                || !int.TryParse(fields.GetLwwRegister(WeightField)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var weight)
                || !IsValidWeight(weight, out _))
            {
                malformed++;
                continue;
            }

            backends.Add(new VipBackend(endpoint, node, weight));
        }

        VipServiceRef? service = null;
        if (entry.Value.GetLwwRegister(ServiceField) is { } register && register.Value is { } text)
        {
            if (text.Contains(':', StringComparison.Ordinal) && VipServiceRef.TryParse(text, id.Port, out var parsed, out _))
            {
                service = parsed;
            }
            else
            {
                malformed++;
            }
        }

        var present = entry.Value.GetFlag(PresentField)?.IsEnabled == true;
        return present || backends.Count > 0 || service is not null
            ? new VipDefinition(id, backends.ToImmutable(), service)
            : null;
    }
}
