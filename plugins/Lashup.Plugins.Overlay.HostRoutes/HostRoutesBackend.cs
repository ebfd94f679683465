using System.Collections.Immutable;
using System.Globalization;
using System.Net.Sockets;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Netlink;
using Lashup.Netlink.Route;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Overlay.HostRoutes;

/// <summary>
/// The <c>host-routes</c> overlay backend (flannel's host-gw): per peer one route in the main table, the peer's subnet via
/// its underlay address out of the link the kernel reaches that address on, marked with our own rtm_protocol
/// (<see cref="Protocol"/>). Nothing local: this node's containers are routed by its own bridge or CNI. Only peers on a
/// directly connected network can be reached so; the others are refused (<see cref="Describe"/>) and the rest programmed.
/// Routes of other protocols are never touched: a foreign route to a peer's subnet refuses that peer.
/// </summary>
internal sealed partial class HostRoutesBackend : IOverlayBackend, IReadinessCheck, IDisposable
{
    /// <summary>
    /// Our rtm_protocol, 0x4c ('L'): free in iproute2's rt_protos (<c>ip route show proto 0x4c</c> lists our routes). The
    /// vxlan backend marks its routes with the same number; the two never run together, and a reconcile removes every
    /// route of this protocol it does not want, so switching backends removes the other's routes.
    /// </summary>
    public const byte Protocol = 0x4c;

    /// <summary>Assumed when the underlay's link is not found (an underlay address that is not this host's).</summary>
    public const int DefaultMtu = 1500;

    /// <summary>What <see cref="EnsureSupportedAsync"/> says without CAP_NET_ADMIN.</summary>
    public const string NeedsNetAdmin =
        "the host-routes overlay backend needs root or CAP_NET_ADMIN to program routes: run the daemon as root, or give it CAP_NET_ADMIN";

    private static readonly TimeSpan NetlinkTimeout = TimeSpan.FromSeconds(5);
    private readonly string? _networkNamespace;
    private readonly ILogger _logger;
    private RtnlClient? _client;
    private volatile State _state = State.Empty;
    private volatile string? _failure;
    private long _netlinkErrors;
    private long _routeChanges;

    /// <param name="networkNamespace">A named network namespace to program (tests), or null for the daemon's own.</param>
    /// <param name="logger">The log.</param>
    public HostRoutesBackend(string? networkNamespace, ILogger<HostRoutesBackend> logger)
    {
        _networkNamespace = networkNamespace;
        _logger = logger;
    }

    public string Name => "host-routes";

    string IReadinessCheck.Name => "overlay.host-routes";

    /// <summary>Netlink calls that failed (refused by the kernel, or the exchange itself), since start.</summary>
    public long NetlinkErrors => Interlocked.Read(ref _netlinkErrors);

    /// <summary>Route changes the kernel applied (additions, replacements, deletions), since start.</summary>
    public long RouteChanges => Interlocked.Read(ref _routeChanges);

    /// <summary>How many peers are programmed now.</summary>
    public int ProgrammedPeers => _state.Programmed.Count;

    public Readiness Check() => _failure is { } failure
        ? Readiness.NotReady("host-routes: the last route change failed: " + failure)
        : Readiness.Ready;

    public ValueTask EnsureSupportedAsync(CancellationToken cancellationToken)
    {
        if (!HasNetAdmin())
        {
            throw new InvalidOperationException(NeedsNetAdmin);
        }

        try
        {
            Client().DumpRoutes(Protocol);
        }
        catch (NetlinkException e)
        {
            DropClient();
            throw new InvalidOperationException($"the host-routes overlay backend cannot read the routing table over rtnetlink: {e.Message}", e);
        }

        return ValueTask.CompletedTask;
    }

    public int MtuFor(OverlayLocal local) => _state.Mtu;

    public ValueTask ApplyAsync(OverlayDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        cancellationToken.ThrowIfCancellationRequested();
        Run("apply", client =>
        {
            var state = _state;
            var upserted = delta.Upserted.IsDefault ? [] : delta.Upserted.Select(p => p.Node).ToHashSet(StringComparer.Ordinal);
            var refused = state.Refused.Where(p => delta.Table.Peers.ContainsKey(p.Key) && !upserted.Contains(p.Key))
                .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            var desired = new Dictionary<string, RtnlRoute>(StringComparer.Ordinal);
            foreach (var peer in delta.Table.Peers.Values)
            {
                if (upserted.Contains(peer.Node))
                {
                    Resolve(client, peer, desired, refused);
                }
                else if (state.Programmed.TryGetValue(peer.Node, out var route))
                {
                    desired[peer.Node] = route;
                }
            }

            var (mtu, local) = delta.LocalChanged || state.Local is null ? LocalPart(client, delta.Table.Local) : (state.Mtu, state.Local);
            Program(client, RoutePlan.Diff(state.Programmed.Values, desired), desired, refused, mtu, local);
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public ValueTask<int> ReconcileAsync(OverlayTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        cancellationToken.ThrowIfCancellationRequested();
        var repairs = Run("reconcile", client =>
        {
            var refused = new Dictionary<string, string>(StringComparer.Ordinal);
            var wanted = new Dictionary<string, RtnlRoute>(StringComparer.Ordinal);
            foreach (var peer in desired.Peers.Values)
            {
                Resolve(client, peer, wanted, refused);
            }

            // A VXLAN device the vxlan backend left when the backend was switched (its alias marks it): its onlink
            // routes would take the peers' subnets from these routes. Deleting it removes its entries and routes too.
            var leftovers = 0;
            foreach (var device in client.DumpLinks().Where(l => l.Alias == VxlanAlias))
            {
                client.DeleteLink(device.Index);
                LogLeftoverDevice(_logger, device.Name);
                leftovers++;
            }

            var (mtu, local) = LocalPart(client, desired.Local);
            var there = client.DumpRoutes(Protocol);
            return leftovers + Program(client, RoutePlan.Diff(there, wanted), wanted, refused, mtu, local);
        });
        return ValueTask.FromResult(repairs);
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Run("clear", client =>
        {
            var there = client.DumpRoutes(Protocol);
            Program(client, RoutePlan.Diff(there, ImmutableDictionary<string, RtnlRoute>.Empty), new Dictionary<string, RtnlRoute>(), [], DefaultMtu, null);
            return 0;
        });
        return ValueTask.CompletedTask;
    }

    public OverlayProgramStatus? Describe(string node)
    {
        var state = _state;
        return state.Programmed.ContainsKey(node) ? OverlayProgramStatus.Ok
            : state.Refused.TryGetValue(node, out var why) ? OverlayProgramStatus.Refused(why)
            : null;
    }

    public OverlayProgramStatus? DescribeLocal() => _state.Local;

    public void Dispose() => DropClient();

    /// <summary>
    /// Whether this process may change routes: CAP_NET_ADMIN (bit 12) in its effective capabilities
    /// (<c>/proc/self/status</c>), or root when that cannot be read.
    /// </summary>
    internal static bool HasNetAdmin()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                    && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var caps))
                {
                    return (caps & (1UL << 12)) != 0;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return Environment.IsPrivilegedProcess;
    }

    /// <summary>
    /// The route for <paramref name="peer"/> into <paramref name="desired"/>, or why not into <paramref name="refused"/>:
    /// the kernel's own route to its underlay address must go straight out of a link (no gateway).
    /// </summary>
    internal static void Resolve(RtnlClient client, OverlayPeer peer, Dictionary<string, RtnlRoute> desired, Dictionary<string, string> refused)
    {
        var underlay = peer.Underlay;
        string? why = null;
        RtnlRouteLookup? found = null;
        if (underlay.AddressFamily != AddressFamily.InterNetwork)
        {
            why = $"host-routes needs an IPv4 underlay: {underlay} is not one";
        }
        else if ((found = client.RouteTo(underlay)) is null)
        {
            why = $"host-routes needs the nodes on one network: this host has no route to {underlay}";
        }
        else if (found.Type == RtnlWire.RTN_LOCAL)
        {
            why = $"its underlay address {underlay} is an address of this host";
        }
        else if (found.Type != RtnlWire.RTN_UNICAST || found.OutputInterface <= 0)
        {
            why = $"host-routes needs the nodes on one network: {underlay} is not reached through a link (route type {found.Type})";
        }
        else if (found.Gateway is { } gateway)
        {
            why = $"host-routes needs the nodes on one network: {underlay} is reached via a gateway ({gateway})";
        }

        if (why is null)
        {
            desired[peer.Node] = RoutePlan.For(peer.Subnet, underlay, found!.OutputInterface);
            refused.Remove(peer.Node);
        }
        else
        {
            refused[peer.Node] = why;
        }
    }

    /// <summary>This node's MTU (its underlay link's) and local status; nothing is programmed locally.</summary>
    private static (int Mtu, OverlayProgramStatus? Local) LocalPart(RtnlClient client, OverlayLocal? local)
    {
        if (local is null)
        {
            return (DefaultMtu, null);
        }

        var address = client.DumpAddresses().FirstOrDefault(a => a.Address.Equals(local.Underlay));
        var link = address is null ? null : client.DumpLinks().FirstOrDefault(l => l.Index == address.InterfaceIndex);
        return link is null
            ? (DefaultMtu, new OverlayProgramStatus(true, $"{local.Underlay} is not an address of this host: MTU {DefaultMtu} assumed; nothing local to program"))
            : (link.Mtu, new OverlayProgramStatus(true, $"underlay {link.Name} (MTU {link.Mtu}); nothing local to program (the host's bridge or CNI routes this node's subnet)"));
    }

    /// <summary>
    /// Sends <paramref name="changes"/> in one batch and records what is programmed after it. An addition refused with
    /// EEXIST is a foreign route to the subnet (we never overwrite it): that peer is refused. A deletion refused with
    /// ESRCH was already done. Any other refusal is a failure: what succeeded is recorded, then it is thrown.
    /// </summary>
    /// <returns>How many changes the kernel applied.</returns>
    private int Program(RtnlClient client, List<RouteChange> changes, Dictionary<string, RtnlRoute> desired, Dictionary<string, string> refused, int mtu, OverlayProgramStatus? local)
    {
        var failures = changes.Count == 0 ? [] : client.Execute(RoutePlan.Batch(changes));
        var failed = failures.ToDictionary(f => f.Index);
        var programmed = ImmutableDictionary.CreateBuilder<string, RtnlRoute>(StringComparer.Ordinal);
        foreach (var (node, route) in desired)
        {
            programmed[node] = route;
        }

        var applied = 0;
        var errors = new List<RtnlFailure>();
        for (var i = 0; i < changes.Count; i++)
        {
            var change = changes[i];
            if (!failed.TryGetValue(i, out var failure))
            {
                applied++;
                continue;
            }

            if (change.Kind == RouteChangeKind.Delete && failure.Error.Errno == Errno.ESRCH)
            {
                continue;
            }

            if (change.Kind != RouteChangeKind.Delete && change.Node is { } node)
            {
                programmed.Remove(node);
                if (change.Kind == RouteChangeKind.Add && failure.Error.Errno == Errno.EEXIST)
                {
                    refused[node] = $"a route to {change.Route.Destination}/{change.Route.PrefixLength} that Lashup did not install is in the main table; host-routes leaves it alone";
                    continue;
                }
            }

            errors.Add(failure);
        }

        foreach (var (node, why) in refused)
        {
            if (!_state.Refused.TryGetValue(node, out var before) || before != why)
            {
                LogRefused(_logger, node, why);
            }
        }

        Interlocked.Add(ref _routeChanges, applied);
        _state = new State(programmed.ToImmutable(), refused.ToImmutableDictionary(StringComparer.Ordinal), mtu, local);
        if (errors.Count > 0)
        {
            Interlocked.Add(ref _netlinkErrors, errors.Count);
            var first = errors[0].Error;
            var message = errors.Count == 1 ? first.Message : $"{first.Message} (and {errors.Count - 1} more of {changes.Count} route changes refused)";
            _failure = message;
            throw new InvalidOperationException("host-routes: " + message, first);
        }

        return applied;
    }

    /// <summary>
    /// Runs one pass on the client. A netlink failure (an exchange, a dump, a lookup, or a change the kernel refused)
    /// makes the backend not ready, with the kernel's message, until a pass succeeds; it is thrown.
    /// </summary>
    private int Run(string kind, Func<RtnlClient, int> pass)
    {
        try
        {
            var result = pass(Client());
            _failure = null;
            return result;
        }
        catch (NetlinkException e)
        {
            // The kernel refused a question, or the exchange failed (its sequence is unknown then): a new socket next time.
            Interlocked.Increment(ref _netlinkErrors);
            DropClient();
            _failure = e.Message;
            LogFailed(_logger, kind, e.Message);
            throw new InvalidOperationException($"host-routes {kind}: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            LogFailed(_logger, kind, e.Message);
            throw;
        }
    }

    private RtnlClient Client() => _client ??= RtnlClient.Open(NetlinkTimeout, _networkNamespace);

    private void DropClient()
    {
        _client?.Dispose();
        _client = null;
    }

    /// <summary>The alias the vxlan backend marks its device with (kept in step with its <c>VxlanLayout.Alias</c>).</summary>
    internal const string VxlanAlias = "lashup:vxlan";

    [LoggerMessage(3, LogLevel.Information, "host-routes: removed {Device}, the device the vxlan backend left (the backend is host-routes now)")]
    private static partial void LogLeftoverDevice(ILogger logger, string device);

    [LoggerMessage(1, LogLevel.Warning, "host-routes: peer {Node} is not programmed: {Reason}")]
    private static partial void LogRefused(ILogger logger, string node, string reason);

    [LoggerMessage(2, LogLevel.Error, "host-routes: the {Kind} failed: {Message}")]
    private static partial void LogFailed(ILogger logger, string kind, string message);

    /// <summary>What is programmed: routes by peer, refusals by peer, the MTU, the local status. Immutable, swapped whole.</summary>
    private sealed record State(ImmutableDictionary<string, RtnlRoute> Programmed, ImmutableDictionary<string, string> Refused, int Mtu, OverlayProgramStatus? Local)
    {
        public static State Empty { get; } = new(ImmutableDictionary<string, RtnlRoute>.Empty, ImmutableDictionary<string, string>.Empty, DefaultMtu, null);
    }
}
