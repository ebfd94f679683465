using System.Collections.Immutable;
using System.Net;

namespace Lashup.Plugins.LoadBalancer.Addresses;

/// <summary>
/// Keeps the VIP addresses a backend needs local (<c>ILoadBalancerBackend.NeedsLocalAddresses</c>) on <c>lo</c>: adds
/// what is missing, removes the labelled addresses no VIP uses any more, and says for each address it cannot serve
/// why. Loopback VIPs (127.0.0.0/8, ::1) and addresses the host already has otherwise need nothing. Owned addresses
/// are only ever the labelled ones, so an address someone else put on the host is never removed. Not thread-safe: the
/// controller calls it from its one loop.
/// </summary>
internal sealed class VipAddresses(ILocalAddressTable table)
{
    private HashSet<IPAddress> _owned = [];
    private readonly Dictionary<IPAddress, bool> _foreign = [];

    /// <summary>The labelled addresses as last listed or changed.</summary>
    public IReadOnlySet<IPAddress> Owned => _owned;

    /// <summary>Reads what a previous run left (adopted: kept if still needed, removed otherwise).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (table.Unavailable is null)
        {
            _owned = [.. await table.ListAsync(cancellationToken).ConfigureAwait(false)];
        }
    }

    /// <summary>
    /// Makes the addresses in <paramref name="wanted"/> local where they need to be, adding them to <c>lo</c>.
    /// </summary>
    /// <returns>The addresses that cannot be served, with why; and how many addresses were added.</returns>
    public async Task<(ImmutableDictionary<IPAddress, string> Refused, int Added)> EnsureAsync(IEnumerable<IPAddress> wanted, CancellationToken cancellationToken)
    {
        var refused = ImmutableDictionary.CreateBuilder<IPAddress, string>();
        var missing = new List<IPAddress>();
        foreach (var address in wanted.Distinct())
        {
            if (!NeedsAdding(address))
            {
                continue;
            }

            if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            {
                refused[address] = "it is not an address of this host, and Lashup adds only IPv4 VIP addresses to lo (IPv6 addresses have no label to mark them as its own); add it to an interface";
            }
            else if (table.Unavailable is { } why)
            {
                refused[address] = why;
            }
            else
            {
                missing.Add(address);
            }
        }

        if (missing.Count > 0)
        {
            try
            {
                await table.AddAsync(missing, cancellationToken).ConfigureAwait(false);
                _owned.UnionWith(missing);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
            {
                foreach (var address in missing)
                {
                    refused[address] = $"adding it to lo failed: {e.Message}";
                }
            }
        }

        return (refused.ToImmutable(), missing.Count - refused.Count(r => missing.Contains(r.Key)));
    }

    /// <summary>Removes the labelled addresses that are not in <paramref name="wanted"/>; returns how many.</summary>
    public async Task<int> ReleaseUnusedAsync(IEnumerable<IPAddress> wanted, CancellationToken cancellationToken)
    {
        var keep = wanted.ToHashSet();
        var stale = _owned.Where(a => !keep.Contains(a)).ToList();
        if (stale.Count == 0 || table.Unavailable is not null)
        {
            return 0;
        }

        await table.RemoveAsync(stale, cancellationToken).ConfigureAwait(false);
        _owned.ExceptWith(stale);
        return stale.Count;
    }

    /// <summary>Lists the labelled addresses again and repairs drift: re-adds wanted ones that went, removes unwanted ones. Returns the repairs.</summary>
    public async Task<(ImmutableDictionary<IPAddress, string> Refused, int Repairs)> ReconcileAsync(IReadOnlyCollection<IPAddress> wanted, CancellationToken cancellationToken)
    {
        _foreign.Clear();
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        var (refused, added) = await EnsureAsync(wanted, cancellationToken).ConfigureAwait(false);
        var removed = await ReleaseUnusedAsync(wanted, cancellationToken).ConfigureAwait(false);
        return (refused, added + removed);
    }

    /// <summary>Removes every labelled address (the load balancer stops without keep_on_stop, or its backend needs none).</summary>
    public Task<int> RemoveAllAsync(CancellationToken cancellationToken) => ReleaseUnusedAsync([], cancellationToken);

    private bool NeedsAdding(IPAddress address)
    {
        if (IPAddress.IsLoopback(address) || _owned.Contains(address))
        {
            return false;
        }

        if (!_foreign.TryGetValue(address, out var local))
        {
            local = table.IsLocal(address);
            _foreign[address] = local;
        }

        return !local;
    }
}
