using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt;

/// <summary>
/// A map of named, typed CRDT fields: the value of every key in the replicated store. A field holds an
/// <see cref="ORSet"/>, <see cref="LwwRegister"/>, <see cref="MvRegister"/>, <see cref="Flag"/>,
/// <see cref="GCounter"/>, <see cref="PnCounter"/> or a nested <see cref="CrdtMap"/>. Plugins change it with
/// <see cref="CrdtOp"/>s (<see cref="Apply(CrdtOp, string, long)"/>) and read it with <see cref="Fields"/> and the
/// typed getters (<see cref="GetORSet"/>, <see cref="GetLwwRegister"/>, ...).
/// </summary>
/// <remarks>
/// <para>
/// <b>Presence.</b> A field is present while it has presence dots (<see cref="CrdtMapEntry.Presence"/>). Each writing
/// op adds a new one (replacing those it saw); <see cref="RemoveField"/> drops those it saw and resets the value as
/// far as its type allows (see <see cref="RemoveField"/>). A write concurrent with a removal therefore keeps the field
/// (add wins), with only what the removal had not seen.
/// </para>
/// <para>
/// <b>One context.</b> The map and every causal value inside it, nested maps included, share one
/// <see cref="Context"/> (Almeida et al.'s observed-remove map), so a removed field leaves no tombstone: the context
/// remembers its dots.
/// </para>
/// <para>
/// <b>Type conflicts.</b> Values of different types under one name (two replicas creating a field concurrently with
/// different types, a plugin bug, a malicious peer) are kept side by side in separate slots
/// (<see cref="CrdtFieldKey"/>) and merged each with its own type, so the merge stays commutative, associative and
/// idempotent. The visible one is the present slot of the largest <see cref="CrdtType"/>; ops that need another type
/// throw <see cref="CrdtTypeMismatchException"/>. <see cref="RemoveField"/> removes every slot of the name.
/// </para>
/// </remarks>
public sealed class CrdtMap : CrdtValue, IMapValue, IReplicatedData<CrdtMap>, IEquatable<CrdtMap>
{
    private static readonly ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> NoEntries =
        ImmutableSortedDictionary.Create<CrdtFieldKey, CrdtMapEntry>();

    private CrdtMap(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, CausalContext context, bool trusted)
    {
        _ = trusted;
        Entries = entries;
        Context = context;
    }

    /// <summary>
    /// Creates a map from raw parts (e.g. when deserializing). Contexts of nested causal values and any dot not in
    /// <paramref name="context"/> are folded into the map's context; slots with no presence and a bottom value are
    /// dropped.
    /// </summary>
    /// <exception cref="ArgumentException">A slot's key names another type than its value has, or appears twice.</exception>
    public CrdtMap(CausalContext context, IEnumerable<KeyValuePair<CrdtFieldKey, CrdtMapEntry>> entries)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(entries);
        var dots = new List<Dot>();
        var contexts = new List<CausalContext>();
        Entries = Normalize(entries, dots, contexts);
        foreach (var nested in contexts)
        {
            context = context.Merge(nested);
        }

        Context = context.AddRange(dots);
    }

    /// <summary>The map with no fields that has seen nothing.</summary>
    public static CrdtMap Empty { get; } = new(NoEntries, CausalContext.Empty, trusted: true);

    /// <summary>Every dot this map (with everything nested in it) has seen.</summary>
    public CausalContext Context { get; }

    /// <summary>
    /// The raw stored slots, removed fields' leftovers included (see <see cref="CrdtMapEntry"/>); for serializers
    /// and diagnostics. Plugins use <see cref="Fields"/>.
    /// </summary>
    public ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> Entries { get; }

    /// <inheritdoc/>
    public override CrdtType Type => CrdtType.Map;

    /// <inheritdoc/>
    public override bool IsBottom => Entries.IsEmpty && Context.IsEmpty;

    /// <summary>Whether no field is present (a deleted or never written store value).</summary>
    public bool IsEmpty
    {
        get
        {
            foreach (var (_, entry) in Entries)
            {
                if (entry.IsPresent)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The present fields, ordered by name (ordinal), each as a standalone value.</summary>
    public IEnumerable<CrdtField> Fields
    {
        get
        {
            string? name = null;
            CrdtMapEntry? visible = null;
            foreach (var (key, entry) in Entries)
            {
                if (!string.Equals(key.Name, name, StringComparison.Ordinal))
                {
                    if (visible is not null)
                    {
                        yield return new CrdtField(name!, View(visible.Value));
                    }

                    name = key.Name;
                    visible = null;
                }

                // Slots of one name come in ascending type order: the last present one wins.
                if (entry.IsPresent)
                {
                    visible = entry;
                }
            }

            if (visible is not null)
            {
                yield return new CrdtField(name!, View(visible.Value));
            }
        }
    }

    /// <summary>The present field <paramref name="name"/> as a standalone value, or null when absent.</summary>
    public CrdtValue? Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var visible = Visible(Entries, name);
        return visible is null ? null : View(visible.Value.Entry.Value);
    }

    /// <inheritdoc/>
    ICrdtValue? IMapValue.Get(string name) => Get(name);

    /// <summary>The field <paramref name="name"/> if it is present and an <see cref="ORSet"/>; otherwise null.</summary>
    public ORSet? GetORSet(string name) => Get(name) as ORSet;

    /// <summary>The field <paramref name="name"/> if it is present and an <see cref="LwwRegister"/>; otherwise null.</summary>
    public LwwRegister? GetLwwRegister(string name) => Get(name) as LwwRegister;

    /// <summary>The field <paramref name="name"/> if it is present and an <see cref="MvRegister"/>; otherwise null.</summary>
    public MvRegister? GetMvRegister(string name) => Get(name) as MvRegister;

    /// <summary>The field <paramref name="name"/> if it is present and a <see cref="Flag"/>; otherwise null.</summary>
    public Flag? GetFlag(string name) => Get(name) as Flag;

    /// <summary>The field <paramref name="name"/> if it is present and a <see cref="GCounter"/>; otherwise null.</summary>
    public GCounter? GetGCounter(string name) => Get(name) as GCounter;

    /// <summary>The field <paramref name="name"/> if it is present and a <see cref="PnCounter"/>; otherwise null.</summary>
    public PnCounter? GetPnCounter(string name) => Get(name) as PnCounter;

    /// <summary>The field <paramref name="name"/> if it is present and a nested map; otherwise null.</summary>
    public CrdtMap? GetMap(string name) => Get(name) as CrdtMap;

    /// <summary>
    /// Applies <paramref name="op"/> as <paramref name="replica"/>. Pure: this map does not change.
    /// </summary>
    /// <param name="op">The change.</param>
    /// <param name="replica">The node making it (new dots are this replica's).</param>
    /// <param name="timestamp">
    /// The writer's clock (the store uses Unix milliseconds), used by register writes: <see cref="LwwSet"/> and the
    /// null written by <see cref="RemoveField"/> take this timestamp, or one past the register's current one if that
    /// is not smaller, so a write always supersedes what its writer has seen.
    /// </param>
    /// <returns>The new map, and the delta to send to other replicas (<c>this.Merge(Delta)</c> equals <c>Value</c>).</returns>
    /// <exception cref="CrdtTypeMismatchException">A field on the op's path has another type than the op needs.</exception>
    public (CrdtMap Value, CrdtMap Delta) Apply(CrdtOp op, string replica, long timestamp)
    {
        ArgumentNullException.ThrowIfNull(op);
        ArgumentException.ThrowIfNullOrEmpty(replica);
        var mutation = new Mutation(op, replica, timestamp, Context.Next(replica).Counter);
        var (entries, delta) = ApplyAt(Entries, 0, mutation);
        if (mutation.NewDots.Count == 0 && mutation.Observed.Count == 0 && delta.IsEmpty)
        {
            return (this, Empty);
        }

        var value = new CrdtMap(entries, Context.AddRange(mutation.NewDots), trusted: true);
        var deltaContext = CausalContext.FromDots(mutation.NewDots.Concat(mutation.Observed));
        return (value, new CrdtMap(delta, deltaContext, trusted: true));
    }

    /// <summary>
    /// Applies <paramref name="ops"/> in order, atomically: all of them or, if one throws, none (this map never changes;
    /// the exception leaves no partial result).
    /// </summary>
    /// <returns>The map after the last op and one delta covering them all.</returns>
    /// <exception cref="CrdtTypeMismatchException">An op does not fit its field's type.</exception>
    public (CrdtMap Value, CrdtMap Delta) Apply(IReadOnlyList<CrdtOp> ops, string replica, long timestamp)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var value = this;
        var deltas = new List<CrdtMap>(ops.Count);
        foreach (var op in ops)
        {
            (value, var delta) = value.Apply(op, replica, timestamp);
            if (!delta.IsBottom)
            {
                deltas.Add(delta);
            }
        }

        // Join the deltas pairwise, as a balanced tree: each join costs the size of its inputs, so this is
        // O(n log n) where folding them one by one into a growing delta would be O(n²).
        while (deltas.Count > 1)
        {
            var joined = new List<CrdtMap>((deltas.Count + 1) / 2);
            for (var i = 0; i < deltas.Count; i += 2)
            {
                joined.Add(i + 1 < deltas.Count ? deltas[i].Merge(deltas[i + 1]) : deltas[i]);
            }

            deltas = joined;
        }

        return (value, deltas.Count == 0 ? Empty : deltas[0]);
    }

    /// <inheritdoc/>
    public CrdtMap Merge(CrdtMap other)
    {
        ArgumentNullException.ThrowIfNull(other);
        var entries = Join(Entries, Context, other.Entries, other.Context);
        var context = Context.Merge(other.Context);
        return ReferenceEquals(entries, Entries) && ReferenceEquals(context, Context) ? this : new CrdtMap(entries, context, trusted: true);
    }

    /// <inheritdoc/>
    public override int EstimateSize() => Context.EstimateSize() + EstimateStoreSize(Entries);

    /// <inheritdoc/>
    public bool Equals(CrdtMap? other)
    {
        if (other is null)
        {
            return false;
        }

        return ReferenceEquals(this, other) || (Context.Equals(other.Context) && EntriesEqual(Entries, other.Entries));
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as CrdtMap);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Context);
        foreach (var (key, entry) in Entries)
        {
            hash.Add(key);
            hash.Add(entry);
        }

        return hash.ToHashCode();
    }

    /// <summary>
    /// Whether <paramref name="replica"/> appears anywhere in this map: a dot seen or held (presence, set elements,
    /// register values, flags, nested maps) or a counter entry.
    /// </summary>
    public bool Mentions(string replica)
    {
        ArgumentException.ThrowIfNullOrEmpty(replica);
        return Context.Mentions(replica) || MentionsIn(Entries, replica);
    }

    /// <summary>
    /// Pruning's collapse of a replica removed from the cluster into <paramref name="into"/> (the pruning owner):
    /// every dot of <paramref name="removed"/> goes, and whatever would disappear with it (a field's presence, a set
    /// element, a register value, an enabled flag) gets a fresh dot of <paramref name="into"/> instead; counters add
    /// the removed replica's counts to <paramref name="into"/>'s. The value a reader sees does not change, and
    /// <paramref name="removed"/> no longer appears (<see cref="Mentions"/> is false). LWW registers keep their
    /// winning write as it is (one replica name per register, not a growing entry).
    /// </summary>
    /// <remarks>
    /// Not a delta but a new state: it is only correct as one step of a coordinated protocol (the store's pruning),
    /// done once, by one replica, after every replica has merged all of <paramref name="removed"/>'s updates; every
    /// replica then applies <see cref="Cleanup"/> to what it holds and merges. A fresh dot is an add: should another
    /// replica remove such an element concurrently, without having seen the collapse, the element stays (add wins).
    /// <c>Cleanup(removed)</c> of <c>s.Merge(s.Collapse(removed, into))</c> equals <c>s.Collapse(removed, into)</c>.
    /// </remarks>
    /// <exception cref="ArgumentException">A name is empty, or both are the same.</exception>
    public CrdtMap Collapse(string removed, string into)
    {
        Pruning.CheckArguments(removed, into);
        if (!Mentions(removed))
        {
            return this;
        }

        var fresh = new DotAllocator(into, Context.Next(into).Counter);
        var entries = PruneEntries(Entries, removed, fresh);
        return new CrdtMap(entries, Context.Without(removed).AddRange(fresh.Allocated), trusted: true);
    }

    /// <summary>
    /// Pruning's cleanup: this map without any dot or counter entry of <paramref name="removed"/>. Alone it loses
    /// what the removed replica contributed; it is correct once its contributions were collapsed into another
    /// replica (<see cref="Collapse"/>) and that collapse is merged or on its way. Cleanup commutes with merge:
    /// <c>a.Merge(b).Cleanup(r)</c> equals <c>a.Cleanup(r).Merge(b.Cleanup(r))</c>, so replicas that clean up at
    /// different times still converge.
    /// </summary>
    public CrdtMap Cleanup(string removed)
    {
        Pruning.CheckArguments(removed);
        if (!Mentions(removed))
        {
            return this;
        }

        return new CrdtMap(PruneEntries(Entries, removed, null), Context.Without(removed), trusted: true);
    }

    /// <summary>
    /// Pruning's partial cleanup: this map without <paramref name="removed"/>'s counter entries (at any depth); dots,
    /// presence and the causal context stay. A replica applies it when a key's collapse (which moved those counts into
    /// the owner's) reaches it before the prune's marker: the counts would otherwise be counted twice, while the
    /// removed replica's dots must stay until the marker says which of them the collapse replaced. Like
    /// <see cref="Cleanup"/>, it commutes with merge.
    /// </summary>
    public CrdtMap CleanupCounts(string removed)
    {
        Pruning.CheckArguments(removed);
        var entries = PruneCounts(Entries, removed);
        return ReferenceEquals(entries, Entries) ? this : new CrdtMap(entries, Context, trusted: true);
    }

    internal CrdtMap WithContext(CausalContext context) => ReferenceEquals(context, Context) ? this : new(Entries, context, trusted: true);

    private static CrdtMap Embedded(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries) =>
        entries.IsEmpty ? Empty : new(entries, CausalContext.Empty, trusted: true);

    private CrdtValue View(CrdtValue value) => value switch
    {
        ORSet set => set.WithContext(Context),
        MvRegister register => register.WithContext(Context),
        Flag flag => flag.WithContext(Context),
        CrdtMap map => map.WithContext(Context),
        _ => value,
    };

    private static (CrdtFieldKey Key, CrdtMapEntry Entry)? Visible(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string name)
    {
        for (var type = CrdtType.Map; type >= CrdtType.GCounter; type--)
        {
            var key = new CrdtFieldKey(name, type);
            if (entries.TryGetValue(key, out var entry) && entry.IsPresent)
            {
                return (key, entry);
            }
        }

        return null;
    }

    // ---- merge ----

    private static ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> Join(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> e1,
        CausalContext c1,
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> e2,
        CausalContext c2)
    {
        if (ReferenceEquals(e1, e2))
        {
            return e1;
        }

        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>.Builder? builder = null;
        if (!c2.IsEmpty)
        {
            // Everything of ours may have been removed on the other side: visit it all.
            foreach (var (key, mine) in e1)
            {
                Set(key, mine, JoinEntry(key.Type, mine, c1, e2.GetValueOrDefault(key), c2));
            }
        }

        foreach (var (key, theirs) in e2)
        {
            var mine = e1.GetValueOrDefault(key);
            if (mine is null || c2.IsEmpty)
            {
                Set(key, mine, JoinEntry(key.Type, mine, c1, theirs, c2));
            }
        }

        return builder?.ToImmutable() ?? e1;

        void Set(CrdtFieldKey key, CrdtMapEntry? before, CrdtMapEntry? after)
        {
            if (ReferenceEquals(before, after))
            {
                return;
            }

            builder ??= e1.ToBuilder();
            if (after is null)
            {
                builder.Remove(key);
            }
            else
            {
                builder[key] = after;
            }
        }
    }

    private static CrdtMapEntry? JoinEntry(CrdtType type, CrdtMapEntry? x, CausalContext c1, CrdtMapEntry? y, CausalContext c2)
    {
        var presence = DotStores.Join(x?.Presence ?? DotStores.NoDots, c1, y?.Presence ?? DotStores.NoDots, c2);
        var before = x?.Value;
        CrdtValue value = type switch
        {
            CrdtType.ORSet => JoinORSet(before as ORSet, c1, y?.Value as ORSet, c2),
            CrdtType.MvRegister => JoinMv(before as MvRegister, c1, y?.Value as MvRegister, c2),
            CrdtType.Flag => JoinFlag(before as Flag, c1, y?.Value as Flag, c2),
            CrdtType.LwwRegister => (before as LwwRegister ?? LwwRegister.Empty).Merge(y?.Value as LwwRegister ?? LwwRegister.Empty),
            CrdtType.GCounter => (before as GCounter ?? GCounter.Empty).Merge(y?.Value as GCounter ?? GCounter.Empty),
            CrdtType.PnCounter => (before as PnCounter ?? PnCounter.Empty).Merge(y?.Value as PnCounter ?? PnCounter.Empty),
            _ => JoinMap(before as CrdtMap, c1, y?.Value as CrdtMap, c2),
        };

        if (x is not null && ReferenceEquals(presence, x.Presence) && ReferenceEquals(value, before))
        {
            return x;
        }

        if (y is not null && ReferenceEquals(value, y.Value) && DotStores.SetEqual(presence, y.Presence))
        {
            return y;
        }

        return presence.IsEmpty && value.IsBottom ? null : CrdtMapEntry.Trusted(presence, value);
    }

    private static CrdtValue JoinORSet(ORSet? x, CausalContext c1, ORSet? y, CausalContext c2)
    {
        var entries = DotStores.Join(x?.Entries ?? DotStores.NoElements, c1, y?.Entries ?? DotStores.NoElements, c2);
        return x is not null && ReferenceEquals(entries, x.Entries) ? x
            : y is not null && ReferenceEquals(entries, y.Entries) ? y
            : entries.IsEmpty ? ORSet.Empty : ORSet.Trusted(entries, CausalContext.Empty);
    }

    private static CrdtValue JoinMv(MvRegister? x, CausalContext c1, MvRegister? y, CausalContext c2)
    {
        var entries = DotStores.Join(x?.Entries ?? DotStores.NoValues, c1, y?.Entries ?? DotStores.NoValues, c2);
        return x is not null && ReferenceEquals(entries, x.Entries) ? x
            : entries.IsEmpty ? MvRegister.Empty : MvRegister.Trusted(entries, CausalContext.Empty);
    }

    private static CrdtValue JoinFlag(Flag? x, CausalContext c1, Flag? y, CausalContext c2)
    {
        var dots = DotStores.Join(x?.Dots ?? DotStores.NoDots, c1, y?.Dots ?? DotStores.NoDots, c2);
        return x is not null && ReferenceEquals(dots, x.Dots) ? x
            : dots.IsEmpty ? Flag.Empty : Flag.Trusted(dots, CausalContext.Empty);
    }

    private static CrdtValue JoinMap(CrdtMap? x, CausalContext c1, CrdtMap? y, CausalContext c2)
    {
        var entries = Join(x?.Entries ?? NoEntries, c1, y?.Entries ?? NoEntries, c2);
        return x is not null && ReferenceEquals(entries, x.Entries) ? x : Embedded(entries);
    }

    // ---- ops ----

    private sealed class Mutation(CrdtOp op, string replica, long timestamp, ulong next)
    {
        private ulong _next = next;

        public CrdtOp Op { get; } = op;

        public string Replica { get; } = replica;

        public long Timestamp { get; } = timestamp;

        /// <summary>Dots generated by the op.</summary>
        public List<Dot> NewDots { get; } = [];

        /// <summary>Dots the op removed or replaced (they go into the delta's context).</summary>
        public List<Dot> Observed { get; } = [];

        public Dot NewDot()
        {
            var dot = new Dot(Replica, _next);
            _next = checked(_next + 1);
            NewDots.Add(dot);
            return dot;
        }

        /// <summary>A fresh presence for a written slot, replacing the one it had.</summary>
        public ImmutableSortedSet<Dot> Present(CrdtMapEntry? entry)
        {
            if (entry is not null)
            {
                Observed.AddRange(entry.Presence);
            }

            return DotStores.NoDots.Add(NewDot());
        }
    }

    private static (ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> Entries, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> Delta) ApplyAt(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, int depth, Mutation m)
    {
        var op = m.Op;
        var name = op.Path[depth];
        var visible = Visible(entries, name);
        if (depth < op.Path.Length - 1)
        {
            if (visible is { Key.Type: var through } && through != CrdtType.Map)
            {
                throw new CrdtTypeMismatchException(op.Path[..(depth + 1)], through, CrdtType.Map, op);
            }

            if (!op.Writes && visible is null)
            {
                return (entries, NoEntries);
            }

            var key = new CrdtFieldKey(name, CrdtType.Map);
            var entry = entries.GetValueOrDefault(key);
            var nested = entry?.Value as CrdtMap ?? Empty;
            var (newNested, nestedDelta) = ApplyAt(nested.Entries, depth + 1, m);
            if (!op.Writes)
            {
                if (ReferenceEquals(newNested, nested.Entries) && nestedDelta.IsEmpty)
                {
                    return (entries, NoEntries);
                }

                return (entries.SetItem(key, CrdtMapEntry.Trusted(entry!.Presence, Embedded(newNested))),
                    nestedDelta.IsEmpty ? NoEntries : NoEntries.Add(key, CrdtMapEntry.Trusted(DotStores.NoDots, Embedded(nestedDelta))));
            }

            var presence = m.Present(entry);
            return (entries.SetItem(key, CrdtMapEntry.Trusted(presence, Embedded(newNested))),
                NoEntries.Add(key, CrdtMapEntry.Trusted(presence, Embedded(nestedDelta))));
        }

        if (op is RemoveField)
        {
            return visible is null ? (entries, NoEntries) : RemoveAll(entries, name, m);
        }

        var type = op.FieldType!.Value;
        if (visible is { Key.Type: var actual } && actual != type)
        {
            throw new CrdtTypeMismatchException(op.Path, actual, type, op);
        }

        if (!op.Writes && visible is null)
        {
            return (entries, NoEntries);
        }

        var slot = new CrdtFieldKey(name, type);
        var current = entries.GetValueOrDefault(slot);
        switch (op)
        {
            case ORSetAdd add:
            {
                var set = current?.Value as ORSet ?? ORSet.Empty;
                var presence = m.Present(current);
                var dot = m.NewDot();
                if (set.Entries.TryGetValue(add.Element, out var old))
                {
                    m.Observed.AddRange(old);
                }

                var single = DotStores.NoDots.Add(dot);
                return Put(entries, slot,
                    CrdtMapEntry.Trusted(presence, ORSet.Trusted(set.Entries.SetItem(add.Element, single), CausalContext.Empty)),
                    CrdtMapEntry.Trusted(presence, ORSet.Trusted(DotStores.NoElements.Add(add.Element, single), CausalContext.Empty)));
            }

            case ORSetRemove remove:
            {
                var set = (ORSet)current!.Value;
                if (!set.Entries.TryGetValue(remove.Element, out var old))
                {
                    return (entries, NoEntries);
                }

                m.Observed.AddRange(old);
                return (entries.SetItem(slot, CrdtMapEntry.Trusted(current.Presence, ORSet.Trusted(set.Entries.Remove(remove.Element), CausalContext.Empty))),
                    NoEntries);
            }

            case ORSetClear:
            {
                var set = (ORSet)current!.Value;
                if (set.Entries.IsEmpty)
                {
                    return (entries, NoEntries);
                }

                m.Observed.AddRange(set.Entries.Values.SelectMany(d => d));
                return (entries.SetItem(slot, CrdtMapEntry.Trusted(current.Presence, ORSet.Empty)), NoEntries);
            }

            case LwwSet set:
            {
                var register = current?.Value as LwwRegister ?? LwwRegister.Empty;
                var presence = m.Present(current);
                var write = new LwwRegister(set.Value, register.NextTimestamp(m.Timestamp), m.Replica);
                return Put(entries, slot, CrdtMapEntry.Trusted(presence, register.Merge(write)), CrdtMapEntry.Trusted(presence, write));
            }

            case MvSet set:
            {
                var register = current?.Value as MvRegister ?? MvRegister.Empty;
                var presence = m.Present(current);
                var dot = m.NewDot();
                m.Observed.AddRange(register.Entries.Keys);
                var value = MvRegister.Trusted(DotStores.NoValues.Add(dot, set.Value), CausalContext.Empty);
                return Put(entries, slot, CrdtMapEntry.Trusted(presence, value), CrdtMapEntry.Trusted(presence, value));
            }

            case FlagEnable:
            {
                var flag = current?.Value as Flag ?? Flag.Empty;
                var presence = m.Present(current);
                var dot = m.NewDot();
                m.Observed.AddRange(flag.Dots);
                var value = Flag.Trusted(DotStores.NoDots.Add(dot), CausalContext.Empty);
                return Put(entries, slot, CrdtMapEntry.Trusted(presence, value), CrdtMapEntry.Trusted(presence, value));
            }

            case FlagDisable:
            {
                var flag = (Flag)current!.Value;
                if (!flag.IsEnabled)
                {
                    return (entries, NoEntries);
                }

                m.Observed.AddRange(flag.Dots);
                return (entries.SetItem(slot, CrdtMapEntry.Trusted(current.Presence, Flag.Empty)), NoEntries);
            }

            case CounterAdd add:
            {
                var counter = current?.Value as PnCounter ?? PnCounter.Empty;
                var presence = m.Present(current);
                var (value, delta) = Counted(op, () => counter.Increment(m.Replica, add.Amount));
                return Put(entries, slot, CrdtMapEntry.Trusted(presence, value), CrdtMapEntry.Trusted(presence, delta));
            }

            case GCounterAdd add:
            {
                var counter = current?.Value as GCounter ?? GCounter.Empty;
                var presence = m.Present(current);
                var (value, delta) = Counted(op, () => counter.Increment(m.Replica, add.Amount));
                return Put(entries, slot, CrdtMapEntry.Trusted(presence, value), CrdtMapEntry.Trusted(presence, delta));
            }

            default:
                throw new NotSupportedException($"unknown op {op.GetType().Name}");
        }
    }

    /// <summary>A counter increment, its overflow reported with the op (the counter stays as it was).</summary>
    private static T Counted<T>(CrdtOp op, Func<T> increment)
    {
        try
        {
            return increment();
        }
        catch (OverflowException e)
        {
            throw new OverflowException($"cannot apply {op}: {e.Message}", e);
        }
    }

    private static (ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>) Put(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, CrdtFieldKey key, CrdtMapEntry value, CrdtMapEntry delta) =>
        (entries.SetItem(key, value), NoEntries.Add(key, delta));

    /// <summary>Removes every slot named <paramref name="name"/>.</summary>
    private static (ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>) RemoveAll(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string name, Mutation m)
    {
        var delta = NoEntries;
        for (var type = CrdtType.GCounter; type <= CrdtType.Map; type++)
        {
            var key = new CrdtFieldKey(name, type);
            if (entries.TryGetValue(key, out var entry))
            {
                var (after, deltaEntry) = Reset(entry, m);
                entries = after is null ? entries.Remove(key) : entries.SetItem(key, after);
                if (deltaEntry is not null)
                {
                    delta = delta.Add(key, deltaEntry);
                }
            }
        }

        return (entries, delta);
    }

    /// <summary>Resets one slot: its presence goes, its value is reset as far as its type allows.</summary>
    private static (CrdtMapEntry? After, CrdtMapEntry? Delta) Reset(CrdtMapEntry entry, Mutation m)
    {
        m.Observed.AddRange(entry.Presence);
        CrdtValue value = entry.Value;
        CrdtMapEntry? delta = null;
        switch (entry.Value)
        {
            case ORSet set:
                m.Observed.AddRange(set.Entries.Values.SelectMany(d => d));
                value = ORSet.Empty;
                break;
            case MvRegister register:
                m.Observed.AddRange(register.Entries.Keys);
                value = MvRegister.Empty;
                break;
            case Flag flag:
                m.Observed.AddRange(flag.Dots);
                value = Flag.Empty;
                break;
            case LwwRegister register when register.Value is not null:
                value = new LwwRegister(null, register.NextTimestamp(m.Timestamp), m.Replica);
                delta = CrdtMapEntry.Trusted(DotStores.NoDots, value);
                break;
            case CrdtMap nested:
                var nestedDelta = NoEntries;
                var nestedEntries = nested.Entries;
                foreach (var (key, nestedEntry) in nested.Entries)
                {
                    var (after, d) = Reset(nestedEntry, m);
                    nestedEntries = after is null ? nestedEntries.Remove(key) : nestedEntries.SetItem(key, after);
                    if (d is not null)
                    {
                        nestedDelta = nestedDelta.Add(key, d);
                    }
                }

                value = Embedded(nestedEntries);
                if (!nestedDelta.IsEmpty)
                {
                    delta = CrdtMapEntry.Trusted(DotStores.NoDots, Embedded(nestedDelta));
                }

                break;
        }

        return (value.IsBottom ? null : CrdtMapEntry.Trusted(DotStores.NoDots, value), delta);
    }

    // ---- pruning ----

    private static bool MentionsIn(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string replica)
    {
        foreach (var (_, entry) in entries)
        {
            if (Pruning.Mentions(entry.Presence, replica))
            {
                return true;
            }

            var mentions = entry.Value switch
            {
                ORSet set => set.Entries.Values.Any(d => Pruning.Mentions(d, replica)),
                MvRegister register => register.Entries.Keys.Any(d => string.Equals(d.Replica, replica, StringComparison.Ordinal)),
                Flag flag => Pruning.Mentions(flag.Dots, replica),
                GCounter counter => counter.Mentions(replica),
                PnCounter counter => counter.Mentions(replica),
                CrdtMap nested => MentionsIn(nested.Entries, replica),
                _ => false,
            };
            if (mentions)
            {
                return true;
            }
        }

        return false;
    }

    private static ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> PruneCounts(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string removed)
    {
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>.Builder? builder = null;
        foreach (var (key, entry) in entries)
        {
            CrdtValue value = entry.Value switch
            {
                GCounter counter => counter.Cleanup(removed),
                PnCounter counter => counter.Cleanup(removed),
                CrdtMap nested when PruneCounts(nested.Entries, removed) is var e && !ReferenceEquals(e, nested.Entries) => Embedded(e),
                var other => other,
            };
            if (ReferenceEquals(value, entry.Value))
            {
                continue;
            }

            builder ??= entries.ToBuilder();
            if (entry.Presence.IsEmpty && value.IsBottom)
            {
                builder.Remove(key);
            }
            else
            {
                builder[key] = CrdtMapEntry.Trusted(entry.Presence, value);
            }
        }

        return builder?.ToImmutable() ?? entries;
    }

    private static ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> PruneEntries(
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries, string removed, DotAllocator? fresh)
    {
        ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry>.Builder? builder = null;
        foreach (var (key, entry) in entries)
        {
            var presence = Pruning.Prune(entry.Presence, removed, fresh);
            CrdtValue value = entry.Value switch
            {
                ORSet set => Pruned(set, Pruning.Prune(set.Entries, removed, fresh)),
                MvRegister register => Pruned(register, Pruning.Prune(register.Entries, removed, fresh)),
                Flag flag => Pruned(flag, Pruning.Prune(flag.Dots, removed, fresh)),
                GCounter counter => fresh is null ? counter.Cleanup(removed) : counter.Collapse(removed, fresh.Replica),
                PnCounter counter => fresh is null ? counter.Cleanup(removed) : counter.Collapse(removed, fresh.Replica),
                CrdtMap nested => Pruned(nested, PruneEntries(nested.Entries, removed, fresh)),
                var other => other,
            };
            if (ReferenceEquals(presence, entry.Presence) && ReferenceEquals(value, entry.Value))
            {
                continue;
            }

            builder ??= entries.ToBuilder();
            if (presence.IsEmpty && value.IsBottom)
            {
                builder.Remove(key);
            }
            else
            {
                builder[key] = CrdtMapEntry.Trusted(presence, value);
            }
        }

        return builder?.ToImmutable() ?? entries;

        static CrdtValue Pruned<T>(CrdtValue before, T after)
            where T : class => (before, after) switch
        {
            (ORSet set, ImmutableSortedDictionary<string, ImmutableSortedSet<Dot>> e) =>
                ReferenceEquals(e, set.Entries) ? set : e.IsEmpty ? ORSet.Empty : ORSet.Trusted(e, CausalContext.Empty),
            (MvRegister register, ImmutableSortedDictionary<Dot, string> e) =>
                ReferenceEquals(e, register.Entries) ? register : e.IsEmpty ? MvRegister.Empty : MvRegister.Trusted(e, CausalContext.Empty),
            (Flag flag, ImmutableSortedSet<Dot> d) =>
                ReferenceEquals(d, flag.Dots) ? flag : d.IsEmpty ? Flag.Empty : Flag.Trusted(d, CausalContext.Empty),
            (CrdtMap map, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> e) => ReferenceEquals(e, map.Entries) ? map : Embedded(e),
            _ => throw new InvalidOperationException("unreachable"),
        };
    }

    // ---- raw parts ----

    private static ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> Normalize(
        IEnumerable<KeyValuePair<CrdtFieldKey, CrdtMapEntry>> entries, List<Dot> dots, List<CausalContext> contexts)
    {
        var builder = NoEntries.ToBuilder();
        foreach (var (key, entry) in entries)
        {
            if (key.Name is null || entry is null)
            {
                throw new ArgumentException("a map slot has a null name or entry", nameof(entries));
            }

            if (entry.Value.Type != key.Type)
            {
                throw new ArgumentException($"map slot \"{key.Name}\" is declared {key.Type} but holds a {entry.Value.Type}", nameof(entries));
            }

            dots.AddRange(entry.Presence);
            CrdtValue value;
            switch (entry.Value)
            {
                case ORSet set:
                    contexts.Add(set.Context);
                    dots.AddRange(set.Entries.Values.SelectMany(d => d));
                    value = set.Entries.IsEmpty ? ORSet.Empty : ORSet.Trusted(set.Entries, CausalContext.Empty);
                    break;
                case MvRegister register:
                    contexts.Add(register.Context);
                    dots.AddRange(register.Entries.Keys);
                    value = register.Entries.IsEmpty ? MvRegister.Empty : MvRegister.Trusted(register.Entries, CausalContext.Empty);
                    break;
                case Flag flag:
                    contexts.Add(flag.Context);
                    dots.AddRange(flag.Dots);
                    value = flag.Dots.IsEmpty ? Flag.Empty : Flag.Trusted(flag.Dots, CausalContext.Empty);
                    break;
                case CrdtMap nested:
                    contexts.Add(nested.Context);
                    value = Embedded(Normalize(nested.Entries, dots, contexts));
                    break;
                default:
                    value = entry.Value;
                    break;
            }

            if (entry.Presence.IsEmpty && value.IsBottom)
            {
                continue;
            }

            if (!builder.TryAdd(key, ReferenceEquals(value, entry.Value) ? entry : CrdtMapEntry.Trusted(entry.Presence, value)))
            {
                throw new ArgumentException($"map slot {key} appears twice", nameof(entries));
            }
        }

        return builder.ToImmutable();
    }

    private static int EstimateStoreSize(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> entries)
    {
        var size = SizeEstimate.Header;
        foreach (var (key, entry) in entries)
        {
            size += SizeEstimate.String(key.Name) + 1 + SizeEstimate.Dots(entry.Presence) + entry.Value switch
            {
                ORSet set => set.EstimateStoreSize(),
                MvRegister register => register.EstimateStoreSize(),
                Flag flag => SizeEstimate.Dots(flag.Dots),
                CrdtMap nested => EstimateStoreSize(nested.Entries),
                var other => other.EstimateSize(),
            };
        }

        return size;
    }

    private static bool EntriesEqual(ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> a, ImmutableSortedDictionary<CrdtFieldKey, CrdtMapEntry> b)
    {
        if (ReferenceEquals(a, b))
        {
            return true;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var ((k1, e1), (k2, e2)) in a.Zip(b))
        {
            if (k1 != k2 || !e1.Equals(e2))
            {
                return false;
            }
        }

        return true;
    }
}
