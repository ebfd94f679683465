using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.Overlay;
using Lashup.Netlink;
using Lashup.Netlink.Route;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Overlay.Vxlan;

/// <summary>
/// The <c>vxlan</c> overlay backend: one VXLAN device (VNI, port, local underlay address, learning off, MTU, MAC from
/// the node's name, alias <c>lashup:vxlan</c> as the mark that it is ours), up, with the VTEP address /32; per peer a
/// permanent neighbour, an FDB entry and an onlink route of protocol <see cref="VxlanLayout.RouteProtocol"/>; all over
/// rtnetlink, each change one batch. An apply sends only what differs from what it last programmed; a reconcile dumps
/// the device, its addresses, neighbours, FDB and our routes through it and repairs the difference (a device of ours
/// whose settings changed is re-created). A device of our name without our alias is foreign: refused, never touched;
/// routes of other protocols are never touched. A failed netlink call makes the backend not ready (with the kernel's
/// message) and is thrown, and the overlay reconciles next. Calls never overlap (the overlay's contract).
/// </summary>
internal sealed partial class VxlanBackend : IOverlayBackend, IReadinessCheck, IDisposable
{
    /// <summary>How long a netlink receive waits for the kernel.</summary>
    internal static readonly TimeSpan NetlinkTimeout = TimeSpan.FromSeconds(5);

    private readonly VxlanOptions _options;
    private readonly ILogger _logger;
    private readonly Func<RtnlClient> _open;
    private RtnlClient? _client;
    private int _index;
    private OverlayLocal? _local;
    private Dictionary<string, PeerEntries> _programmed = new(StringComparer.Ordinal);
    private bool _dirty = true;
    private (IPAddress Underlay, int Mtu)? _mtu;
    private volatile ImmutableDictionary<string, OverlayProgramStatus> _status = ImmutableDictionary<string, OverlayProgramStatus>.Empty.WithComparers(StringComparer.Ordinal);
    private volatile OverlayProgramStatus? _localStatus;
    private volatile string? _failure;
    private long _netlinkErrors;

    /// <param name="options">The <c>[overlay.vxlan]</c> settings.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="open">Opens an rtnetlink client (tests: one inside their namespace); default: this process's namespace.</param>
    public VxlanBackend(VxlanOptions options, ILogger<VxlanBackend> logger, Func<RtnlClient>? open = null)
    {
        _options = options;
        _logger = logger;
        _open = open ?? (() => RtnlClient.Open(NetlinkTimeout));
    }

    public string Name => "vxlan";

    string IReadinessCheck.Name => "overlay.vxlan";

    /// <summary>rtnetlink calls that failed.</summary>
    public long NetlinkErrors => Interlocked.Read(ref _netlinkErrors);

    /// <summary>Peers programmed now.</summary>
    public int ProgrammedPeers => _status.Count(s => s.Value.Programmed);

    public Readiness Check() => _failure is { } failure ? Readiness.NotReady(failure) : Readiness.Ready;

    public ValueTask EnsureSupportedAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("the vxlan overlay backend needs Linux (VXLAN devices over rtnetlink)");
        }

        if (!Environment.IsPrivilegedProcess && !HasNetAdmin())
        {
            throw new InvalidOperationException("the vxlan overlay backend needs root or CAP_NET_ADMIN: it creates a VXLAN device and programs neighbours, FDB entries and routes (run lashup as root, or give it CAP_NET_ADMIN)");
        }

        try
        {
            var client = Client();
            if (client.GetLink(_options.Device) is { } existing)
            {
                // Ours (from an earlier run): this kernel has VXLAN; a reconcile adopts it. Anyone else's: refused.
                return existing.Alias == VxlanLayout.Alias ? ValueTask.CompletedTask : throw new InvalidOperationException(ForeignDevice(existing));
            }

            // A device of a probe's name, created down (no socket bound) and deleted: the kernel takes our VXLAN settings
            // (and no other VXLAN device holds our VNI on our port: EEXIST).
            var probe = "lashupvx" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];
            client.CreateVxlan(new VxlanLinkSpec(probe, new VxlanSettings((uint)_options.Vni, null, (ushort)_options.Port, Learning: false)));
            if (client.GetLink(probe) is { } created)
            {
                client.DeleteLink(created.Index);
            }
        }
        catch (NetlinkException e)
        {
            Failed(e);
            var why = e.Errno == Errno.EOPNOTSUPP || e.Message.Contains("Unknown device type", StringComparison.OrdinalIgnoreCase)
                ? " (this kernel has no VXLAN support: load the vxlan module, modprobe vxlan)"
                : e.Errno == Errno.EPERM ? " (needs root or CAP_NET_ADMIN)"
                : e.Errno == Errno.EEXIST ? $" (another VXLAN device uses vni {_options.Vni} on port {_options.Port}: remove it, or choose another [overlay.vxlan] vni)" : "";
            throw new InvalidOperationException($"the vxlan overlay backend cannot create a VXLAN device here: {e.Message}{why}", e);
        }

        return ValueTask.CompletedTask;
    }

    public int MtuFor(OverlayLocal local)
    {
        ArgumentNullException.ThrowIfNull(local);
        if (_options.Mtu > 0)
        {
            return _options.Mtu;
        }

        if (_mtu is { } known && known.Underlay.Equals(local.Underlay))
        {
            return known.Mtu;
        }

        try
        {
            var client = Client();
            var (underlay, _) = UnderlayOf(client, client.DumpLinks(), local.Underlay);
            return VxlanLayout.MtuOver(0, underlay.Mtu, local.Underlay, underlay.Name);
        }
        catch (Exception e) when (e is NetlinkException or InvalidOperationException)
        {
            // Only advice for CNI plugins: the common case when the underlay cannot be read now.
            ResetClient();
            return 1500 - VxlanLayout.OverheadOf(local.Underlay);
        }
    }

    public ValueTask ApplyAsync(OverlayDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        cancellationToken.ThrowIfCancellationRequested();
        if (_dirty || delta.LocalChanged || _index == 0 || delta.Table.Local is null)
        {
            // The device itself (or what is known of it) changes: a reconcile re-reads and programs everything.
            return new ValueTask(ReconcileAsync(delta.Table, cancellationToken).AsTask());
        }

        var local = delta.Table.Local;
        var changes = new List<KeyValuePair<string, PeerEntries?>>();
        var refused = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var peer in delta.Upserted)
        {
            if (VxlanLayout.Refusal(local, peer) is { } why)
            {
                refused[peer.Node] = why;
                changes.Add(new(peer.Node, null));
            }
            else
            {
                changes.Add(new(peer.Node, VxlanLayout.EntriesOf(_index, peer)));
            }
        }

        changes.AddRange(delta.Removed.Select(node => new KeyValuePair<string, PeerEntries?>(node, null)));
        // A peer refused for a foreign route in its way has no route of ours: it is programmed as new (its route added
        // again, refused again while the foreign one is there); the others from what they were.
        var basis = _programmed.Where(p => _status.GetValueOrDefault(p.Key)?.Programmed != false)
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var batch = VxlanLayout.Changes(basis, changes);
        Run(Client(), batch, refused, "apply");

        var programmed = new Dictionary<string, PeerEntries>(_programmed, StringComparer.Ordinal);
        var status = _status.ToBuilder();
        foreach (var (node, entries) in changes)
        {
            if (entries is null)
            {
                programmed.Remove(node);
            }
            else
            {
                programmed[node] = entries;
            }

            status[node] = refused.TryGetValue(node, out var why) ? OverlayProgramStatus.Refused(why) : OverlayProgramStatus.Ok;
        }

        foreach (var node in delta.Removed)
        {
            status.Remove(node);
        }

        _programmed = programmed;
        _status = status.ToImmutable();
        _failure = null;
        return ValueTask.CompletedTask;
    }

    public ValueTask<int> ReconcileAsync(OverlayTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        cancellationToken.ThrowIfCancellationRequested();
        if (desired.Local is not { } local)
        {
            // No subnet (yet): what a previous run left stays as it is until this node holds one again.
            _status = desired.Peers.ToImmutableDictionary(p => p.Key, p => OverlayProgramStatus.Refused(VxlanLayout.Refusal(null, p.Value)!), StringComparer.Ordinal);
            _localStatus = OverlayProgramStatus.Refused("this node holds no subnet yet");
            _failure = null;
            return ValueTask.FromResult(0);
        }

        try
        {
            var repairs = Reconcile(local, desired);
            _failure = null;
            _dirty = false;
            return ValueTask.FromResult(repairs);
        }
        catch (InvalidOperationException e)
        {
            _failure = e.Message;
            _dirty = true;
            throw;
        }
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        try
        {
            var client = Client();
            if (client.GetLink(_options.Device) is { } link)
            {
                if (link.Alias == VxlanLayout.Alias)
                {
                    // Its neighbours, FDB entries, address and the routes through it go with it.
                    client.DeleteLink(link.Index);
                    LogCleared(_logger, _options.Device);
                }
                else
                {
                    LogForeignLeft(_logger, ForeignDevice(link));
                }
            }
        }
        catch (NetlinkException e)
        {
            Failed(e);
            throw new InvalidOperationException($"vxlan: could not remove {_options.Device}: {e.Message}", e);
        }

        _index = 0;
        _local = null;
        _programmed = new Dictionary<string, PeerEntries>(StringComparer.Ordinal);
        _status = _status.Clear();
        _localStatus = null;
        _dirty = true;
        return ValueTask.CompletedTask;
    }

    public OverlayProgramStatus? Describe(string node) => _status.GetValueOrDefault(node);

    public OverlayProgramStatus? DescribeLocal() => _localStatus;

    public void Dispose() => ResetClient();

    private int Reconcile(OverlayLocal local, OverlayTable desired)
    {
        var client = Client();
        try
        {
            var links = client.DumpLinks();
            var (underlay, _) = UnderlayOf(client, links, local.Underlay);
            var mtu = VxlanLayout.MtuOver(_options.Mtu, underlay.Mtu, local.Underlay, underlay.Name);
            var spec = VxlanLayout.DeviceSpec(_options, local, underlay.Index, mtu);
            var repairs = 0;
            var link = links.FirstOrDefault(l => l.Name == _options.Device);
            if (link is not null && link.Alias != VxlanLayout.Alias)
            {
                throw new InvalidOperationException(ForeignDevice(link));
            }

            if (link is not null && VxlanLayout.DeviceDifference(link, spec) is { } why)
            {
                LogRecreating(_logger, _options.Device, why);
                client.ExecuteOrThrow(new RtnlBatch().DeleteLink(link.Index).CreateVxlan(spec));
                link = null;
                repairs++;
            }
            else if (link is null)
            {
                client.ExecuteOrThrow(new RtnlBatch().CreateVxlan(spec));
                LogCreated(_logger, _options.Device, _options.Vni, _options.Port, mtu, local.Underlay.ToString());
                repairs++;
            }
            else if (!link.Up)
            {
                client.SetLinkUp(link.Index, up: true);
                repairs++;
            }

            link ??= client.GetLink(_options.Device) ?? throw new NetlinkException($"{_options.Device} was created but is not listed");
            var index = link.Index;

            // Routes of Lashup's protocol through another device are what the host-routes backend (or this one under an
            // earlier device name) left when the backend was switched: they would take the peers' subnets from ours.
            foreach (var leftover in client.DumpRoutes(VxlanLayout.RouteProtocol).Where(r => r.OutputInterface != index))
            {
                client.DeleteRoute(leftover);
                LogLeftoverRoute(_logger, $"{leftover.Destination}/{leftover.PrefixLength}");
                repairs++;
            }

            var refused = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new Dictionary<string, PeerEntries>(StringComparer.Ordinal);
            foreach (var peer in desired.Peers.Values)
            {
                if (VxlanLayout.Refusal(local, peer) is { } reason)
                {
                    refused[peer.Node] = reason;
                }
                else
                {
                    entries[peer.Node] = VxlanLayout.EntriesOf(index, peer);
                }
            }

            var kernel = new KernelEntries(
                client.DumpAddresses(index),
                client.DumpNeighbours(index),
                client.DumpFdb(index),
                [.. client.DumpRoutes(VxlanLayout.RouteProtocol).Where(r => r.OutputInterface == index)]);
            var batch = VxlanLayout.Repairs(VxlanLayout.VtepOf(index, local), entries, kernel);
            repairs += Run(client, batch, refused, "reconcile");

            _index = index;
            _local = local;
            _mtu = (local.Underlay, mtu);
            _programmed = entries;
            _status = desired.Peers.Keys.ToImmutableDictionary(
                k => k,
                k => refused.TryGetValue(k, out var r) ? OverlayProgramStatus.Refused(r) : OverlayProgramStatus.Ok,
                StringComparer.Ordinal);
            _localStatus = new OverlayProgramStatus(true, string.Create(CultureInfo.InvariantCulture,
                $"{_options.Device} (vxlan id {_options.Vni} port {_options.Port}, local {local.Underlay} on {underlay.Name}, mtu {mtu}, {local.VtepAddress}/32)"));
            return repairs;
        }
        catch (NetlinkException e)
        {
            Failed(e);
            _localStatus = OverlayProgramStatus.Refused(e.Message);
            throw new InvalidOperationException($"vxlan: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            _localStatus = OverlayProgramStatus.Refused(e.Message);
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="batch"/>: a removal of something already gone is fine; a route the kernel refuses to add
    /// because a foreign one holds its key refuses that peer (into <paramref name="refused"/>); anything else refused is
    /// a failure, thrown after the rest was applied.
    /// </summary>
    /// <returns>How many operations changed something.</returns>
    private int Run(RtnlClient client, VxlanBatch batch, Dictionary<string, string> refused, string what)
    {
        if (batch.Count == 0)
        {
            return 0;
        }

        List<RtnlFailure> failures;
        try
        {
            failures = client.Execute(batch.Batch);
        }
        catch (NetlinkException e)
        {
            Failed(e);
            throw new InvalidOperationException($"vxlan {what}: {e.Message}", e);
        }

        var hard = new List<RtnlFailure>();
        foreach (var failure in failures)
        {
            var (op, peer) = batch.Tags[failure.Index];
            var errno = failure.Error.Errno;
            if (op == VxlanOp.Delete && errno is Errno.ENOENT or Errno.ESRCH or Errno.EADDRNOTAVAIL)
            {
                continue;
            }

            if (op == VxlanOp.AddRoute && errno == Errno.EEXIST && peer is not null)
            {
                refused[peer] = $"a route to its subnet that Lashup did not install is in the way ({failure.Operation}: {failure.Error.Message}); remove it and the next reconcile programs the peer";
                continue;
            }

            hard.Add(failure);
        }

        if (hard.Count > 0)
        {
            var first = hard[0];
            var error = new NetlinkException(
                hard.Count == 1 ? first.Error.Message : $"{first.Error.Message} (and {hard.Count - 1} more of {batch.Count} operations refused)",
                first.Error.Errno,
                first.Error);
            Interlocked.Add(ref _netlinkErrors, hard.Count - 1);
            Failed(error);
            _dirty = true;
            throw new InvalidOperationException($"vxlan {what}: {error.Message}", error);
        }

        return batch.Count - failures.Count;
    }

    private static (RtnlLink Link, RtnlAddress Address) UnderlayOf(RtnlClient client, List<RtnlLink> links, IPAddress underlay)
    {
        var address = client.DumpAddresses().FirstOrDefault(a => a.Address.Equals(underlay))
            ?? throw new InvalidOperationException($"vxlan: the underlay address {underlay} is on no device of this host; set [overlay] underlay_address (or the core's advertised address) to one of its addresses");
        var link = links.FirstOrDefault(l => l.Index == address.InterfaceIndex)
            ?? throw new InvalidOperationException($"vxlan: the device #{address.InterfaceIndex} holding the underlay address {underlay} is not listed");
        return (link, address);
    }

    private string ForeignDevice(RtnlLink link) =>
        $"a device named {link.Name} exists that Lashup did not create (kind {link.Kind ?? "none"}, alias \"{link.Alias}\", not \"{VxlanLayout.Alias}\"); it is left untouched: remove or rename it, or set [overlay.vxlan] device to another name";

    private RtnlClient Client() => _client ??= _open();

    /// <summary>Counts a failure, makes the backend not ready with the kernel's message, and drops the socket (its sequence may be off).</summary>
    private void Failed(NetlinkException e)
    {
        Interlocked.Increment(ref _netlinkErrors);
        _failure = $"rtnetlink: {e.Message}";
        _dirty = true;
        LogNetlinkFailed(_logger, e);
        ResetClient();
    }

    private void ResetClient()
    {
        _client?.Dispose();
        _client = null;
    }

    private static bool HasNetAdmin()
    {
        const int CapNetAdmin = 12;
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
            return line is not null && ulong.TryParse(line["CapEff:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var caps)
                && (caps & (1UL << CapNetAdmin)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "vxlan: created {Device} (vni {Vni}, port {Port}, mtu {Mtu}, local {Local})")]
    private static partial void LogCreated(ILogger logger, string device, int vni, int port, int mtu, string local);

    [LoggerMessage(Level = LogLevel.Warning, Message = "vxlan: re-creating {Device}, its settings changed: {Why}")]
    private static partial void LogRecreating(ILogger logger, string device, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "vxlan: removed the route to {Subnet} another Lashup overlay backend left (its protocol, not through this device)")]
    private static partial void LogLeftoverRoute(ILogger logger, string subnet);

    [LoggerMessage(Level = LogLevel.Information, Message = "vxlan: removed {Device} with its entries and routes")]
    private static partial void LogCleared(ILogger logger, string device);

    [LoggerMessage(Level = LogLevel.Warning, Message = "vxlan: {Why}")]
    private static partial void LogForeignLeft(ILogger logger, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "vxlan: an rtnetlink call failed")]
    private static partial void LogNetlinkFailed(ILogger logger, Exception exception);
}
