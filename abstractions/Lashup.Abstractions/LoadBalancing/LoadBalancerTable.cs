using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Networking;

namespace Lashup.Abstractions.LoadBalancing;

/// <summary>A virtual service as the data plane sees it: an address and port clients connect to.</summary>
/// <param name="Address">The virtual IP (a named VIP's allocated address).</param>
/// <param name="Port">The port.</param>
/// <param name="Protocol">The protocol.</param>
public readonly record struct VipKey(IPAddress Address, ushort Port, TransportProtocol Protocol)
{
    /// <summary>Formats as <c>tcp/11.0.0.1:80</c> (IPv6 in brackets).</summary>
    public override string ToString() =>
        $"{TransportProtocols.Name(Protocol)}/{new IPEndPoint(Address, Port)}";
}

/// <summary>One real server behind a VIP.</summary>
/// <param name="Endpoint">The backend's address and port.</param>
/// <param name="Node">The node that registered it (its reachability steers traffic).</param>
/// <param name="Weight">Relative weight, 0 to <see cref="VipCatalog.MaxWeight"/>; 0 means draining (no new connections, existing ones finish).</param>
public readonly record struct VipBackend(IPEndPoint Endpoint, string Node, int Weight);

/// <summary>
/// The backends of one VIP as the data plane should program them. Two entries are equal when they have the same VIP
/// and the same backends, in any order (value equality, not the arrays' references), so a table change can be compared
/// entry by entry (<see cref="LoadBalancerDelta.Between"/>).
/// </summary>
/// <param name="Vip">The VIP.</param>
/// <param name="Backends">Its backends, already filtered for reachability (failing open when none is reachable).</param>
public sealed record VipEntry(VipKey Vip, ImmutableArray<VipBackend> Backends)
{
    /// <summary>Whether <paramref name="other"/> has the same VIP and the same backends (in any order).</summary>
    /// <param name="other">The other entry.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(VipEntry? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        var mine = Backends.IsDefault ? [] : Backends;
        var theirs = other.Backends.IsDefault ? [] : other.Backends;
        if (Vip != other.Vip || mine.Length != theirs.Length)
        {
            return false;
        }

        if (mine.AsSpan().SequenceEqual(theirs.AsSpan()))
        {
            return true;
        }

        var set = new HashSet<VipBackend>(mine);
        return set.SetEquals(theirs);
    }

    /// <summary>A hash that does not depend on the backends' order.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode()
    {
        var hash = 0;
        foreach (var backend in Backends.IsDefault ? [] : Backends)
        {
            hash ^= backend.GetHashCode();
        }

        return HashCode.Combine(Vip, Backends.IsDefault ? 0 : Backends.Length, hash);
    }
}

/// <summary>The whole desired load-balancer state of this node. Immutable.</summary>
/// <param name="Vips">Every VIP with its backends, keyed by VIP.</param>
public sealed record LoadBalancerTable(ImmutableDictionary<VipKey, VipEntry> Vips)
{
    /// <summary>No VIPs.</summary>
    public static LoadBalancerTable Empty { get; } = new(ImmutableDictionary<VipKey, VipEntry>.Empty);

    /// <summary>A table of <paramref name="entries"/> (the last of two entries for one VIP wins).</summary>
    /// <param name="entries">The entries.</param>
    /// <returns>The table.</returns>
    public static LoadBalancerTable From(IEnumerable<VipEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var builder = ImmutableDictionary.CreateBuilder<VipKey, VipEntry>();
        foreach (var entry in entries)
        {
            builder[entry.Vip] = entry;
        }

        return new LoadBalancerTable(builder.ToImmutable());
    }
}

/// <summary>
/// What changed between two tables, by value: the entries to add or replace and the VIPs to remove. A data plane
/// applies only this (<see cref="ILoadBalancerBackend.ApplyAsync"/>); an entry whose backends are equal in another
/// order is not a change.
/// </summary>
/// <param name="Table">The whole table after the change.</param>
/// <param name="Upserted">Entries that are new or differ from the previous table's, ordered by VIP text.</param>
/// <param name="Removed">VIPs of the previous table that the new one does not have, ordered by VIP text.</param>
public sealed record LoadBalancerDelta(LoadBalancerTable Table, ImmutableArray<VipEntry> Upserted, ImmutableArray<VipKey> Removed)
{
    /// <summary>Whether nothing changed.</summary>
    public bool IsEmpty => Upserted.IsDefaultOrEmpty && Removed.IsDefaultOrEmpty;

    /// <summary>Compares two tables entry by entry, by value.</summary>
    /// <param name="previous">The table programmed now.</param>
    /// <param name="current">The table wanted.</param>
    /// <returns>The change from <paramref name="previous"/> to <paramref name="current"/>.</returns>
    public static LoadBalancerDelta Between(LoadBalancerTable previous, LoadBalancerTable current)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(current);
        var upserted = new List<VipEntry>();
        foreach (var (vip, entry) in current.Vips)
        {
            if (!previous.Vips.TryGetValue(vip, out var old) || !old.Equals(entry))
            {
                upserted.Add(entry);
            }
        }

        var removed = previous.Vips.Keys.Where(k => !current.Vips.ContainsKey(k)).ToList();
        return new LoadBalancerDelta(
            current,
            [.. upserted.OrderBy(e => e.Vip.ToString(), StringComparer.Ordinal)],
            [.. removed.OrderBy(k => k.ToString(), StringComparer.Ordinal)]);
    }
}
