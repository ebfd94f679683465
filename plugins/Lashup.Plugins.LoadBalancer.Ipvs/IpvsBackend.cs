using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Kernel;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.LoadBalancer.Ipvs;

/// <summary>
/// The <c>ipvs</c> load-balancer backend: every VIP is one IPVS service of the kernel (its protocol, address and port,
/// the configured scheduler), every backend one masqueraded destination with its weight (0: IPVS gives it no new
/// connections, open ones go on). What it owns is the services of its VIPs, recorded in a state file
/// (<see cref="IpvsStateFile"/>): a reconcile removes services it recorded that no VIP wants any more, and never touches
/// another service. <see cref="ApplyAsync"/> changes only what differs from what it last programmed, without reading
/// the kernel; <see cref="ReconcileAsync"/> dumps the services and their destinations, adopts those of its VIPs, and
/// repairs what is missing, changed or stale. A failed netlink call makes it not ready (with the kernel's answer) and
/// is thrown, so the load balancer retries with a full reconcile; the next reconcile that succeeds makes it ready again.
/// </summary>
internal sealed partial class IpvsBackend : ILoadBalancerBackend, IReadinessCheck, IDisposable
{
    /// <summary>What <see cref="EnsureSupportedAsync"/> says on a kernel without IPVS.</summary>
    public const string NoIpvsMessage =
        "the ipvs load-balancer backend needs the kernel's IPVS (module ip_vs), which this kernel does not have: run `modprobe ip_vs`, or set [loadbalancer] backend = \"nftables\" (or \"userspace\")";

    /// <summary>Added to the messages of <see cref="EnsureSupportedAsync"/> when the daemon is not root.</summary>
    public const string NotRootNote = "; it also needs CAP_NET_ADMIN (run the daemon as root)";

    /// <summary>IP_VS_SVC_F_HASHED: the kernel sets it on every service it holds.</summary>
    private const uint HashedFlag = 0x0002;

    private readonly Func<INetlinkSocket> _openSocket;
    private readonly string _scheduler;
    private readonly IpvsStateFile _state;
    private readonly bool _privileged;
    private readonly ILogger _logger;
    private readonly Dictionary<VipKey, ProgrammedVip> _programmed = [];
    private readonly Lock _lock = new();
    private HashSet<VipKey>? _owned;
    private IpvsClient? _client;
    private ImmutableDictionary<VipKey, VipProgramStatus> _status = ImmutableDictionary<VipKey, VipProgramStatus>.Empty;
    private volatile string? _failure;

    /// <param name="openSocket">Opens a generic netlink socket (the real one, or a test's fake kernel).</param>
    /// <param name="scheduler">The IPVS scheduler of every service.</param>
    /// <param name="stateDirectory">Where the state file goes (<c>&lt;data_dir&gt;/loadbalancer</c>).</param>
    /// <param name="privileged">Whether the daemon runs as root (for the messages of <see cref="EnsureSupportedAsync"/>).</param>
    /// <param name="logger">The logger.</param>
    public IpvsBackend(Func<INetlinkSocket> openSocket, string scheduler, string stateDirectory, bool privileged, ILogger<IpvsBackend> logger)
    {
        _openSocket = openSocket;
        _scheduler = scheduler;
        _state = new IpvsStateFile(stateDirectory);
        _privileged = privileged;
        _logger = logger;
    }

    public string Name => "ipvs";

    string IReadinessCheck.Name => "loadbalancer.ipvs";

    /// <summary>IPVS only takes packets addressed to a local address: the load balancer puts VIP addresses on <c>lo</c>.</summary>
    public bool NeedsLocalAddresses => true;

    /// <summary>The state file.</summary>
    public string StatePath => _state.Path;

    public Readiness Check() => _failure is { } failure
        ? Readiness.NotReady("programming IPVS failed (retried with a full reconcile): " + failure)
        : Readiness.Ready;

    /// <summary>
    /// Opens the netlink socket, resolves the IPVS family and lists the services (which needs CAP_NET_ADMIN), and reads
    /// the state file; any failure is an <see cref="InvalidOperationException"/> saying what to do.
    /// </summary>
    public ValueTask EnsureSupportedAsync(CancellationToken cancellationToken)
    {
        var note = _privileged ? "" : NotRootNote;
        INetlinkSocket socket;
        try
        {
            socket = _openSocket();
        }
        catch (NetlinkException e)
        {
            throw new InvalidOperationException($"{NoIpvsMessage} (a generic netlink socket could not be opened: {e.Message}){note}", e);
        }

        IpvsClient client;
        try
        {
            client = IpvsClient.Open(socket);
        }
        catch (NetlinkException e)
        {
            throw new InvalidOperationException(e.Errno == Errno.ENOENT ? NoIpvsMessage + note : $"{NoIpvsMessage} (resolving the IPVS netlink family failed: {e.Message}){note}", e);
        }

        try
        {
            client.ListServices();
        }
        catch (NetlinkException e) when (e.Errno is Errno.EPERM or Errno.EACCES)
        {
            client.Dispose();
            throw new InvalidOperationException("the ipvs load-balancer backend needs CAP_NET_ADMIN to program IPVS: run the daemon as root, or set [loadbalancer] backend = \"userspace\"", e);
        }
        catch (NetlinkException e)
        {
            client.Dispose();
            throw new InvalidOperationException($"the ipvs load-balancer backend cannot list IPVS services: {e.Message}", e);
        }

        try
        {
            _owned ??= _state.Load();
        }
        catch (InvalidDataException e)
        {
            client.Dispose();
            throw new InvalidOperationException("the ipvs load-balancer backend's state: " + e.Message, e);
        }

        _client?.Dispose();
        _client = client;
        return ValueTask.CompletedTask;
    }

    public ValueTask ApplyAsync(LoadBalancerDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        var failures = new List<string>();
        foreach (var key in delta.Removed.IsDefault ? [] : delta.Removed)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Try(key, failures, () => RemoveService(key));
        }

        foreach (var entry in delta.Upserted.IsDefault ? [] : delta.Upserted)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Try(entry.Vip, failures, () => ApplyEntry(entry));
        }

        Finish(failures, reconcile: false);
        return ValueTask.CompletedTask;
    }

    public ValueTask<int> ReconcileAsync(LoadBalancerTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var failures = new List<string>();
        var repairs = 0;
        List<IpvsService> services;
        try
        {
            services = Client().ListServices();
        }
        catch (NetlinkException e)
        {
            Fail(e);
            failures.Add(e.Message);
            Finish(failures, reconcile: true);
            throw;
        }

        var owned = Owned();
        var inKernel = services.ToDictionary(s => s.Key);

        // Stale: services this backend made that no VIP wants now. Every other service is someone else's.
        foreach (var service in services.Where(s => !desired.Vips.ContainsKey(s.Key) && owned.Contains(s.Key)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Try(service.Key, failures, () => RemoveService(service.Key)))
            {
                LogStaleRemoved(_logger, service.Key.ToString());
                repairs++;
            }
        }

        foreach (var gone in owned.Where(k => !desired.Vips.ContainsKey(k) && !inKernel.ContainsKey(k)).ToList())
        {
            Forget(gone);
        }

        foreach (var key in _programmed.Keys.Where(k => !desired.Vips.ContainsKey(k)).ToList())
        {
            Forget(key);
        }

        foreach (var entry in desired.Vips.Values.OrderBy(e => e.Vip.ToString(), StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Try(entry.Vip, failures, () => repairs += ReconcileEntry(entry, inKernel.GetValueOrDefault(entry.Vip)));
        }

        SaveOwned();
        Finish(failures, reconcile: true);
        return ValueTask.FromResult(repairs);
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        foreach (var key in Owned().Union(_programmed.Keys).ToList())
        {
            Try(key, failures, () => RemoveService(key));
        }

        SaveOwned();
        Finish(failures, reconcile: false);
        return ValueTask.CompletedTask;
    }

    public VipProgramStatus? Describe(VipKey vip) => _status.GetValueOrDefault(vip);

    public void Dispose()
    {
        _client?.Dispose();
        _client = null;
    }

    /// <summary>Programs one entry from what was last programmed for it (nothing read from the kernel).</summary>
    private void ApplyEntry(VipEntry entry)
    {
        var client = Client();
        if (!_programmed.TryGetValue(entry.Vip, out var programmed))
        {
            try
            {
                client.AddService(entry.Vip, _scheduler);
            }
            catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
            {
                // Left by an earlier run (or made by hand) at one of our VIPs: ours now. Its destinations are unknown
                // here; the ones below are added or set, others are left to the next reconcile.
                client.UpdateService(entry.Vip, _scheduler);
            }

            programmed = new ProgrammedVip();
            _programmed[entry.Vip] = programmed;
            Own(entry.Vip);
        }

        var (wanted, skipped) = Split(entry);
        foreach (var endpoint in programmed.Weights.Keys.Where(e => !wanted.ContainsKey(e)).ToList())
        {
            try
            {
                client.DeleteDestination(entry.Vip, endpoint);
            }
            catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
            {
            }

            programmed.Weights.Remove(endpoint);
        }

        foreach (var (endpoint, weight) in wanted)
        {
            if (!programmed.Weights.TryGetValue(endpoint, out var current))
            {
                try
                {
                    client.AddDestination(entry.Vip, endpoint, weight);
                }
                catch (NetlinkException e) when (e.Errno == Errno.EEXIST)
                {
                    client.UpdateDestination(entry.Vip, endpoint, weight);
                }
            }
            else if (current != weight)
            {
                try
                {
                    client.UpdateDestination(entry.Vip, endpoint, weight);
                }
                catch (NetlinkException e) when (e.Errno == Errno.ENOENT)
                {
                    client.AddDestination(entry.Vip, endpoint, weight);
                }
            }

            programmed.Weights[endpoint] = weight;
        }

        Publish(entry, skipped);
    }

    /// <summary>Makes the kernel's service for <paramref name="entry"/> match it; returns the repairs made.</summary>
    private int ReconcileEntry(VipEntry entry, IpvsService? service)
    {
        var client = Client();
        var repairs = 0;
        List<IpvsDestination> destinations;
        if (service is null)
        {
            client.AddService(entry.Vip, _scheduler);
            LogRepaired(_logger, entry.Vip.ToString(), "service missing: added");
            repairs++;
            destinations = [];
        }
        else
        {
            if (service.Scheduler != _scheduler || service.Timeout != 0 || (service.Flags & ~HashedFlag) != 0)
            {
                client.UpdateService(entry.Vip, _scheduler);
                LogRepaired(_logger, entry.Vip.ToString(), $"service had scheduler {service.Scheduler}, flags 0x{service.Flags:x}, timeout {service.Timeout}: set");
                repairs++;
            }

            destinations = client.ListDestinations(entry.Vip);
        }

        Own(entry.Vip);
        var programmed = new ProgrammedVip();
        _programmed[entry.Vip] = programmed;
        var (wanted, skipped) = Split(entry);
        foreach (var destination in destinations)
        {
            if (!wanted.TryGetValue(destination.Endpoint, out var weight))
            {
                client.DeleteDestination(entry.Vip, destination.Endpoint);
                LogRepaired(_logger, entry.Vip.ToString(), $"destination {destination.Endpoint} is no backend: removed");
                repairs++;
                continue;
            }

            if (destination.Weight != weight || destination.ForwardMethod != IpvsProtocol.IP_VS_CONN_F_MASQ)
            {
                client.UpdateDestination(entry.Vip, destination.Endpoint, weight);
                LogRepaired(_logger, entry.Vip.ToString(), $"destination {destination.Endpoint} had weight {destination.Weight}, forwarding {destination.ForwardMethod}: set");
                repairs++;
            }

            programmed.Weights[destination.Endpoint] = weight;
        }

        foreach (var (endpoint, weight) in wanted.Where(w => !programmed.Weights.ContainsKey(w.Key)))
        {
            client.AddDestination(entry.Vip, endpoint, weight);
            LogRepaired(_logger, entry.Vip.ToString(), $"destination {endpoint} missing: added");
            repairs++;
            programmed.Weights[endpoint] = weight;
        }

        Publish(entry, skipped);
        return repairs;
    }

    private void RemoveService(VipKey key)
    {
        try
        {
            Client().DeleteService(key);
        }
        catch (NetlinkException e) when (e.Errno == Errno.ESRCH)
        {
            // Already gone: the kernel answers ESRCH for a service it does not have.
        }

        Forget(key);
    }

    /// <summary>
    /// The backends IPVS can take (same address family as the VIP: masquerading does not translate between IPv4 and
    /// IPv6), and the others with why.
    /// </summary>
    private static (Dictionary<IPEndPoint, int> Wanted, Dictionary<IPEndPoint, string> Skipped) Split(VipEntry entry)
    {
        var wanted = new Dictionary<IPEndPoint, int>();
        var skipped = new Dictionary<IPEndPoint, string>();
        foreach (var backend in entry.Backends.IsDefault ? [] : entry.Backends)
        {
            if (backend.Endpoint.AddressFamily != entry.Vip.Address.AddressFamily)
            {
                skipped[backend.Endpoint] = "IPVS masquerading cannot forward between IPv4 and IPv6";
            }
            else if (!VipId.IsUsableAddress(backend.Endpoint.Address, out var unusable))
            {
                skipped[backend.Endpoint] = unusable;
            }
            else if (backend.Endpoint.Address.IsIPv6LinkLocal)
            {
                // The kernel refuses such a destination (EINVAL), which would fail the whole VIP.
                skipped[backend.Endpoint] = "IPVS does not forward to link-local IPv6 addresses";
            }
            else
            {
                wanted[backend.Endpoint] = backend.Weight;
            }
        }

        return (wanted, skipped);
    }

    private void Publish(VipEntry entry, Dictionary<IPEndPoint, string> skipped)
    {
        var backends = (entry.Backends.IsDefault ? [] : entry.Backends).Select(b =>
            skipped.TryGetValue(b.Endpoint, out var why) ? new BackendProgramStatus(b.Endpoint, false, why, null)
            : b.Weight == 0 ? new BackendProgramStatus(b.Endpoint, false, "draining: open connections go on, no new ones", null)
            : new BackendProgramStatus(b.Endpoint, true, null, null));
        var statuses = backends.ToList();
        SetStatus(entry.Vip, statuses.Any(b => b.Programmed)
            ? new VipProgramStatus(true, null, [.. statuses])
            : new VipProgramStatus(false, statuses.Count == 0 ? "no backends" : "no backend takes new connections (draining, or not one IPVS can forward to)", [.. statuses]));
    }

    private void SetStatus(VipKey key, VipProgramStatus? status)
    {
        lock (_lock)
        {
            _status = status is null ? _status.Remove(key) : _status.SetItem(key, status);
        }
    }

    private void Forget(VipKey key)
    {
        _programmed.Remove(key);
        if (Owned().Remove(key))
        {
            SaveOwned();
        }

        SetStatus(key, null);
    }

    private void Own(VipKey key)
    {
        if (Owned().Add(key))
        {
            SaveOwned();
        }
    }

    private HashSet<VipKey> Owned() => _owned ??= _state.Load();

    private void SaveOwned() => _state.Save(Owned());

    private IpvsClient Client() => _client ??= IpvsClient.Open(_openSocket());

    /// <summary>Runs one VIP's calls; a netlink failure is noted for the VIP and in <paramref name="failures"/>.</summary>
    private bool Try(VipKey key, List<string> failures, Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (NetlinkException e)
        {
            Fail(e);
            failures.Add(e.Message);
            _programmed.Remove(key);
            SetStatus(key, VipProgramStatus.NotProgrammed("IPVS: " + e.Message));
            LogCallFailed(_logger, key.ToString(), e.Message);
            return false;
        }
    }

    /// <summary>A failure that is not the kernel's answer (a timeout, a reply that could not be read): start over on a new socket.</summary>
    private void Fail(NetlinkException e)
    {
        if (e.Errno is 0 or Errno.ETIMEDOUT)
        {
            _client?.Dispose();
            _client = null;
        }
    }

    private void Finish(List<string> failures, bool reconcile)
    {
        if (failures.Count == 0)
        {
            if (reconcile)
            {
                _failure = null;
            }

            return;
        }

        _failure = failures.Count == 1 ? failures[0] : $"{failures[0]} (and {failures.Count - 1} more)";
        throw new InvalidOperationException($"ipvs: {failures.Count} netlink call(s) failed: {string.Join("; ", failures)}");
    }

    /// <summary>What this backend last programmed for one VIP: its destinations' weights.</summary>
    private sealed class ProgrammedVip
    {
        public Dictionary<IPEndPoint, int> Weights { get; } = [];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "IPVS: {Vip}: {What}")]
    private static partial void LogRepaired(ILogger logger, string vip, string what);

    [LoggerMessage(Level = LogLevel.Information, Message = "IPVS: removed stale service {Vip}, which this backend made and no VIP wants now")]
    private static partial void LogStaleRemoved(ILogger logger, string vip);

    [LoggerMessage(Level = LogLevel.Warning, Message = "IPVS: {Vip}: {Error}")]
    private static partial void LogCallFailed(ILogger logger, string vip, string error);
}
