using Lashup.Abstractions.Data;
using Lashup.Crdt;

namespace Lashup.Simulator;

/// <summary>
/// Random writes to the replicated store on random nodes, and the ledger that checks them: every write the store
/// acknowledged is recorded with what its node had seen, so that after convergence every replica can be checked
/// against what the specification says it must hold, independently of the CRDT merge code:
/// <list type="bullet">
/// <item>OR-set: an element holds exactly the dots of the acknowledged adds that no acknowledged remove or re-add
/// observed (add wins: an add concurrent with a remove keeps its element);</item>
/// <item>counter: the sum of the acknowledged increments;</item>
/// <item>LWW register: the acknowledged write with the largest (timestamp, node);</item>
/// <item>the whole value and version: the join of every acknowledged write's result.</item>
/// </list>
/// Keys are maps with the fields <c>members</c> (OR-set), <c>owner</c> (LWW) and <c>hits</c> (PN counter).
/// </summary>
internal sealed class StoreWorkload(SimCluster cluster, int keys, int elements = 8)
{
    public const string SetField = "members";
    public const string LwwField = "owner";
    public const string CounterField = "hits";

    private readonly Dictionary<KvKey, Ledger> _ledgers = [];

    // Pruning: each fresh dot a collapse put in place of a removed replica's dot → that original dot (harvested from
    // the owners' collapse records), so that a remove observing the fresh dot supersedes the acknowledged add.
    private readonly Dictionary<(KvKey Key, Dot Dot), Dot> _alias = [];
    private readonly KvKey[] _keys = [.. Enumerable.Range(0, keys).Select(i => KvKey.Parse($"sim/k{i:D4}"))];

    public long Writes { get; private set; }

    public long Acknowledged { get; private set; }

    public IReadOnlyList<KvKey> Keys => _keys;

    /// <summary>One random write (OR-set add 45%, remove 20%, LWW set 15%, counter add 20%) on <paramref name="node"/>.</summary>
    public void WriteRandom(SimNode node)
    {
        var random = cluster.Sim.Random;
        var key = _keys[random.Next(_keys.Length)];
        var dice = random.Next(100);
        if (dice < 20)
        {
            // Only the workload's own elements: scenarios add others (e.g. the churn run's "keep-") and check them.
            var present = node.Kv!.Store.Get(key)?.Value.GetORSet(SetField)?.Elements.Where(e => e.StartsWith('e')).ToList() ?? [];
            if (present.Count > 0)
            {
                Write(node, key, new ORSetRemove([SetField], present[random.Next(present.Count)]));
                return;
            }
        }

        CrdtOp op = dice switch
        {
            < 65 => new ORSetAdd([SetField], $"e{random.Next(elements)}"),
            < 80 => new LwwSet([LwwField], $"{node.Name}@{cluster.Sim.Elapsed.TotalMilliseconds:F0}"),
            _ => new CounterAdd([CounterField], random.Next(-3, 10)),
        };
        Write(node, key, op);
    }

    /// <summary>Applies <paramref name="op"/> on <paramref name="node"/>'s replica and records it if acknowledged.</summary>
    /// <returns>The entry after the write, or null if the store refused it.</returns>
    public KvEntry? Write(SimNode node, KvKey key, CrdtOp op)
    {
        var store = node.Kv!.Store;
        if (store.AwaitingDepartures)
        {
            // A replica back after expire_after away holds writes until membership compared departure records with a
            // peer; the simulator cannot block on it, so the write is not made (a client would retry).
            Writes++;
            return null;
        }

        HarvestCollapses();
        var before = store.Get(key)?.Map ?? CrdtMap.Empty;
        Writes++;
        KvEntry after;
        try
        {
            after = store.UpdateAsync(key, [op]).Result;
        }
        catch (KvException)
        {
            return null;
        }

        Acknowledged++;
        if (!_ledgers.TryGetValue(key, out var ledger))
        {
            ledger = new Ledger();
            _ledgers[key] = ledger;
        }

        ledger.Value = ledger.Value.Merge(after.Map);
        ledger.Version = ledger.Version.Merge(after.Version);
        switch (op)
        {
            case ORSetAdd add:
                ledger.Supersede(add.Element, Dots(before, add.Element).Select(d => Root(key, d)));
                ledger.Create(add.Element, Dots(after.Map, add.Element));
                break;
            case ORSetRemove remove:
                ledger.Supersede(remove.Element, Dots(before, remove.Element).Select(d => Root(key, d)));
                break;
            case LwwSet:
                var written = after.Map.GetLwwRegister(LwwField)!;
                ledger.Lww = ledger.Lww is null ? written : ledger.Lww.Merge(written);
                break;
            case CounterAdd add:
                ledger.CounterSum += add.Amount;
                break;
        }

        return after;
    }

    /// <summary>Checks every live replica against the ledger (the workload's keys and any other key written through <see cref="Write"/>).</summary>
    /// <returns>One line per violation (empty when all is well).</returns>
    public List<string> Verify()
    {
        var violations = new List<string>();
        var replicas = cluster.Live.ToList();
        foreach (var key in _keys.Concat(_ledgers.Keys).Distinct())
        {
            var ledger = _ledgers.GetValueOrDefault(key);
            foreach (var node in replicas)
            {
                var entry = node.Kv!.Store.GetRaw(key);
                if (ledger is null)
                {
                    if (entry is not null)
                    {
                        violations.Add($"{node.Name}: {key} was never written but holds {entry.Value}");
                    }

                    continue;
                }

                if (entry is null)
                {
                    violations.Add($"{node.Name}: {key} is missing");
                    continue;
                }

                if (!entry.Version.Equals(ledger.Version))
                {
                    violations.Add($"{node.Name}: {key} has version {entry.Version}, acknowledged writes make {ledger.Version}");
                }

                if (!entry.Value.Equals(ledger.Value))
                {
                    violations.Add($"{node.Name}: {key} = {entry.Value}, the join of acknowledged writes is {ledger.Value}");
                }

                var set = entry.Map.GetORSet(SetField);
                foreach (var (element, expected) in ledger.ExpectedDots())
                {
                    var actual = set?.Entries.GetValueOrDefault(element) ?? [];
                    if (!actual.SetEquals(expected))
                    {
                        violations.Add($"{node.Name}: {key} element {element} has dots [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
                    }
                }

                foreach (var element in set?.Elements ?? [])
                {
                    if (!ledger.Created.ContainsKey(element))
                    {
                        violations.Add($"{node.Name}: {key} holds {element}, never added");
                    }
                }

                var counter = entry.Value.GetPnCounter(CounterField)?.Value ?? 0;
                if (counter != ledger.CounterSum)
                {
                    violations.Add($"{node.Name}: {key} counter is {counter}, acknowledged increments sum to {ledger.CounterSum}");
                }

                var lww = entry.Map.GetLwwRegister(LwwField);
                if (!Equals(lww, ledger.Lww))
                {
                    violations.Add($"{node.Name}: {key} register is {lww?.Value}@{lww?.Timestamp}/{lww?.Replica}, the last acknowledged write is {ledger.Lww?.Value}@{ledger.Lww?.Timestamp}/{ledger.Lww?.Replica}");
                }
            }

            if (violations.Count > 50)
            {
                violations.Add("(more)");
                break;
            }
        }

        return violations;
    }

    /// <summary>
    /// The checks of <see cref="Verify"/> that survive pruning (which rewrites dots and versions): every live replica
    /// holds the same value and version; each OR-set holds exactly the elements with an acknowledged add that no
    /// acknowledged remove or re-add observed (through collapses); counters sum the acknowledged increments; registers
    /// hold the last acknowledged write; nothing that was never added.
    /// </summary>
    public List<string> VerifyValues()
    {
        HarvestCollapses();
        var violations = new List<string>();
        var replicas = cluster.Live.ToList();
        foreach (var (key, ledger) in _ledgers)
        {
            var first = replicas[0].Kv!.Store.GetRaw(key);
            foreach (var node in replicas)
            {
                var entry = node.Kv!.Store.GetRaw(key);
                if (entry is null)
                {
                    violations.Add($"{node.Name}: {key} is missing");
                    continue;
                }

                if (!entry.Value.Equals(first?.Value) || !entry.Version.Equals(first?.Version))
                {
                    violations.Add($"{node.Name}: {key} = {entry.Value} {entry.Version} differs from {replicas[0].Name}'s {first?.Value} {first?.Version}");
                }

                var expected = ledger.ExpectedDots().Where(e => e.Dots.Count > 0).Select(e => e.Element).Order(StringComparer.Ordinal).ToList();
                var actual = entry.Value.GetORSet(SetField)?.Elements.ToList() ?? [];
                if (!expected.SequenceEqual(actual))
                {
                    violations.Add($"{node.Name}: {key} holds [{string.Join(", ", actual)}], acknowledged adds and removes make [{string.Join(", ", expected)}]");
                }

                var counter = entry.Value.GetPnCounter(CounterField)?.Value ?? 0;
                if (counter != ledger.CounterSum)
                {
                    violations.Add($"{node.Name}: {key} counter is {counter}, acknowledged increments sum to {ledger.CounterSum}");
                }

                var lww = entry.Map.GetLwwRegister(LwwField);
                if (!Equals(lww, ledger.Lww))
                {
                    violations.Add($"{node.Name}: {key} register is {lww?.Value}@{lww?.Timestamp}/{lww?.Replica}, the last acknowledged write is {ledger.Lww?.Value}");
                }
            }

            if (violations.Count > 50)
            {
                violations.Add("(more)");
                break;
            }
        }

        return violations;
    }

    /// <summary>The largest key as it would be without pruning: the join of its acknowledged writes' results, encoded.</summary>
    public int UnprunedKeyBytes() => _ledgers.Values
        .Select(l => Lashup.Plugins.Core.Store.CrdtCodec.EncodeMap(l.Value).Length + Lashup.Plugins.Core.Store.CrdtCodec.EncodeVersion(l.Version).Length)
        .DefaultIfEmpty()
        .Max();

    /// <summary>The replicas named in the acknowledged writes of <paramref name="key"/>: what its state would name without pruning.</summary>
    public int WritersOf(KvKey key) => _ledgers.TryGetValue(key, out var ledger) ? ledger.Version.Entries.Count : 0;

    /// <summary>
    /// Every replica name an entry's state holds: in its version, its context (vector and cloud), the dots of its
    /// fields (presence, set elements, register values, flags, nested maps) and its counter entries.
    /// </summary>
    public static HashSet<string> ReplicasIn(KvEntry entry)
    {
        // A version entry at CollapsedVersion is a pruned replica's tombstone (the evidence that the key holds its
        // collapse), kept until the marker is deleted; it holds none of the replica's state (its bytes are in the
        // measured key sizes).
        var names = new HashSet<string>(entry.Version.Entries.Where(e => e.Value != Lashup.Plugins.Core.Store.KvStore.CollapsedVersion).Select(e => e.Key), StringComparer.Ordinal);
        Lashup.Plugins.Core.Store.ValueWalk.NamedIn(entry.Map, names);
        return names;
    }

    /// <summary>Records the collapses the live owners made since the last call (see <c>_alias</c>).</summary>
    public void HarvestCollapses()
    {
        foreach (var node in cluster.Live)
        {
            foreach (var (_, keys) in node.Kv!.Store.Moves)
            {
                foreach (var (key, replaced) in keys)
                {
                    foreach (var (original, fresh) in replaced)
                    {
                        foreach (var dot in fresh)
                        {
                            _alias.TryAdd((key, dot), Root(key, original));
                        }
                    }
                }
            }
        }
    }

    private Dot Root(KvKey key, Dot dot)
    {
        while (_alias.TryGetValue((key, dot), out var original))
        {
            dot = original;
        }

        return dot;
    }

    /// <summary>Whether every live replica holds the same versions of the same keys (by the anti-entropy digests).</summary>
    public static bool ReplicasEqual(SimCluster cluster)
    {
        ulong[]? first = null;
        var count = -1;
        foreach (var node in cluster.Live)
        {
            var store = node.Kv!.Store;
            var digest = store.BucketDigest();
            if (first is null)
            {
                first = digest;
                count = store.Count;
            }
            else if (store.Count != count || !digest.AsSpan().SequenceEqual(first))
            {
                return false;
            }
        }

        return true;
    }

    private static IEnumerable<Dot> Dots(CrdtMap value, string element) =>
        value.GetORSet(SetField)?.Entries.GetValueOrDefault(element) ?? [];

    private sealed class Ledger
    {
        public CrdtMap Value { get; set; } = CrdtMap.Empty;

        public VersionVector Version { get; set; } = VersionVector.Empty;

        public long CounterSum { get; set; }

        public LwwRegister? Lww { get; set; }

        public Dictionary<string, HashSet<Dot>> Created { get; } = new(StringComparer.Ordinal);

        private Dictionary<string, HashSet<Dot>> Superseded { get; } = new(StringComparer.Ordinal);

        public void Create(string element, IEnumerable<Dot> dots) => Of(Created, element).UnionWith(dots);

        public void Supersede(string element, IEnumerable<Dot> dots) => Of(Superseded, element).UnionWith(dots);

        public IEnumerable<(string Element, HashSet<Dot> Dots)> ExpectedDots() =>
            Created.Select(c => (c.Key, c.Value.Except(Superseded.GetValueOrDefault(c.Key) ?? []).ToHashSet()));

        private static HashSet<Dot> Of(Dictionary<string, HashSet<Dot>> map, string element)
        {
            if (!map.TryGetValue(element, out var set))
            {
                set = [];
                map[element] = set;
            }

            return set;
        }
    }
}
