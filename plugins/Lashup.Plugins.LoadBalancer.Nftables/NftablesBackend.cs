using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text;
using Lashup.Abstractions.Lifecycle;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Plugins.LoadBalancer.Nftables.Nft;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.LoadBalancer.Nftables;

/// <summary>
/// The <c>nftables</c> load-balancer backend: kernel DNAT from an <c>inet</c> table of its own (<see cref="NftRuleset"/>
/// has the layout). Each change is one <c>nft -f</c> transaction holding only the elements that differ from what this
/// backend last programmed, so it applies whole or not at all: a refused one leaves the kernel as it was and makes the
/// node not ready until a transaction succeeds (the load balancer follows a failure with a full reconcile). A reconcile
/// lists the table (<c>nft -j</c>), checks its structure against what nft itself rendered of a probe table at start (so a
/// rule deleted or edited by hand is found), rebuilds the table in one transaction when the structure drifted, and
/// otherwise repairs the elements that differ. It touches no other table: a foreign one is never read or written.
/// </summary>
internal sealed partial class NftablesBackend : ILoadBalancerBackend, IReadinessCheck
{
    /// <summary>The file, in the load balancer's state folder, naming the table this backend owns.</summary>
    public const string StateFile = "nftables.table";

    private readonly INftRunner _nft;
    private readonly string _table;
    private readonly int _resolution;
    private readonly string? _stateDirectory;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private string? _probeStructure;
    private string? _probeClass;
    private bool _forwardingChecked;

    // What the kernel holds, as far as this backend knows (the last transaction that succeeded, or the last read).
    private ImmutableDictionary<VipKey, VipProgram> _programs = ImmutableDictionary<VipKey, VipProgram>.Empty;
    private ImmutableHashSet<int> _chains = [];
    // How many programmed VIPs use each VIP address, and each backend address (its hairpin element): a change adds or
    // deletes the elements whose count goes from or to 0, without walking every VIP.
    private Dictionary<IPAddress, int> _vipAddresses = [];
    private Dictionary<IPAddress, int> _hairpin = [];
    private bool _tableExists;

    // What the load balancer wants.
    private ImmutableDictionary<VipKey, VipEntry> _entries = ImmutableDictionary<VipKey, VipEntry>.Empty;
    private volatile string? _failure;

    public NftablesBackend(INftRunner nft, NftablesOptions options, string? stateDirectory, ILogger<NftablesBackend> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _nft = nft;
        _table = NftablesOptionsValidator.IsTableName(options.Table)
            ? options.Table
            : throw new ArgumentException($"not a table name: {options.Table}", nameof(options));
        _resolution = options.Buckets;
        _stateDirectory = stateDirectory;
        _logger = logger;
    }

    public string Name => "nftables";

    string IReadinessCheck.Name => "loadbalancer.nftables";

    public bool NeedsLocalAddresses => false;

    private long _transactions;
    private long _failedTransactions;

    /// <summary>Transactions run (applied or refused).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Transactions nft refused.</summary>
    public long FailedTransactions => Interlocked.Read(ref _failedTransactions);

    /// <summary>Elements programmed now (buckets, class entries, addresses).</summary>
    public int Elements
    {
        get
        {
            lock (_gate)
            {
                return _programs.Values.Sum(p => p.Buckets.Length + 1) + _vipAddresses.Count + _hairpin.Count;
            }
        }
    }

    public Readiness Check() => _failure is { } failure
        ? Readiness.NotReady("nft refused the last change, the kernel keeps the rules before it: " + failure)
        : Readiness.Ready;

    /// <summary>
    /// Checks that nft is there and that this kernel and nft take the backend's rules: a probe table with the same sets
    /// and chains, hooked to nothing, is created, listed (its rendering is what later listings are compared with) and
    /// deleted.
    /// </summary>
    public async ValueTask EnsureSupportedAsync(CancellationToken cancellationToken)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new InvalidOperationException("the nftables load-balancer backend needs Linux");
        }

        if (ProcessNftRunner.Find() is null && _nft is ProcessNftRunner)
        {
            throw new InvalidOperationException("the nftables load-balancer backend needs nft: install the nftables package (or set [loadbalancer] backend = \"userspace\")");
        }

        var probe = _table + "_probe";
        var script = new StringBuilder();
        script.Append("add table inet ").Append(probe).Append("\ndelete table inet ").Append(probe).Append('\n');
        script.Append(NftRuleset.Table(probe, hooks: false));
        var chain = new StringBuilder();
        NftRuleset.AddClassChain(chain, probe, 2);
        try
        {
            // Two transactions, as in use: class chains are added to a table nft has to read back from the kernel.
            await _nft.RunAsync(script.ToString(), cancellationToken).ConfigureAwait(false);
            await _nft.RunAsync(chain.ToString(), cancellationToken).ConfigureAwait(false);
            var listed = await _nft.ListTableAsync(probe, cancellationToken).ConfigureAwait(false)
                ?? throw new NftException($"the probe table {probe} was created but is not listed");
            var state = KernelState.Parse(listed);
            _probeStructure = state.Structure(withHooks: false);
            _probeClass = state.Chains.TryGetValue(NftRuleset.ClassChain(2), out var template) ? KernelState.ClassTemplate(template, 2) : null;
            if (_probeClass is null)
            {
                throw new NftException($"the probe table {probe} lists no class chain b2");
            }

            // The table's own name must be one nft reads as a name (not a keyword such as "tcp"), or no listing would work.
            try
            {
                await _nft.ListTableAsync(_table, cancellationToken).ConfigureAwait(false);
            }
            catch (NftException e)
            {
                throw new NftException($"[loadbalancer.nftables] table = \"{_table}\" cannot be used as a table name by nft (choose another, e.g. \"lashup_lb\"): {e.Message}");
            }
        }
        catch (NftException e)
        {
            var why = Environment.IsPrivilegedProcess ? e.Message : e.Message + " (nft needs root, or CAP_NET_ADMIN)";
            throw new InvalidOperationException($"the nftables load-balancer backend cannot program this kernel: {why}", e);
        }
        finally
        {
            try
            {
                await _nft.RunAsync($"add table inet {probe}\ndelete table inet {probe}\n", CancellationToken.None).ConfigureAwait(false);
            }
            catch (NftException)
            {
                // Nothing was created (the failure above says why).
            }
        }
    }

    public async ValueTask ApplyAsync(LoadBalancerDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        ImmutableDictionary<VipKey, VipProgram> programs;
        var deletes = new List<(string Set, string Element)>();
        var adds = new List<(string Set, string Element)>();
        var script = new StringBuilder();
        ImmutableHashSet<int> chains;
        var vipCounts = new Dictionary<IPAddress, int>();
        var hairpinCounts = new Dictionary<IPAddress, int>();
        var sizes = new HashSet<int>();
        lock (_gate)
        {
            var entries = _entries.RemoveRange(delta.Removed.IsDefault ? [] : delta.Removed);
            var builder = _programs.ToBuilder();
            void Count(VipProgram? program, int change)
            {
                if (program is not null)
                {
                    vipCounts[program.Vip.Address] = vipCounts.GetValueOrDefault(program.Vip.Address) + change;
                    foreach (var address in program.Buckets.Select(b => b.Address).Distinct())
                    {
                        hairpinCounts[address] = hairpinCounts.GetValueOrDefault(address) + change;
                    }
                }
            }

            foreach (var key in delta.Removed.IsDefault ? [] : delta.Removed)
            {
                var old = _programs.GetValueOrDefault(key);
                DiffVip(key, old is null ? null : KernelVip.Of(old), null, deletes, adds);
                Count(old, -1);
                builder.Remove(key);
            }

            foreach (var entry in delta.Upserted.IsDefault ? [] : delta.Upserted)
            {
                entries = entries.SetItem(entry.Vip, entry);
                var program = VipProgram.For(entry, _resolution, out _);
                var old = _programs.GetValueOrDefault(entry.Vip);
                DiffVip(entry.Vip, old is null ? null : KernelVip.Of(old), program, deletes, adds);
                Count(old, -1);
                Count(program, +1);
                if (program is null)
                {
                    builder.Remove(entry.Vip);
                }
                else
                {
                    builder[entry.Vip] = program;
                    sizes.Add(program.Buckets.Length);
                }
            }

            _entries = entries;
            programs = builder.ToImmutable();
            CountChanges(_vipAddresses, vipCounts, NftRuleset.VipAddressesOf, a => a.ToString(), deletes, adds);
            CountChanges(_hairpin, hairpinCounts, NftRuleset.HairpinOf, a => $"{a} . {a}", deletes, adds);
            chains = _chains;
            if (!_tableExists)
            {
                // Gone since the last reconcile (or never made): the next reconcile builds it whole.
                _failure = $"the table inet {_table} is not there";
                throw new NftException(_failure);
            }
        }

        NftRuleset.Elements(script, "delete", _table, deletes);
        foreach (var size in sizes.Where(s => !chains.Contains(s)).Order())
        {
            NftRuleset.AddClassChain(script, _table, size);
            chains = chains.Add(size);
        }

        NftRuleset.Elements(script, "add", _table, adds);
        if (script.Length > 0)
        {
            await RunAsync(script.ToString(), cancellationToken).ConfigureAwait(false);
        }

        lock (_gate)
        {
            _programs = programs;
            _chains = chains;
            Apply(_vipAddresses, vipCounts);
            Apply(_hairpin, hairpinCounts);
            _failure = null;
        }
    }

    /// <summary>
    /// The elements to delete (count down to 0) and add (count up from 0) for <paramref name="changes"/> to the
    /// reference counts in <paramref name="counts"/>.
    /// </summary>
    private static void CountChanges(Dictionary<IPAddress, int> counts, Dictionary<IPAddress, int> changes, Func<IPAddress, string> set, Func<IPAddress, string> text, List<(string, string)> deletes, List<(string, string)> adds)
    {
        foreach (var (address, change) in changes.OrderBy(c => c.Key.ToString(), StringComparer.Ordinal))
        {
            var before = counts.GetValueOrDefault(address);
            var after = before + change;
            if (before > 0 && after <= 0)
            {
                deletes.Add((set(address), text(address)));
            }
            else if (before <= 0 && after > 0)
            {
                adds.Add((set(address), text(address)));
            }
        }
    }

    private static void Apply(Dictionary<IPAddress, int> counts, Dictionary<IPAddress, int> changes)
    {
        foreach (var (address, change) in changes)
        {
            var after = counts.GetValueOrDefault(address) + change;
            if (after > 0)
            {
                counts[address] = after;
            }
            else
            {
                counts.Remove(address);
            }
        }
    }

    public async ValueTask<int> ReconcileAsync(LoadBalancerTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        await ForgetPreviousTableAsync(cancellationToken).ConfigureAwait(false);
        WarnWithoutForwarding();
        var programs = ImmutableDictionary.CreateBuilder<VipKey, VipProgram>();
        foreach (var entry in desired.Vips.Values)
        {
            if (VipProgram.For(entry, _resolution, out _) is { } program)
            {
                programs[entry.Vip] = program;
            }
        }

        var wanted = programs.ToImmutable();
        var (vipAddresses, hairpin) = Derived(wanted);
        var chains = wanted.Values.Select(p => p.Buckets.Length).ToImmutableHashSet();
        KernelState? state;
        try
        {
            var listed = await _nft.ListTableAsync(_table, cancellationToken).ConfigureAwait(false);
            state = listed is null ? null : KernelState.Parse(listed);
        }
        catch (Exception e) when (e is NftException or TimeoutException)
        {
            _failure = e.Message;
            throw;
        }
        var script = new StringBuilder();
        int repairs;
        var drift = state is null ? "missing" : StructureDrift(state);
        if (state is null || drift is not null)
        {
            // Missing, or its chains or sets are not what this backend made: build it whole, in one transaction with
            // the removal of what is there (new connections see the old table or the new one, never none; open ones
            // keep their NAT in conntrack).
            if (state is not null)
            {
                LogRebuilding(_logger, _table, drift!);
            }

            script.Append("add table inet ").Append(_table).Append("\ndelete table inet ").Append(_table).Append('\n');
            script.Append(NftRuleset.Table(_table, hooks: true));
            foreach (var size in chains.Order())
            {
                NftRuleset.AddClassChain(script, _table, size);
            }

            var adds = new List<(string, string)>();
            foreach (var (key, program) in wanted)
            {
                DiffVip(key, null, program, [], adds);
            }

            DiffSets(ImmutableHashSet<IPAddress>.Empty, vipAddresses, NftRuleset.VipAddressesOf, a => a.ToString(), [], adds);
            DiffSets(ImmutableHashSet<IPAddress>.Empty, hairpin, NftRuleset.HairpinOf, a => $"{a} . {a}", [], adds);
            NftRuleset.Elements(script, "add", _table, adds);
            repairs = 1 + (state is null ? wanted.Count : CountDifferences(state, wanted));
        }
        else
        {
            var deletes = new List<(string, string)>();
            var adds = new List<(string, string)>();
            repairs = 0;
            foreach (var key in state.Vips.Keys.Union(wanted.Keys))
            {
                repairs += DiffVip(key, state.Vips.GetValueOrDefault(key), wanted.GetValueOrDefault(key), deletes, adds) ? 1 : 0;
            }

            repairs += DiffSets(state.VipAddresses, vipAddresses, NftRuleset.VipAddressesOf, a => a.ToString(), deletes, adds);
            repairs += DiffSets(state.Hairpin, hairpin, NftRuleset.HairpinOf, a => $"{a} . {a}", deletes, adds);
            var present = state.Chains.Keys.Select(c => NftRuleset.TryParseClassChain(c, out var size) ? size : 0).Where(s => s > 0).ToHashSet();
            NftRuleset.Elements(script, "delete", _table, deletes);
            foreach (var size in chains.Where(s => !present.Contains(s)).Order())
            {
                NftRuleset.AddClassChain(script, _table, size);
            }

            NftRuleset.Elements(script, "add", _table, adds);
            foreach (var size in present.Where(s => !chains.Contains(s)).Order())
            {
                // No element jumps to it any more (deleted above, in the same transaction).
                script.Append("delete chain inet ").Append(_table).Append(' ').Append(NftRuleset.ClassChain(size)).Append('\n');
            }
        }

        if (script.Length > 0)
        {
            await RunAsync(script.ToString(), cancellationToken).ConfigureAwait(false);
        }

        lock (_gate)
        {
            _entries = desired.Vips;
            _programs = wanted;
            _chains = chains;
            _vipAddresses = Counts(wanted.Values.Select(p => p.Vip.Address));
            _hairpin = Counts(wanted.Values.SelectMany(p => p.Buckets.Select(b => b.Address).Distinct()));
            _tableExists = true;
            _failure = null;
        }

        RecordTable();
        return repairs;
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        await RunAsync($"add table inet {_table}\ndelete table inet {_table}\n", cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _programs = ImmutableDictionary<VipKey, VipProgram>.Empty;
            _chains = [];
            _vipAddresses = [];
            _hairpin = [];
            _tableExists = false;
        }

        if (_stateDirectory is not null)
        {
            File.Delete(Path.Combine(_stateDirectory, StateFile));
        }
    }

    public VipProgramStatus? Describe(VipKey vip)
    {
        VipEntry? entry;
        VipProgram? programmed;
        lock (_gate)
        {
            if (!_entries.TryGetValue(vip, out entry))
            {
                return null;
            }

            _programs.TryGetValue(vip, out programmed);
        }

        var wanted = VipProgram.For(entry, _resolution, out var reason);
        if (wanted is null)
        {
            return VipProgramStatus.NotProgrammed(reason!);
        }

        if (!wanted.Equals(programmed))
        {
            return VipProgramStatus.NotProgrammed(_failure is { } failure ? "nft refused the change: " + failure : "not programmed yet");
        }

        var size = wanted.Buckets.Length;
        var backends = entry.Backends.IsDefault ? [] : entry.Backends;
        return new VipProgramStatus(true, null, [.. backends.Select(b =>
        {
            var buckets = wanted.Buckets.Count(e => e.Equals(b.Endpoint));
            var note = VipProgram.Unusable(vip, b.Endpoint) is { } unusable ? unusable
                : b.Weight == 0 ? "draining: open connections go on, no new ones"
                : string.Create(CultureInfo.InvariantCulture, $"{buckets} of {size} buckets");
            return new BackendProgramStatus(b.Endpoint, buckets > 0, note, null);
        })]);
    }

    /// <summary>Why the listed table is not the one this backend makes, or null when its structure is.</summary>
    private string? StructureDrift(KernelState state)
    {
        if (state.Structure(withHooks: false) != _probeStructure)
        {
            var missing = NftRuleset.FixedChains.Keys.Where(c => !state.Chains.ContainsKey(c)).ToList();
            return missing.Count > 0 ? "chain(s) missing: " + string.Join(", ", missing) : "a rule, chain or set differs from the ones it makes";
        }

        foreach (var (name, hook) in NftRuleset.FixedChains)
        {
            var chain = state.Chains[name];
            if ((chain.Type, chain.Hook, chain.Priority, chain.Policy) != hook)
            {
                return $"chain {name} is hooked differently";
            }
        }

        foreach (var (name, chain) in state.Chains)
        {
            if (NftRuleset.TryParseClassChain(name, out var size) && KernelState.ClassTemplate(chain, size) != _probeClass)
            {
                return $"chain {name} differs from the ones it makes";
            }
        }

        return state.Unreadable > 0 ? $"{state.Unreadable} element(s) it did not write" : null;
    }

    private static int CountDifferences(KernelState state, ImmutableDictionary<VipKey, VipProgram> wanted) =>
        state.Vips.Keys.Union(wanted.Keys).Count(k => !(state.Vips.TryGetValue(k, out var held) && wanted.TryGetValue(k, out var program) && held.Is(program)));

    /// <summary>
    /// The element changes that turn <paramref name="from"/> (a VIP's elements in the kernel, or null) into
    /// <paramref name="to"/> (null: none); whether there are any.
    /// </summary>
    internal static bool DiffVip(VipKey key, KernelVip? from, VipProgram? to, List<(string Set, string Element)> deletes, List<(string Set, string Element)> adds)
    {
        var classes = NftRuleset.ClassesOf(key.Address);
        var addresses = NftRuleset.AddressesOf(key.Address);
        var ports = NftRuleset.PortsOf(key.Address);
        var changed = false;
        var chain = to is null ? null : NftRuleset.ClassChain(to.Buckets.Length);
        if (from?.Chain != chain)
        {
            if (from?.Chain is not null)
            {
                deletes.Add((classes, NftRuleset.VipKeyText(key)));
            }

            if (chain is not null)
            {
                adds.Add((classes, NftRuleset.VipKeyText(key) + " : jump " + chain));
            }

            changed = true;
        }

        var size = to?.Buckets.Length ?? 0;
        for (var i = 0; i < size; i++)
        {
            var held = default(KernelBucket);
            if (from?.Buckets.TryGetValue(i, out held) == true && held.Is(to!.Buckets[i]))
            {
                continue;
            }

            var bucket = NftRuleset.BucketKeyText(key, i);
            if (held.Address is not null)
            {
                deletes.Add((addresses, bucket));
            }

            if (held.Port is not null)
            {
                deletes.Add((ports, bucket));
            }

            adds.Add((addresses, bucket + " : " + to!.Buckets[i].Address));
            adds.Add((ports, bucket + " : " + to.Buckets[i].Port.ToString(CultureInfo.InvariantCulture)));
            changed = true;
        }

        foreach (var (bucket, held) in from?.Buckets.Where(b => b.Key >= size) ?? [])
        {
            if (held.Address is not null)
            {
                deletes.Add((addresses, NftRuleset.BucketKeyText(key, bucket)));
            }

            if (held.Port is not null)
            {
                deletes.Add((ports, NftRuleset.BucketKeyText(key, bucket)));
            }

            changed = true;
        }

        return changed;
    }

    private static int DiffSets(IReadOnlySet<IPAddress> from, IReadOnlySet<IPAddress> to, Func<IPAddress, string> set, Func<IPAddress, string> text, List<(string, string)> deletes, List<(string, string)> adds)
    {
        var changes = 0;
        foreach (var gone in from.Where(a => !to.Contains(a)).OrderBy(a => a.ToString(), StringComparer.Ordinal))
        {
            deletes.Add((set(gone), text(gone)));
            changes++;
        }

        foreach (var added in to.Where(a => !from.Contains(a)).OrderBy(a => a.ToString(), StringComparer.Ordinal))
        {
            adds.Add((set(added), text(added)));
            changes++;
        }

        return changes;
    }

    private static Dictionary<IPAddress, int> Counts(IEnumerable<IPAddress> addresses)
    {
        var counts = new Dictionary<IPAddress, int>();
        foreach (var address in addresses)
        {
            counts[address] = counts.GetValueOrDefault(address) + 1;
        }

        return counts;
    }

    /// <summary>The VIP addresses and the backend addresses (for the hairpin set) of <paramref name="programs"/>.</summary>
    private static (ImmutableHashSet<IPAddress> VipAddresses, ImmutableHashSet<IPAddress> Hairpin) Derived(ImmutableDictionary<VipKey, VipProgram> programs) =>
        ([.. programs.Keys.Select(k => k.Address)], [.. programs.Values.SelectMany(p => p.Buckets).Select(b => b.Address)]);

    private async Task RunAsync(string script, CancellationToken cancellationToken)
    {
        try
        {
            await _nft.RunAsync(script, cancellationToken).ConfigureAwait(false);
            Interlocked.Increment(ref _transactions);
        }
        catch (Exception e) when (e is NftException or TimeoutException)
        {
            Interlocked.Increment(ref _transactions);
            Interlocked.Increment(ref _failedTransactions);
            _failure = e.Message;
            throw;
        }
    }

    /// <summary>
    /// Deletes the table a previous configuration named (<c>table</c> changed since the state file was written), so that
    /// two tables never DNAT the same VIPs.
    /// </summary>
    private async Task ForgetPreviousTableAsync(CancellationToken cancellationToken)
    {
        if (_stateDirectory is null || _tableExists)
        {
            return;
        }

        var path = Path.Combine(_stateDirectory, StateFile);
        var previous = File.Exists(path) ? (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim() : null;
        if (previous is { Length: > 0 } && previous != _table && NftablesOptionsValidator.IsTableName(previous))
        {
            await RunAsync($"add table inet {previous}\ndelete table inet {previous}\n", cancellationToken).ConfigureAwait(false);
            LogPreviousTableDeleted(_logger, previous, _table);
        }
    }

    private void RecordTable()
    {
        if (_stateDirectory is null)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(_stateDirectory);
            var path = Path.Combine(_stateDirectory, StateFile);
            if (!File.Exists(path) || File.ReadAllText(path).Trim() != _table)
            {
                File.WriteAllText(path, _table + "\n");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogStateNotWritten(_logger, e, _stateDirectory);
        }
    }

    private void WarnWithoutForwarding()
    {
        if (_forwardingChecked)
        {
            return;
        }

        _forwardingChecked = true;
        try
        {
            if (File.Exists("/proc/sys/net/ipv4/ip_forward") && File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim() == "0")
            {
                LogNoForwarding(_logger);
            }
        }
        catch (IOException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "nftables: table inet {Table} is not as this backend makes it ({Drift}); rebuilding it in one transaction")]
    private static partial void LogRebuilding(ILogger logger, string table, string drift);

    [LoggerMessage(Level = LogLevel.Information, Message = "nftables: deleted table inet {Previous}, which an earlier configuration used (the table is now {Table})")]
    private static partial void LogPreviousTableDeleted(ILogger logger, string previous, string table);

    [LoggerMessage(Level = LogLevel.Warning, Message = "nftables: could not record the table's name in {Directory}; a rename of [loadbalancer.nftables] table would leave the old one")]
    private static partial void LogStateNotWritten(ILogger logger, Exception exception, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "nftables: net.ipv4.ip_forward is 0: VIPs serve clients on this host only; clients in containers or on other hosts need forwarding on (sysctl net.ipv4.ip_forward=1)")]
    private static partial void LogNoForwarding(ILogger logger);
}
