using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Overlay;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Overlay;

/// <summary>A node's claim as this node sees it, for the admin API.</summary>
internal sealed record ClaimView(OverlayClaim Claim, string State, string? Reason);

/// <summary>What the controller last computed and applied.</summary>
internal sealed record OverlaySnapshot(OverlayTable Applied, ImmutableArray<ClaimView> Claims, string? LocalReason, int? Mtu, DateTimeOffset? LastReconcile)
{
    public static OverlaySnapshot Empty { get; } = new(OverlayTable.Empty, [], "the overlay has not read the store and the member list whole yet", null, null);
}

/// <summary>Counters of the controller, read by the metrics.</summary>
internal sealed class OverlayStats
{
    public long DriftRepaired;
    public long ClaimConflicts;
    public long Failures;
    public int Malformed;
}

/// <summary>
/// The overlay of one node. Watches <c>overlay/nodes</c> and the member list; nothing is applied before both have been
/// read whole. Every change computes, as every node does, the winning claim of each subnet; this node keeps its own
/// claim while it wins, claims the first free subnet when it has none or lost it (and, when its record may still be on
/// its way from the cluster, waits for it first, so that a node with a wiped data folder gets its subnet back), and
/// writes only its own record. Peers are the other winners: reachable, or unreachable for less than
/// <c>peer_grace</c>; a node that left or expired goes at once, and the lowest-named reachable member releases an
/// expired node's claim. The backend gets a reconcile first (it adopts what a previous run left), then only what
/// changed, and a reconcile every <c>reconcile_interval</c>.
/// </summary>
internal sealed partial class OverlayController : ILifecycleParticipant, IReadinessCheck, IAsyncDisposable
{
    /// <summary>How long a node without a record waits for the cluster's records before it claims a new subnet.</summary>
    internal static readonly TimeSpan ClaimSettle = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan ClaimRetry = TimeSpan.FromSeconds(10);

    /// <summary>A claim time more than this ahead of this node's clock is not believed.</summary>
    internal static readonly TimeSpan MaxClockLead = TimeSpan.FromDays(1);
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(1);

    private readonly IReplicatedStore _store;
    private readonly IClusterMembership _membership;
    private readonly IOverlayBackend _backend;
    private readonly SubnetAllocator _allocator;
    private readonly IPAddress? _underlayAddress;
    private readonly TimeSpan _grace;
    private readonly TimeSpan _expireAfter;
    private readonly TimeSpan _reconcileInterval;
    private readonly string? _stateDirectory;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, OverlayClaim> _claims = new(StringComparer.Ordinal);
    private readonly HashSet<string> _malformed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly ControlLoops _control;
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private (OverlayClaim Claim, long At)? _written;
    private long? _loadedAt;
    private long? _peerSeenAt;
    private readonly Dictionary<string, long> _absentSince = new(StringComparer.Ordinal);
    private DateTimeOffset? _wakeDue;
    private OverlayClaim? _lostClaim;
    private bool _claimsLoaded;
    private bool _membersLoaded;
    private volatile bool _ready;
    private int _reconcileDue;
    private volatile string? _notReady;
    private volatile OverlaySnapshot _snapshot = OverlaySnapshot.Empty;
    private string? _envWritten;

    public OverlayController(
        IReplicatedStore store,
        IClusterMembership membership,
        IOverlayBackend backend,
        OverlayOptions options,
        string? stateDirectory,
        TimeProvider time,
        ILogger<OverlayController> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _membership = membership;
        _backend = backend;
        _allocator = OverlayOptionsValidator.TryParseRange(options.Range, out var range, out var error)
            ? new SubnetAllocator(range, options.SubnetPrefix)
            : throw new InvalidOperationException($"overlay.range: {error}");
        _underlayAddress = options.UnderlayAddress.Length > 0 ? IPAddress.Parse(options.UnderlayAddress) : null;
        _grace = options.PeerGrace;
        _expireAfter = options.ExpireAfter;
        _reconcileInterval = options.ReconcileInterval;
        _stateDirectory = stateDirectory;
        _time = time;
        _logger = logger;
        _control = new ControlLoops("Overlay", logger, time);
    }

    public int Stage => LifecycleStage.Dataplane;

    public string Name => "overlay";

    public OverlayStats Stats { get; } = new();

    public OverlaySnapshot Snapshot => _snapshot;

    public IOverlayBackend Backend => _backend;

    public IPNetwork Range => _allocator.Range;

    /// <summary>This node's name.</summary>
    public string LocalName => _membership.LocalName;

    /// <summary>This node's underlay address: <c>underlay_address</c>, else the core's advertised address.</summary>
    public IPAddress Underlay => _underlayAddress
        ?? _membership.Members.FirstOrDefault(m => m.Name == _membership.LocalName)?.Address.Address
        ?? IPAddress.Loopback;

    /// <summary>Completes once the first table has been applied (tests wait for it).</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>Raised after each pass with its kind (<c>apply</c>, <c>reconcile</c>) and duration.</summary>
    public event Action<string, TimeSpan>? PassCompleted;

    public Readiness Check() => _notReady is { } reason ? Readiness.NotReady(reason)
        : _ready ? Readiness.Ready
        : Readiness.NotReady("the overlay has not read the store and the member list whole yet");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _backend.EnsureSupportedAsync(cancellationToken).ConfigureAwait(false);
        _control.Start("claims", WatchClaimsAsync);
        _control.Start("members", WatchMembersAsync);
        _control.Start("the apply loop", ApplyLoopAsync);
        _control.StartTimer("the reconcile timer", _reconcileInterval, () =>
        {
            Volatile.Write(ref _reconcileDue, 1);
            _control.Signal();
        });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The device and the entries stay (no traffic gap): the next start adopts them.
        await _control.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _control.DisposeAsync();

    /// <summary>
    /// Releases <paramref name="node"/>'s claim (<c>lashup overlay release</c>): refused while the node is reachable
    /// (it would claim again at once) or is this node.
    /// </summary>
    /// <returns>The subnet it held, or null when it held none.</returns>
    /// <exception cref="InvalidOperationException">The node is reachable.</exception>
    public async Task<IPNetwork?> ReleaseAsync(string node, CancellationToken cancellationToken)
    {
        OverlayClaim? claim;
        lock (_gate)
        {
            // Unreachable from here is not gone: a node behind a partition still programs its subnet, and would claim
            // anew when the partition heals. Release only a node that is no member any more, or unreachable past peer_grace.
            if (node == _membership.LocalName || (_members.TryGetValue(node, out var member)
                && (member.IsReachable || member.State != MemberState.Left && _time.GetUtcNow() - member.Since < _grace)))
            {
                throw new InvalidOperationException($"{node} is a member that is reachable, or unreachable for less than peer_grace: its overlay may still hold the subnet and would claim again; release only a node that is gone");
            }

            _claims.TryGetValue(node, out claim);
        }

        await _store.UpdateAsync(OverlayCatalog.KeyOf(node), OverlayCatalog.Release(), cancellationToken: cancellationToken).ConfigureAwait(false);
        _control.Signal();
        return claim?.Subnet;
    }

    // ---- watches ----

    private async Task WatchClaimsAsync(CancellationToken cancellationToken)
    {
        var inSnapshot = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var change in _store.WatchAsync(OverlayCatalog.Prefix, cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (change.Kind == KvChangeKind.SnapshotComplete)
                {
                    foreach (var gone in _claims.Keys.Concat(_malformed).Where(k => !inSnapshot.Contains(k)).ToList())
                    {
                        _claims.Remove(gone);
                        _malformed.Remove(gone);
                    }

                    _claimsLoaded = true;
                }
                else if (change.Entry is { } entry && OverlayCatalog.NodeOf(entry.Key) is { } node)
                {
                    if (change.IsSnapshot)
                    {
                        inSnapshot.Add(node);
                    }

                    var claim = OverlayCatalog.Read(entry, out var malformed);
                    if (claim is null)
                    {
                        _claims.Remove(node);
                    }
                    else
                    {
                        _claims[node] = claim;
                    }

                    if (malformed)
                    {
                        _malformed.Add(node);
                    }
                    else
                    {
                        _malformed.Remove(node);
                    }
                }

                Stats.Malformed = _malformed.Count;
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
                loaded = _claimsLoaded && _membersLoaded;
            }

            if (!loaded)
            {
                continue;
            }

            var reconcile = Interlocked.Exchange(ref _reconcileDue, 0) == 1 || !_ready;
            var started = Stopwatch.GetTimestamp();
            try
            {
                await PassAsync(reconcile, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref Stats.Failures);
                LogPassFailed(_logger, e, reconcile ? "reconcile" : "apply");
                _notReady = $"the overlay's last pass failed: {e.Message}";
                Volatile.Write(ref _reconcileDue, 1);
                _control.SignalAfter(RetryAfterFailure);
                continue;
            }

            PassCompleted?.Invoke(reconcile ? "reconcile" : "apply", Stopwatch.GetElapsedTime(started));
            if (!_ready)
            {
                _ready = true;
                _loaded.TrySetResult();
            }
        }
    }

    private async Task PassAsync(bool reconcile, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var local = _membership.LocalName;
        Dictionary<string, OverlayClaim> claims;
        Dictionary<string, Member> members;
        lock (_gate)
        {
            claims = new Dictionary<string, OverlayClaim>(_claims, StringComparer.Ordinal);
            members = new Dictionary<string, Member>(_members, StringComparer.Ordinal);
        }

        if (_wakeDue is { } due && now >= due)
        {
            _wakeDue = null;
        }

        _loadedAt ??= _time.GetTimestamp();
        if (_peerSeenAt is null && members.Values.Any(m => m.Name != local && m.IsReachable))
        {
            _peerSeenAt = _time.GetTimestamp();
        }

        // An unusable underlay, or a claim time further ahead than any clock may run (it would win every collision and,
        // through the clamp below, push this node's own claim time to overflow): skipped.
        foreach (var bad in claims.Values.Where(c => !VipId.IsUsableAddress(c.Underlay, out _) || c.ClaimedAt > now.ToUnixTimeMilliseconds() + (long)MaxClockLead.TotalMilliseconds).Select(c => c.Node).ToList())
        {
            claims.Remove(bad);
        }

        var (winners, invalid) = _allocator.Resolve(claims.Values);
        var underlay = Underlay;
        string? localReason = null;
        OverlayClaim? mine = claims.GetValueOrDefault(local);
        var holds = mine is not null && winners.TryGetValue(mine.Subnet, out var winner) && winner.Node == local;
        if (!holds)
        {
            // No record of its own yet: it may be on its way from the cluster (a wiped data folder, a restart on a new
            // machine). Wait for it ClaimSettle from the moment a peer to sync with is known (or, alone, from loading),
            // whatever other records arrive meanwhile: only this node's own record ends the wait early.
            var waited = _time.GetElapsedTime(_peerSeenAt ?? _loadedAt.Value);
            if (mine is null && waited < ClaimSettle)
            {
                localReason = "waiting for the cluster's claims before claiming a subnet";
                WakeAt(now + (ClaimSettle - waited));
            }
            else if (mine is null && _store.Get(OverlayCatalog.KeyOf(local)) is { } arrived && OverlayCatalog.Read(arrived, out _) is not null)
            {
                // It arrived since this pass copied the claims: the next pass takes it.
                localReason = "reading this node's claim";
                _control.Signal();
            }
            else
            {
                if (mine is not null && !mine.Equals(_lostClaim))
                {
                    // Counted once per claim lost: passes that run before the new claim is read back see the same one.
                    Interlocked.Increment(ref Stats.ClaimConflicts);
                    _lostClaim = mine;
                }

                var taken = winners.Where(w => w.Value.Node != local).Select(w => w.Key).ToHashSet();
                if (_allocator.FirstFree(local, taken) is { } free)
                {
                    // A claim is later than every claim this node has seen, whatever its clock says: a node whose clock
                    // is behind cannot take, by its timestamp, a subnet another node holds and it knows of.
                    var claimedAt = Math.Max(now.ToUnixTimeMilliseconds(), claims.Values.Select(c => c.ClaimedAt).DefaultIfEmpty(0).Max() + 1);
                    localReason = $"claiming {free}";
                    await WriteClaimAsync(new OverlayClaim(local, free, claimedAt, underlay, OverlayCatalog.VtepAddressOf(free), OverlayCatalog.VtepMacOf(local)), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    localReason = $"the overlay range {_allocator.Range} is exhausted: all {_allocator.Count} subnets of /{_allocator.SubnetAt(0).PrefixLength} are held by other nodes; widen range, lengthen subnet_prefix, or release departed nodes (lashup overlay release NODE)";
                }
            }
        }
        else if (!mine!.Underlay.Equals(underlay) || !Equals(mine.VtepAddress, OverlayCatalog.VtepAddressOf(mine.Subnet)) || !Equals(mine.VtepMac, OverlayCatalog.VtepMacOf(local)))
        {
            // Same subnet, same claim time: only the addresses are refreshed.
            await WriteClaimAsync(mine with { Underlay = underlay, VtepAddress = OverlayCatalog.VtepAddressOf(mine.Subnet), VtepMac = OverlayCatalog.VtepMacOf(local) }, cancellationToken).ConfigureAwait(false);
        }

        await ReleaseExpiredAsync(claims, members, now, cancellationToken).ConfigureAwait(false);

        var localPart = holds
            ? new OverlayLocal(local, _allocator.Range, mine!.Subnet, underlay, OverlayCatalog.VtepAddressOf(mine.Subnet), OverlayCatalog.VtepMacOf(local))
            : null;
        var peers = ImmutableDictionary.CreateBuilder<string, OverlayPeer>(StringComparer.Ordinal);
        var views = new List<ClaimView>();
        TimeSpan? nextExpiry = null;
        foreach (var claim in claims.Values.OrderBy(c => c.Node, StringComparer.Ordinal))
        {
            if (claim.Node == local)
            {
                views.Add(new ClaimView(claim, holds ? "local" : "lost-claim", holds ? null : localReason));
                continue;
            }

            if (!winners.TryGetValue(claim.Subnet, out var subnetWinner) || subnetWinner.Node != claim.Node)
            {
                views.Add(new ClaimView(claim, "lost-claim", invalid.Contains(claim)
                    ? $"{claim.Subnet} is not a /{_allocator.SubnetAt(0).PrefixLength} of the range {_allocator.Range}"
                    : $"{claim.Subnet} is held by {subnetWinner!.Node}, which claimed it first"));
                continue;
            }

            if (!members.TryGetValue(claim.Node, out var member))
            {
                views.Add(new ClaimView(claim, "unreachable", "not a member (departed, or not joined yet)"));
                continue;
            }

            if (member.State == MemberState.Left)
            {
                views.Add(new ClaimView(claim, "unreachable", "it left the cluster"));
                continue;
            }

            if (!member.IsReachable)
            {
                var left = _grace - (now - member.Since);
                if (left <= TimeSpan.Zero)
                {
                    views.Add(new ClaimView(claim, "unreachable", string.Create(CultureInfo.InvariantCulture, $"unreachable since {member.Since:u}; left out after peer_grace")));
                    continue;
                }

                nextExpiry = nextExpiry is null || left < nextExpiry ? left : nextExpiry;
            }

            // The VTEP address and MAC follow from the subnet and the name: what the record says of them is not trusted.
            peers[claim.Node] = new OverlayPeer(claim.Node, claim.Subnet, claim.Underlay, OverlayCatalog.VtepAddressOf(claim.Subnet), OverlayCatalog.VtepMacOf(claim.Node));
            views.Add(new ClaimView(claim, member.IsReachable ? "programmed" : "unreachable", member.IsReachable ? null : "unreachable; kept for peer_grace"));
        }

        if (nextExpiry is { } expiry)
        {
            WakeAt(now + expiry + TimeSpan.FromMilliseconds(50));
        }

        var table = new OverlayTable(localPart, peers.ToImmutable());
        var repairs = 0;
        if (reconcile)
        {
            repairs = await _backend.ReconcileAsync(table, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var delta = OverlayDelta.Between(_snapshot.Applied, table);
            if (!delta.IsEmpty)
            {
                await _backend.ApplyAsync(delta, cancellationToken).ConfigureAwait(false);
            }
        }

        if (_ready && repairs > 0)
        {
            Interlocked.Add(ref Stats.DriftRepaired, repairs);
            LogDriftRepaired(_logger, repairs);
        }

        // The backend's own verdict per peer: programmed, or refused with why.
        for (var i = 0; i < views.Count; i++)
        {
            if (views[i].State == "programmed" && _backend.Describe(views[i].Claim.Node) is { Programmed: false } refused)
            {
                views[i] = views[i] with { State = "refused", Reason = refused.Reason };
            }
        }

        var mtu = localPart is null ? (int?)null : _backend.MtuFor(localPart);
        var previous = _snapshot;
        _snapshot = new OverlaySnapshot(table, [.. views], localPart is null ? localReason : null, mtu, reconcile ? now : previous.LastReconcile);
        // Without a subnet the node serves no container: not ready, with why (waiting, claiming, exhausted).
        _notReady = localPart is null ? localReason ?? "this node holds no overlay subnet yet" : null;
        WriteSubnetEnv(localPart, mtu);
    }

    private async Task WriteClaimAsync(OverlayClaim claim, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        if (_written is { } written && written.Claim.Equals(claim) && _time.GetElapsedTime(written.At) < ClaimRetry)
        {
            return;
        }

        await _store.UpdateAsync(OverlayCatalog.KeyOf(claim.Node), OverlayCatalog.Write(claim), cancellationToken: cancellationToken).ConfigureAwait(false);
        _written = (claim, now);
        LogClaimed(_logger, claim.Subnet.ToString(), claim.Underlay.ToString());
    }

    /// <summary>
    /// The claims of nodes absent from the member list for <c>core.expire_after</c> (they expired, or never came back)
    /// are released, by the lowest-named reachable member that holds a claim (any would compute the same; two releasing
    /// at once is harmless). Checked every pass, so a node that expired while this one was down is released too.
    /// </summary>
    private async Task ReleaseExpiredAsync(Dictionary<string, OverlayClaim> claims, Dictionary<string, Member> members, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var present in _absentSince.Keys.Where(n => members.ContainsKey(n) || !claims.ContainsKey(n)).ToList())
        {
            _absentSince.Remove(present);
        }

        var local = _membership.LocalName;
        var releaser = members.Values.Where(m => (m.IsReachable || m.Name == local) && claims.ContainsKey(m.Name)).Select(m => m.Name).Append(local).Min(StringComparer.Ordinal);
        foreach (var (node, claim) in claims.Where(c => c.Key != local && !members.ContainsKey(c.Key)))
        {
            if (!_absentSince.TryGetValue(node, out var since))
            {
                _absentSince[node] = since = _time.GetTimestamp();
            }

            var absent = _time.GetElapsedTime(since);
            if (absent < _expireAfter)
            {
                WakeAt(now + (_expireAfter - absent) + TimeSpan.FromMilliseconds(50));
            }
            else if (releaser == local)
            {
                await _store.UpdateAsync(OverlayCatalog.KeyOf(node), OverlayCatalog.Release(), cancellationToken: cancellationToken).ConfigureAwait(false);
                _absentSince.Remove(node);
                LogReleasedExpired(_logger, node, claim.Subnet.ToString());
            }
        }
    }

    /// <summary>Wakes the apply loop at <paramref name="due"/>, unless a wake-up is set for then or earlier (one timer, not one per pass).</summary>
    private void WakeAt(DateTimeOffset due)
    {
        if (_wakeDue is { } pending && pending <= due)
        {
            return;
        }

        _wakeDue = due;
        _control.SignalAfter(due - _time.GetUtcNow());
    }

    /// <summary>
    /// <c>data_dir/overlay/subnet.env</c> for CNI plugins, as flannel writes its own: the network, this node's subnet
    /// (with the first address after the VTEP's), the MTU. Removed while the node holds no subnet.
    /// </summary>
    private void WriteSubnetEnv(OverlayLocal? local, int? mtu)
    {
        if (_stateDirectory is null)
        {
            return;
        }

        var path = Path.Combine(_stateDirectory, "subnet.env");
        string? text = null;
        if (local is not null)
        {
            var bytes = local.Subnet.BaseAddress.GetAddressBytes();
            bytes[3]++;
            text = string.Create(CultureInfo.InvariantCulture, $"LASHUP_NETWORK={local.Network}\nLASHUP_SUBNET={new IPAddress(bytes)}/{local.Subnet.PrefixLength}\nLASHUP_MTU={mtu}\nLASHUP_IPMASQ=false\n");
        }

        if (text == _envWritten)
        {
            return;
        }

        try
        {
            if (text is null)
            {
                File.Delete(path);
            }
            else
            {
                Directory.CreateDirectory(_stateDirectory);
                var temporary = path + ".tmp";
                File.WriteAllText(temporary, text);
                File.Move(temporary, path, overwrite: true);
            }

            _envWritten = text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogEnvNotWritten(_logger, e, path);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Overlay: the {Kind} pass failed; reconciling again shortly")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Overlay: repaired {Count} drifted entr(y/ies)")]
    private static partial void LogDriftRepaired(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Overlay: claimed subnet {Subnet} (underlay {Underlay})")]
    private static partial void LogClaimed(ILogger logger, string subnet, string underlay);

    [LoggerMessage(Level = LogLevel.Information, Message = "Overlay: released the claim of {Node} ({Subnet}), which expired from the member list")]
    private static partial void LogReleasedExpired(ILogger logger, string node, string subnet);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Overlay: could not write {Path}")]
    private static partial void LogEnvNotWritten(ILogger logger, Exception exception, string path);
}
