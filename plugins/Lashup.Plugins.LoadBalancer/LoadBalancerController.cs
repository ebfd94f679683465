using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Services;
using Lashup.Plugins.LoadBalancer.Addresses;
using Lashup.Plugins.LoadBalancer.Leftovers;
using Lashup.Plugins.LoadBalancer.Names;
using Lashup.Plugins.LoadBalancer.Table;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.LoadBalancer;

/// <summary>What the controller last applied, for the admin API and the metrics.</summary>
/// <param name="Desired">The table computed from the store and the member list, with each VIP's state.</param>
/// <param name="Refused">VIP addresses that could not be made local, with why (their VIPs are left out of the table).</param>
/// <param name="Applied">The table handed to the backend.</param>
internal sealed record ControllerSnapshot(DesiredState Desired, ImmutableDictionary<IPAddress, string> Refused, LoadBalancerTable Applied)
{
    public static ControllerSnapshot Empty { get; } = new(DesiredState.Empty, ImmutableDictionary<IPAddress, string>.Empty, LoadBalancerTable.Empty);
}

/// <summary>Counters of the controller, read by the metrics.</summary>
internal sealed class ControllerStats
{
    public long DriftRepaired;
    public long Applies;
    public long Reconciles;
    public long Failures;
    public int Malformed;
}

/// <summary>
/// The load balancer of one node. Watches <c>lb/vips</c>, <c>lb/names</c> and <c>services</c> in the replicated store
/// and the member list; nothing is applied before every watch has delivered its snapshot and the member list its first
/// one, so a start never replaces working rules with a partial table. Then, in one loop: the first pass reconciles
/// (the backend adopts what a previous run left and repairs it), every change after that computes the table again
/// and hands the backend only what differs (compared by value), and every <c>reconcile_interval</c> the backend and the
/// VIP addresses on <c>lo</c> are re-read and repaired. Named VIPs without an address, or on an address another name
/// claimed first, are (re)claimed here: every node computes the same claims, so any node may write them.
/// </summary>
internal sealed partial class LoadBalancerController : ILifecycleParticipant, IReadinessCheck, IAsyncDisposable
{
    /// <summary>A name no VIP uses is released after this long (a VIP and its name's claim arrive as two writes).</summary>
    internal static readonly TimeSpan OrphanGrace = TimeSpan.FromSeconds(60);

    /// <summary>A claim written is not written again before this long unless it changes.</summary>
    private static readonly TimeSpan ClaimRetry = TimeSpan.FromSeconds(10);

    /// <summary>After a failed apply, the next pass (a full reconcile) comes this soon.</summary>
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(1);

    private readonly IReplicatedStore _store;
    private readonly IClusterMembership _membership;
    private readonly ILoadBalancerBackend _backend;
    private readonly VipAddresses _addresses;
    private readonly IPNetwork _range;
    private readonly TimeSpan _reconcileInterval;
    private readonly bool _keepOnStop;
    private readonly string? _stateDirectory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, VipDefinition> _vips = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _malformed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, VipNameClaim> _claims = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ImmutableArray<ServiceInstance>> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (IPAddress Address, long At)> _claimsWritten = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _orphanSince = new(StringComparer.Ordinal);
    private readonly ControlLoops _control;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private NameAllocation _allocation = new(ImmutableDictionary<string, IPAddress>.Empty, ImmutableDictionary<string, IPAddress>.Empty, ImmutableDictionary<string, string>.Empty);
    private readonly Dictionary<string, (VersionVector Version, long Sequence)> _observed = new(StringComparer.Ordinal);
    private long _sequence;
    private long _appliedSequence;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile ControllerSnapshot _snapshot = ControllerSnapshot.Empty;
    private volatile bool _ready;
    private volatile bool _reconcileDue;
    private bool _vipsLoaded;
    private bool _namesLoaded;
    private bool _servicesLoaded;
    private bool _membersLoaded;

    public LoadBalancerController(
        IReplicatedStore store,
        IClusterMembership membership,
        ILoadBalancerBackend backend,
        ILocalAddressTable addresses,
        LoadBalancerOptions options,
        string? stateDirectory,
        TimeProvider time,
        ILogger<LoadBalancerController> logger)
    {
        _store = store;
        _membership = membership;
        _backend = backend;
        _addresses = new VipAddresses(addresses);
        _range = LoadBalancerOptionsValidator.TryParseRange(options.NamedVipRange, out var range, out var error)
            ? range
            : throw new InvalidOperationException($"loadbalancer.named_vip_range: {error}");
        _reconcileInterval = options.ReconcileInterval;
        _keepOnStop = options.KeepOnStop;
        _stateDirectory = stateDirectory;
        _time = time;
        _logger = logger;
        _control = new ControlLoops("Load balancer", logger, time);
    }

    public int Stage => LifecycleStage.Dataplane;

    public string Name => "loadbalancer";

    public ControllerStats Stats { get; } = new();

    /// <summary>What was last applied.</summary>
    public ControllerSnapshot Snapshot => _snapshot;

    /// <summary>The backend this controller drives.</summary>
    public ILoadBalancerBackend Backend => _backend;

    /// <summary>The named VIP range.</summary>
    public IPNetwork Range => _range;

    /// <summary>Completes once the first table has been applied (tests wait for it).</summary>
    public Task Loaded => _loaded.Task;

    public Readiness Check() => _ready
        ? Readiness.Ready
        : Readiness.NotReady("the load balancer has not read the replicated store and the member list whole yet");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _backend.EnsureSupportedAsync(cancellationToken).ConfigureAwait(false);
        _control.Start("VIPs", WatchVipsAsync);
        _control.Start("named VIPs", WatchNamesAsync);
        _control.Start("services", WatchServicesAsync);
        _control.Start("members", WatchMembersAsync);
        _control.Start("the apply loop", ApplyLoopAsync);
        _control.StartTimer("the reconcile timer", _reconcileInterval, () =>
        {
            _reconcileDue = true;
            _control.Signal();
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _control.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!_keepOnStop && _ready)
        {
            try
            {
                await _backend.ClearAsync(cancellationToken).ConfigureAwait(false);
                await _addresses.RemoveAllAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogClearFailed(_logger, e);
            }
        }
    }

    public ValueTask DisposeAsync() => _control.DisposeAsync();

    /// <summary>The state of <paramref name="definitions"/> as this node would serve them now (for the admin API).</summary>
    public List<(VipState State, string? Reason)> Describe(IEnumerable<VipDefinition> definitions)
    {
        var snapshot = _snapshot;
        var result = new List<(VipState, string?)>();
        lock (_gate)
        {
            foreach (var definition in definitions)
            {
                var state = TableBuilder.BuildOne(definition, _allocation.Resolved, _allocation.Unresolved, _services, IsReachable, MemberAt);
                string? reason = null;
                if (snapshot.Desired.Vips.TryGetValue(definition.Id.ToString(), out var applied) && applied.Key is null && applied.Reason is not null)
                {
                    state = state with { Key = null, Reason = applied.Reason };
                }
                else if (state.Key is { } key && snapshot.Refused.TryGetValue(key.Address, out var refused))
                {
                    reason = $"{key.Address}: {refused}";
                }

                result.Add((state, reason));
            }
        }

        return result;
    }

    /// <summary>
    /// The address a new named VIP would get, for the admin API's <c>vip add</c> (which writes the claim before the VIP,
    /// so that the name resolves at once): the name's current claim if it holds one, else the first free address.
    /// </summary>
    /// <returns>The address, whether it is already claimed, or null when the range is exhausted.</returns>
    public (IPAddress? Address, bool Claimed) AddressFor(string name)
    {
        lock (_gate)
        {
            if (_allocation.Resolved.TryGetValue(name, out var held))
            {
                return (held, true);
            }

            if (_claims.TryGetValue(name, out var claim) && _range.Contains(claim.Address)
                && !_claims.Values.Any(c => c.Name != name && c.Address.Equals(claim.Address)))
            {
                return (claim.Address, true);
            }

            var taken = _claims.Values.Where(c => c.Name != name).Select(c => c.Address)
                .Concat(_allocation.Writes.Where(w => w.Key != name).Select(w => w.Value))
                .ToHashSet();
            return (NamedVipAllocator.FirstFree(name, _range, taken), false);
        }
    }

    /// <summary>Whether no VIP other than <paramref name="except"/> uses <paramref name="name"/>.</summary>
    public bool IsLastOfName(string name, VipId except)
    {
        lock (_gate)
        {
            return !_vips.Values.Any(v => v.Id.Name == name && v.Id != except);
        }
    }

    /// <summary>
    /// Waits until the watches have delivered <paramref name="written"/> (entries this node just wrote) and a pass that
    /// includes them has been applied, so that the admin API answers a write with the state it led to. Returns false
    /// without waiting while the controller has not loaded, and after <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> WaitAppliedAsync(IReadOnlyCollection<KvEntry> written, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        _control.Signal();
        while (_ready)
        {
            Task progress;
            lock (_gate)
            {
                var needed = 0L;
                var seen = true;
                foreach (var entry in written)
                {
                    if (_observed.TryGetValue(entry.Key.Value, out var observed) && Covers(observed.Version, entry.Version))
                    {
                        needed = Math.Max(needed, observed.Sequence);
                    }
                    else
                    {
                        seen = false;
                    }
                }

                if (seen && Volatile.Read(ref _appliedSequence) >= needed)
                {
                    return true;
                }

                progress = _progress.Task;
            }

            try
            {
                await progress.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }

        return false;
    }

    private static bool Covers(VersionVector seen, VersionVector written) =>
        written.Entries.All(e => seen[e.Key] >= e.Value);

    /// <summary>Records that a watch delivered <paramref name="entry"/>; called under the gate.</summary>
    private void Observe(KvEntry entry)
    {
        _observed[entry.Key.Value] = (entry.Version, ++_sequence);
        if (_observed.Count > 1024 + (2 * (_vips.Count + _claims.Count)))
        {
            // Keys deleted long ago (applied, and no longer a VIP or a claim) need not be remembered.
            var applied = Volatile.Read(ref _appliedSequence);
            foreach (var key in _observed.Where(o => o.Value.Sequence <= applied).Select(o => o.Key).ToList())
            {
                if (!_vips.ContainsKey(key) && !_malformed.ContainsKey(key) && !(VipNames.NameOf(KvKey.Parse(key)) is { } name && _claims.ContainsKey(name)))
                {
                    _observed.Remove(key);
                }
            }
        }

        Progress();
    }

    /// <summary>Wakes <see cref="WaitAppliedAsync"/>; called under the gate.</summary>
    private void Progress()
    {
        var progress = _progress;
        _progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        progress.TrySetResult();
    }

    // ---- watches: each updates the model under the gate and wakes the apply loop ----

    private async Task WatchVipsAsync(CancellationToken cancellationToken)
    {
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(VipCatalog.Prefix, cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (change.Kind == KvChangeKind.SnapshotComplete)
                {
                    // A restarted watch begins with a fresh snapshot: VIPs not in it were deleted meanwhile.
                    foreach (var gone in _vips.Keys.Concat(_malformed.Keys).Where(k => !inSnapshot.Contains(k)).ToList())
                    {
                        _vips.Remove(gone);
                        _malformed.Remove(gone);
                    }

                    _vipsLoaded = true;
                }
                else if (change.Entry is { } entry)
                {
                    Observe(entry);
                    var key = entry.Key.Value;
                    if (change.IsSnapshot)
                    {
                        inSnapshot.Add(key);
                    }

                    var definition = VipCatalog.Read(entry, out var malformed);
                    if (definition is null)
                    {
                        _vips.Remove(key);
                    }
                    else
                    {
                        _vips[key] = definition;
                    }

                    if (malformed > 0)
                    {
                        _malformed[key] = malformed;
                    }
                    else
                    {
                        _malformed.Remove(key);
                    }
                }

                UpdateMalformed();
            }

            _control.Signal();
        }
    }

    private async Task WatchNamesAsync(CancellationToken cancellationToken)
    {
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(VipNames.Prefix, cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (change.Kind == KvChangeKind.SnapshotComplete)
                {
                    foreach (var gone in _claims.Keys.Where(k => !inSnapshot.Contains(k)).ToList())
                    {
                        _claims.Remove(gone);
                    }

                    _namesLoaded = true;
                }
                else if (change.Entry is { } entry && VipNames.NameOf(entry.Key) is { } name)
                {
                    Observe(entry);
                    if (change.IsSnapshot)
                    {
                        inSnapshot.Add(name);
                    }

                    if (VipNames.ReadClaim(entry) is { } claim)
                    {
                        _claims[name] = claim;
                    }
                    else
                    {
                        _claims.Remove(name);
                    }
                }
            }

            _control.Signal();
        }
    }

    private async Task WatchServicesAsync(CancellationToken cancellationToken)
    {
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(ServiceCatalog.Prefix, cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (change.Kind == KvChangeKind.SnapshotComplete)
                {
                    foreach (var gone in _services.Keys.Where(k => !inSnapshot.Contains(k)).ToList())
                    {
                        _services.Remove(gone);
                    }

                    _servicesLoaded = true;
                }
                else if (change.Entry is { } entry && ServiceCatalog.ServiceOf(entry.Key) is { } service)
                {
                    if (change.IsSnapshot)
                    {
                        inSnapshot.Add(service);
                    }

                    var instances = ServiceCatalog.Read(entry);
                    if (instances.IsEmpty)
                    {
                        _services.Remove(service);
                    }
                    else
                    {
                        _services[service] = instances;
                    }
                }
            }

            _control.Signal();
        }
    }

    private async Task WatchMembersAsync(CancellationToken cancellationToken)
    {
        await foreach (var e in _membership.WatchAsync(cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                _membersLoaded |= e.ApplyTo(_members);
            }

            _control.Signal();
        }
    }

    // ---- the apply loop ----

    private async Task ApplyLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _control.WaitForSignalAsync(cancellationToken).ConfigureAwait(false);
            bool loaded;
            lock (_gate)
            {
                loaded = _vipsLoaded && _namesLoaded && _servicesLoaded && _membersLoaded;
            }

            if (!loaded)
            {
                continue;
            }

            var reconcile = !_ready || _reconcileDue;
            _reconcileDue = false;
            var started = Stopwatch.GetTimestamp();
            try
            {
                await PassAsync(reconcile, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref Stats.Failures);
                LogPassFailed(_logger, e, reconcile ? "reconcile" : "apply");
                _reconcileDue = true;
                _control.SignalAfter(RetryAfterFailure);
                continue;
            }

            PassCompleted?.Invoke(reconcile ? "reconcile" : "apply", Stopwatch.GetElapsedTime(started));
            if (!_ready)
            {
                _ready = true;
                RecordBackendName();
                _loaded.TrySetResult();
            }
        }
    }

    /// <summary>Raised after each pass with its kind (<c>apply</c>, <c>reconcile</c>) and duration.</summary>
    public event Action<string, TimeSpan>? PassCompleted;

    private async Task PassAsync(bool reconcile, CancellationToken cancellationToken)
    {
        DesiredState desired;
        List<VipDefinition> vips;
        Dictionary<string, VipNameClaim> claims;
        long upTo;
        lock (_gate)
        {
            upTo = _sequence;
            vips = [.. _vips.Values];
            claims = new Dictionary<string, VipNameClaim>(_claims, StringComparer.Ordinal);
            var needed = vips.Where(v => v.Id.IsNamed).Select(v => v.Id.Name!).ToHashSet(StringComparer.Ordinal);
            _allocation = NamedVipAllocator.Resolve(claims, needed, _range);
            desired = TableBuilder.Build(vips, _allocation.Resolved, _allocation.Unresolved, _services, IsReachable, MemberAt);
        }

        await MaintainNamesAsync(claims, vips, cancellationToken).ConfigureAwait(false);

        var table = desired.Table;
        var refused = ImmutableDictionary<IPAddress, string>.Empty;
        var wanted = table.Vips.Keys.Select(k => k.Address).Distinct().ToList();
        var repairs = 0;
        if (_backend.NeedsLocalAddresses)
        {
            if (reconcile)
            {
                (refused, var fixedAddresses) = await _addresses.ReconcileAsync(wanted, cancellationToken).ConfigureAwait(false);
                repairs += _ready ? fixedAddresses : 0;
            }
            else
            {
                (refused, _) = await _addresses.EnsureAsync(wanted, cancellationToken).ConfigureAwait(false);
            }

            if (!refused.IsEmpty)
            {
                table = new LoadBalancerTable(table.Vips.RemoveRange(table.Vips.Keys.Where(k => refused.ContainsKey(k.Address))));
            }
        }
        else if (!_ready)
        {
            // A backend that needs no local address: VIP addresses a previous backend left on lo go.
            await _addresses.LoadAsync(cancellationToken).ConfigureAwait(false);
            if (await _addresses.RemoveAllAsync(cancellationToken).ConfigureAwait(false) is > 0 and var removed)
            {
                LogAddressesRemoved(_logger, removed, _backend.Name);
            }
        }

        if (!_ready && _stateDirectory is not null && _backend.Name != "nftables"
            && await NftablesLeftover.RemoveAsync(_stateDirectory, cancellationToken).ConfigureAwait(false) is { } leftover)
        {
            LogNftablesLeftoverRemoved(_logger, leftover, _backend.Name);
        }

        if (!_ready && _stateDirectory is not null && _backend.Name != "ipvs" && File.Exists(Path.Combine(_stateDirectory, "ipvs-services.json")))
        {
            // The IPVS services are removed only by the ipvs backend (this plugin does not speak IPVS's netlink).
            LogIpvsLeftover(_logger, _backend.Name, Path.Combine(_stateDirectory, "ipvs-services.json"));
        }

        if (reconcile)
        {
            var drift = await _backend.ReconcileAsync(table, cancellationToken).ConfigureAwait(false);
            repairs += _ready ? drift : 0;
            Interlocked.Increment(ref Stats.Reconciles);
        }
        else
        {
            var delta = LoadBalancerDelta.Between(_snapshot.Applied, table);
            if (!delta.IsEmpty)
            {
                await _backend.ApplyAsync(delta, cancellationToken).ConfigureAwait(false);
            }

            Interlocked.Increment(ref Stats.Applies);
        }

        _snapshot = new ControllerSnapshot(desired, refused, table);
        lock (_gate)
        {
            Volatile.Write(ref _appliedSequence, upTo);
            Progress();
        }
        if (_backend.NeedsLocalAddresses && !reconcile)
        {
            await _addresses.ReleaseUnusedAsync(table.Vips.Keys.Select(k => k.Address), cancellationToken).ConfigureAwait(false);
        }

        if (repairs > 0)
        {
            Interlocked.Add(ref Stats.DriftRepaired, repairs);
            LogDriftRepaired(_logger, repairs);
        }
    }

    /// <summary>Writes the claims the allocation asks for, and releases names no VIP has used for <see cref="OrphanGrace"/>.</summary>
    private async Task MaintainNamesAsync(Dictionary<string, VipNameClaim> claims, List<VipDefinition> vips, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        foreach (var (name, address) in _allocation.Writes)
        {
            if (_claimsWritten.TryGetValue(name, out var written) && written.Address.Equals(address) && _time.GetElapsedTime(written.At, now) < ClaimRetry)
            {
                continue;
            }

            _claimsWritten[name] = (address, now);
            await WriteAsync(VipNames.KeyOf(name), VipNames.SetAddress(address), $"claim {address} for {name}", cancellationToken).ConfigureAwait(false);
        }

        var used = vips.Where(v => v.Id.IsNamed).Select(v => v.Id.Name!).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _orphanSince.Keys.Where(n => used.Contains(n) || !claims.ContainsKey(n)).ToList())
        {
            _orphanSince.Remove(name);
        }

        foreach (var name in claims.Keys.Where(n => !used.Contains(n)))
        {
            if (!_orphanSince.TryGetValue(name, out var since))
            {
                _orphanSince[name] = now;
                _control.SignalAfter(OrphanGrace);
            }
            else if (_time.GetElapsedTime(since, now) >= OrphanGrace)
            {
                _orphanSince.Remove(name);
                await WriteAsync(VipNames.KeyOf(name), VipNames.Release(), $"release {name} (no VIP uses it)", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteAsync(KvKey key, IReadOnlyList<CrdtOp> ops, string what, CancellationToken cancellationToken)
    {
        try
        {
            await _store.UpdateAsync(key, ops, null, cancellationToken).ConfigureAwait(false);
            LogNameWritten(_logger, what);
        }
        catch (Exception e) when (e is KvOverloadedException or KvValidationException or KvConflictException)
        {
            LogNameWriteFailed(_logger, e, what);
            _control.SignalAfter(ClaimRetry);
        }
    }

    private bool IsReachable(string node) => _members.TryGetValue(node, out var member) && member.IsReachable;

    /// <summary>The member whose advertised address is <paramref name="address"/> (loopback excepted: it never leaves a host), or null.</summary>
    private string? MemberAt(IPAddress address) => VipAddressRules.MemberAt(address, _members.Values);

    private void UpdateMalformed() => Stats.Malformed = _malformed.Values.Sum();

    /// <summary>Remembers which backend programmed this node (data_dir/loadbalancer/backend), and tells when it changed.</summary>
    private void RecordBackendName()
    {
        if (_stateDirectory is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(_stateDirectory);
            var path = Path.Combine(_stateDirectory, "backend");
            var previous = File.Exists(path) ? File.ReadAllText(path).Trim() : null;
            if (previous is { Length: > 0 } && previous != _backend.Name)
            {
                LogBackendSwitched(_logger, previous, _backend.Name);
            }

            File.WriteAllText(path, _backend.Name + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogStateWriteFailed(_logger, e, _stateDirectory);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load balancer: the {Kind} pass failed; reconciling again shortly")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Load balancer: repaired {Count} drifted VIP(s), backend(s) or address(es)")]
    private static partial void LogDriftRepaired(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Load balancer: {What}")]
    private static partial void LogNameWritten(ILogger logger, string what);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load balancer: could not {What}; retrying")]
    private static partial void LogNameWriteFailed(ILogger logger, Exception exception, string what);

    [LoggerMessage(Level = LogLevel.Information, Message = "Load balancer: removed {Count} VIP address(es) from lo (backend {Backend} needs none)")]
    private static partial void LogAddressesRemoved(ILogger logger, int count, string backend);

    [LoggerMessage(Level = LogLevel.Information, Message = "Load balancer: the backend changed from {Previous} to {Current} since the last run")]
    private static partial void LogBackendSwitched(ILogger logger, string previous, string current);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load balancer: the backend is now {Backend}, but the IPVS services the ipvs backend made may remain (listed in {File}): they take the VIPs' connections first. Remove them with ipvsadm -D (or start once with backend = \"ipvs\" and keep_on_stop = false), then delete the file")]
    private static partial void LogIpvsLeftover(ILogger logger, string backend, string file);

    [LoggerMessage(Level = LogLevel.Information, Message = "Load balancer: deleted table inet {Table}, which the nftables backend left (the backend is now {Backend})")]
    private static partial void LogNftablesLeftoverRemoved(ILogger logger, string table, string backend);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load balancer: cannot write its state in {Directory}")]
    private static partial void LogStateWriteFailed(ILogger logger, Exception exception, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Load balancer: removing what was programmed failed")]
    private static partial void LogClearFailed(ILogger logger, Exception exception);
}
