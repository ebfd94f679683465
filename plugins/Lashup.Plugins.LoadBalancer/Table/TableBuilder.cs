using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Services;

namespace Lashup.Plugins.LoadBalancer.Table;

/// <summary>How a backend takes part in its VIP on this node.</summary>
internal enum BackendRole
{
    /// <summary>Its node is reachable and its weight above 0: it takes new connections.</summary>
    Active,

    /// <summary>Weight 0: open connections go on, no new ones.</summary>
    Draining,

    /// <summary>Its node is unreachable (or unknown) from here: left out.</summary>
    Excluded,

    /// <summary>Its node is unreachable, but no backend of the VIP is reachable and active, so all are kept.</summary>
    FailOpen,
}

/// <summary>One backend of a VIP with where it came from and its role here.</summary>
/// <param name="Backend">The backend.</param>
/// <param name="Source"><c>backend</c>, or <c>service:NAME</c>.</param>
/// <param name="Role">Its role.</param>
/// <param name="Note">Why it is excluded, when it is.</param>
internal sealed record BackendState(VipBackend Backend, string Source, BackendRole Role, string? Note);

/// <summary>A VIP as this node serves it.</summary>
/// <param name="Definition">The VIP as stored.</param>
/// <param name="Key">Its data-plane key; null while a named VIP has no address.</param>
/// <param name="Reason">Why it has no key.</param>
/// <param name="Backends">Its backends: written ones by endpoint, then its service's.</param>
internal sealed record VipState(VipDefinition Definition, VipKey? Key, string? Reason, ImmutableArray<BackendState> Backends)
{
    public VipId Id => Definition.Id;
}

/// <summary>What this node should serve: every VIP's state (by key text) and the table for the backend.</summary>
internal sealed record DesiredState(ImmutableSortedDictionary<string, VipState> Vips, LoadBalancerTable Table)
{
    public static DesiredState Empty { get; } = new(ImmutableSortedDictionary.Create<string, VipState>(StringComparer.Ordinal), LoadBalancerTable.Empty);
}

/// <summary>
/// Computes the table a node serves from the VIPs in the store, the named VIPs' addresses, the service catalog and the
/// member list. Pure: the same inputs give the same table on every node that sees the same cluster.
/// <list type="bullet">
/// <item>A VIP's backends are those written for it, and with <c>--service NAME[:PORT]</c> every instance of the service
/// that serves that port with the VIP's protocol (weight 1, its node); a written backend wins over an instance at the
/// same address and port. A backend that is the VIP itself is left out.</item>
/// <item>A backend whose node is not reachable (or not a member at all) is excluded; if then no backend is both
/// reachable and weighted above 0, the VIP fails open: its unreachable backends are kept (better a backend that may be
/// up than none).</item>
/// <item>Weight 0 drains: the backend stays in the table at weight 0 (open connections finish, no new ones).</item>
/// <item>A named VIP without an address yet is not in the table; two VIPs on one data-plane key: the first by key
/// text is served, the other reported.</item>
/// </list>
/// </summary>
internal static class TableBuilder
{
    public static DesiredState Build(
        IEnumerable<VipDefinition> vips,
        IReadOnlyDictionary<string, IPAddress> names,
        IReadOnlyDictionary<string, string> nameReasons,
        IReadOnlyDictionary<string, ImmutableArray<ServiceInstance>> services,
        Func<string, bool> isReachable,
        Func<IPAddress, string?>? memberAt = null)
    {
        var states = ImmutableSortedDictionary.CreateBuilder<string, VipState>(StringComparer.Ordinal);
        var entries = ImmutableDictionary.CreateBuilder<VipKey, VipEntry>();
        var owners = new Dictionary<VipKey, VipId>();
        foreach (var definition in vips.OrderBy(v => v.Id.ToString(), StringComparer.Ordinal))
        {
            var state = BuildOne(definition, names, nameReasons, services, isReachable, memberAt);
            if (state.Key is { } key)
            {
                if (owners.TryGetValue(key, out var owner))
                {
                    state = state with { Key = null, Reason = $"{key} is already served for {owner.Display}" };
                }
                else
                {
                    owners[key] = state.Id;
                    entries[key] = new VipEntry(key, [.. state.Backends.Where(b => b.Role != BackendRole.Excluded).Select(b => b.Backend)]);
                }
            }

            states[state.Id.ToString()] = state;
        }

        return new DesiredState(states.ToImmutable(), new LoadBalancerTable(entries.ToImmutable()));
    }

    /// <summary>
    /// One VIP's state (its key may collide with another VIP's; <see cref="Build"/> settles that). A VIP on a member's
    /// address (<paramref name="memberAt"/> names the member at an address) gets no key: its address would be put on
    /// every node's <c>lo</c> and take that member's traffic cluster-wide.
    /// </summary>
    public static VipState BuildOne(
        VipDefinition definition,
        IReadOnlyDictionary<string, IPAddress> names,
        IReadOnlyDictionary<string, string> nameReasons,
        IReadOnlyDictionary<string, ImmutableArray<ServiceInstance>> services,
        Func<string, bool> isReachable,
        Func<IPAddress, string?>? memberAt = null)
    {
        var id = definition.Id;
        VipKey? key = null;
        string? reason = null;
        if (!id.IsNamed)
        {
            key = id.ToKey();
        }
        else if (names.TryGetValue(id.Name, out var address))
        {
            key = id.ToKey(address);
        }
        else
        {
            reason = nameReasons.TryGetValue(id.Name, out var why) ? $"name {id.Name}: {why}" : $"name {id.Name} has no address yet";
        }

        if (key is { } taken && memberAt?.Invoke(taken.Address) is { } member)
        {
            reason = $"{taken.Address} is the address of member {member}; served as a VIP it would take that node's traffic on every node";
            key = null;
        }

        var candidates = new List<(VipBackend Backend, string Source)>();
        var seen = new HashSet<IPEndPoint>();
        foreach (var backend in definition.Backends)
        {
            // VipCatalog.Read checks written backends the same way; this keeps the table safe from any other source.
            if (VipId.IsUsableAddress(backend.Endpoint.Address, out _) && seen.Add(backend.Endpoint))
            {
                candidates.Add((backend, "backend"));
            }
        }

        if (definition.Service is { } service && services.TryGetValue(service.Name, out var instances))
        {
            foreach (var instance in instances.OrderBy(i => i.Instance, StringComparer.Ordinal))
            {
                if (instance.Ports.Any(p => p.Number == service.Port && p.Protocol == id.Protocol)
                    && VipId.IsUsableAddress(instance.Address, out _)
                    && seen.Add(new IPEndPoint(instance.Address, service.Port)))
                {
                    candidates.Add((new VipBackend(new IPEndPoint(instance.Address, service.Port), instance.Node, VipCatalog.DefaultWeight), "service:" + service.Name));
                }
            }
        }

        if (key is { } k)
        {
            // A backend that is the VIP itself would loop connections back into the VIP.
            candidates.RemoveAll(c => c.Backend.Endpoint.Address.Equals(k.Address) && c.Backend.Endpoint.Port == k.Port);
        }

        var reachable = candidates.Select(c => isReachable(c.Backend.Node)).ToList();
        var failOpen = candidates.Count > 0 && !candidates.Where((c, i) => reachable[i] && c.Backend.Weight > 0).Any();
        var backends = ImmutableArray.CreateBuilder<BackendState>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var (backend, source) = candidates[i];
            var role = !reachable[i] && !failOpen ? BackendRole.Excluded
                : backend.Weight == 0 ? BackendRole.Draining
                : reachable[i] ? BackendRole.Active
                : BackendRole.FailOpen;
            var note = role switch
            {
                BackendRole.Excluded => $"node {backend.Node} is not reachable from here",
                BackendRole.FailOpen => $"node {backend.Node} is not reachable, nor is any other backend's: failing open",
                _ => null,
            };
            backends.Add(new BackendState(backend, source, role, note));
        }

        return new VipState(definition, key, reason, backends.MoveToImmutable());
    }
}
