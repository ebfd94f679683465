using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Services;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// Keeps the <see cref="RecordIndex"/> in step with the cluster: prefix watches on <c>services/</c> and
/// <c>lb/names/</c> of the replicated store, and the member list. Each change rewrites the records of the one service,
/// VIP or node it concerns; a node's reachability change rewrites the services with instances on it (their healthy
/// set changed). Queries never read the store. Ready once both watches have delivered their snapshot.
/// </summary>
internal sealed partial class ClusterIndexer : ILifecycleParticipant, IReadinessCheck, IAsyncDisposable
{
    private readonly RecordIndex _index;
    private readonly IReplicatedStore _store;
    private readonly IClusterMembership _membership;
    private readonly ImmutableArray<string> _zones;
    private readonly Func<IReadOnlyList<IPAddress>> _nameServers;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ImmutableArray<ServiceInstance>> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _vips = new(StringComparer.Ordinal);
    private readonly ControlLoops _control;
    private volatile bool _servicesLoaded;
    private volatile bool _vipsLoaded;

    public ClusterIndexer(RecordIndex index, IReplicatedStore store, IClusterMembership membership, IEnumerable<string> zones, Func<IReadOnlyList<IPAddress>> nameServers, ILogger<ClusterIndexer> logger)
    {
        _index = index;
        _store = store;
        _membership = membership;
        _zones = [.. zones];
        _nameServers = nameServers;
        _logger = logger;
        _control = new ControlLoops("DNS index", logger);
    }

    public int Stage => LifecycleStage.Services - 10;

    public string Name => "dns.index";

    public Readiness Check() => _servicesLoaded && _vipsLoaded
        ? Readiness.Ready
        : Readiness.NotReady("the DNS index has not loaded the replicated store yet");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var nameServers = _nameServers();
        foreach (var zone in _zones)
        {
            _index.SetOwner(ClusterRecords.ZoneOwner(zone), ClusterRecords.ForZoneApex(zone, nameServers));
        }

        _control.Start("services", WatchServicesAsync);
        _control.Start("named VIPs", WatchVipsAsync);
        _control.Start("members", WatchMembersAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _control.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _control.DisposeAsync();

    private async Task WatchServicesAsync(CancellationToken cancellationToken)
    {
        // A restarted watch begins with a fresh snapshot: services that are not in it were deleted meanwhile.
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(ServiceCatalog.Prefix, cancellationToken).ConfigureAwait(false))
        {
            if (change.Kind == KvChangeKind.SnapshotComplete)
            {
                lock (_gate)
                {
                    foreach (var gone in _services.Keys.Where(k => !inSnapshot.Contains(k)).ToList())
                    {
                        _services.Remove(gone);
                        IndexService(gone, []);
                    }
                }

                _servicesLoaded = true;
                UpdateLoaded();
                continue;
            }

            if (change.Entry is not { } entry || ServiceCatalog.ServiceOf(entry.Key) is not { } service)
            {
                continue;
            }

            if (change.IsSnapshot)
            {
                inSnapshot.Add(service);
            }

            var instances = ServiceCatalog.Read(entry);
            lock (_gate)
            {
                if (instances.IsEmpty)
                {
                    _services.Remove(service);
                }
                else
                {
                    _services[service] = instances;
                }

                IndexService(service, instances);
            }
        }
    }

    private async Task WatchVipsAsync(CancellationToken cancellationToken)
    {
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(VipNames.Prefix, cancellationToken).ConfigureAwait(false))
        {
            if (change.Kind == KvChangeKind.SnapshotComplete)
            {
                foreach (var gone in _vips.Keys.Where(k => !inSnapshot.Contains(k)).ToList())
                {
                    _vips.Remove(gone, out _);
                    _index.SetOwner(ClusterRecords.VipOwner(gone), []);
                }

                _vipsLoaded = true;
                UpdateLoaded();
                continue;
            }

            if (change.Entry is not { } entry || entry.Key.Segments.Length != 3)
            {
                continue;
            }

            var vip = entry.Key.Segments[2];
            if (change.IsSnapshot)
            {
                inSnapshot.Add(vip);
            }

            var records = VipNames.Read(entry) is var (name, address) ? ClusterRecords.ForVip(name, address, _zones).ToList() : [];
            if (records.Count > 0)
            {
                _vips[vip] = true;
            }
            else
            {
                _vips.Remove(vip, out _);
            }

            _index.SetOwner(ClusterRecords.VipOwner(vip), records);
        }
    }

    private async Task WatchMembersAsync(CancellationToken cancellationToken)
    {
        await foreach (var e in _membership.WatchAsync(cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                var changed = new List<Member>();
                if (e.Change is { } change)
                {
                    if (change.Kind == MembershipChangeKind.Removed)
                    {
                        _members.Remove(change.Member.Name);
                    }
                    else
                    {
                        _members[change.Member.Name] = change.Member;
                    }

                    changed.Add(change.Member);
                }
                else
                {
                    var current = e.Snapshot.ToDictionary(m => m.Name, StringComparer.Ordinal);
                    changed.AddRange(_members.Values.Where(m => !current.ContainsKey(m.Name)));
                    changed.AddRange(e.Snapshot.Where(m => !_members.TryGetValue(m.Name, out var old) || old != m));
                    _members.Clear();
                    foreach (var member in e.Snapshot)
                    {
                        _members[member.Name] = member;
                    }
                }

                foreach (var member in changed)
                {
                    _index.SetOwner(ClusterRecords.NodeOwner(member.Name),
                        _members.TryGetValue(member.Name, out var present) ? ClusterRecords.ForNode(present, _zones) : []);
                }

                var nodes = changed.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
                foreach (var (service, instances) in _services)
                {
                    if (instances.Any(i => nodes.Contains(i.Node)))
                    {
                        IndexService(service, instances);
                    }
                }
            }
        }
    }

    private void UpdateLoaded()
    {
        if (_servicesLoaded && _vipsLoaded)
        {
            _index.IsLoaded = true;
        }
    }

    private void IndexService(string service, ImmutableArray<ServiceInstance> instances) =>
        _index.SetOwner(ClusterRecords.ServiceOwner(service), ClusterRecords.ForService(service, instances, IsReachable, _zones));

    private bool IsReachable(string node) => _members.TryGetValue(node, out var member) && member.IsReachable;

}
