using System.Collections.Immutable;
using System.Text;
using Lashup.Crdt;

namespace Lashup.Plugins.Core.Store;

/// <summary>
/// The one walk over a value's places that name replicas, shared by everything pruning asks of a value: which replicas
/// it names (<see cref="NamedIn"/>), which dots it holds (<see cref="HeldDots"/>), what it holds of one replica
/// (<see cref="Footprint"/>), and which fresh dots replaced a departed replica's in a collapse (<see cref="MapCollapse"/>).
/// A place is a field's presence, an OR-set element, a multi-value register's value, a flag, or a counter; its path
/// (<c>/field:type/element</c>) is built only for the walks that compare places.
/// </summary>
internal static class ValueWalk
{
    /// <summary>What a walk is told, place by place.</summary>
    private interface IVisitor
    {
        /// <summary>Whether <c>place</c> arguments are wanted (they cost a string per place).</summary>
        bool WantsPlaces { get; }

        void Dots(string? place, IEnumerable<Dot> dots);

        void Counts(string? place, ImmutableSortedDictionary<string, ulong> increments, ImmutableSortedDictionary<string, ulong>? decrements);

        void Context(CausalContext context);
    }

    private static void Walk(CrdtMap value, IVisitor visitor, string path = "")
    {
        visitor.Context(value.Context);
        foreach (var (key, entry) in value.Entries)
        {
            var at = visitor.WantsPlaces ? $"{path}/{key.Name}:{(int)key.Type}" : null;
            visitor.Dots(at is null ? null : $"{at}@", entry.Presence); // the field's presence: a place of its own
            switch (entry.Value)
            {
                case ORSet set:
                    foreach (var (element, dots) in set.Entries)
                    {
                        visitor.Dots(at is null ? null : $"{at}/{element}", dots);
                    }

                    break;
                case MvRegister register when visitor.WantsPlaces:
                    foreach (var group in register.Entries.GroupBy(e => e.Value, StringComparer.Ordinal))
                    {
                        visitor.Dots($"{at}={group.Key}", group.Select(e => e.Key));
                    }

                    break;
                case MvRegister register:
                    visitor.Dots(null, register.Entries.Keys);
                    break;
                case Flag flag:
                    visitor.Dots(at, flag.Dots);
                    break;
                case GCounter counter:
                    visitor.Counts(at, counter.Counts, null);
                    break;
                case PnCounter counter:
                    visitor.Counts(at, counter.Increments.Counts, counter.Decrements.Counts);
                    break;
                case CrdtMap nested:
                    Walk(nested, visitor, at ?? "");
                    break;
            }
        }
    }

    /// <summary>Adds every replica named anywhere in <paramref name="value"/> (context, dots, counter entries).</summary>
    public static void NamedIn(CrdtMap value, HashSet<string> named) => Walk(value, new Named(named));

    /// <summary>Every dot <paramref name="value"/> holds (not the ones it has only seen).</summary>
    public static HashSet<Dot> HeldDots(CrdtMap value)
    {
        var held = new Held();
        Walk(value, held);
        return held.Dots;
    }

    /// <summary>Appends what belongs to <paramref name="replica"/> in <paramref name="value"/>, place by place (other
    /// replicas' writes do not change it): its dots, and its counter entries.</summary>
    public static void Footprint(StringBuilder sb, CrdtMap value, string replica) => Walk(value, new FootprintOf(sb, replica));

    /// <summary>Pairs, place by place, the dots of <paramref name="removed"/> before a collapse with the fresh dots after it.</summary>
    public static void MapCollapse(CrdtMap before, CrdtMap after, string removed, Dictionary<Dot, Dot[]> map)
    {
        var old = new Places();
        Walk(before, old);
        var now = new Places();
        Walk(after, now);
        foreach (var (place, dots) in old.Dots)
        {
            if (!now.Dots.TryGetValue(place, out var next))
            {
                continue;
            }

            var previous = dots.ToHashSet();
            var fresh = next.Where(d => !previous.Contains(d)).ToArray();
            if (fresh.Length == 0)
            {
                continue;
            }

            foreach (var dot in previous.Where(d => string.Equals(d.Replica, removed, StringComparison.Ordinal)))
            {
                map[dot] = fresh;
            }
        }
    }

    private sealed class Named(HashSet<string> named) : IVisitor
    {
        public bool WantsPlaces => false;

        public void Context(CausalContext context)
        {
            named.UnionWith(context.Vector.Entries.Keys);
            foreach (var dot in context.Cloud)
            {
                named.Add(dot.Replica);
            }
        }

        public void Dots(string? place, IEnumerable<Dot> dots)
        {
            foreach (var dot in dots)
            {
                named.Add(dot.Replica);
            }
        }

        public void Counts(string? place, ImmutableSortedDictionary<string, ulong> increments, ImmutableSortedDictionary<string, ulong>? decrements)
        {
            named.UnionWith(increments.Keys);
            if (decrements is not null)
            {
                named.UnionWith(decrements.Keys);
            }
        }
    }

    private sealed class Held : IVisitor
    {
        public HashSet<Dot> Dots { get; } = [];

        public bool WantsPlaces => false;

        public void Context(CausalContext context)
        {
        }

        void IVisitor.Dots(string? place, IEnumerable<Dot> dots) => Dots.UnionWith(dots);

        public void Counts(string? place, ImmutableSortedDictionary<string, ulong> increments, ImmutableSortedDictionary<string, ulong>? decrements)
        {
        }
    }

    private sealed class FootprintOf(StringBuilder sb, string replica) : IVisitor
    {
        public bool WantsPlaces => true;

        public void Context(CausalContext context)
        {
        }

        public void Dots(string? place, IEnumerable<Dot> dots)
        {
            foreach (var dot in dots)
            {
                if (string.Equals(dot.Replica, replica, StringComparison.Ordinal))
                {
                    sb.Append('\n').Append(place).Append(' ').Append(dot.Counter);
                }
            }
        }

        public void Counts(string? place, ImmutableSortedDictionary<string, ulong> increments, ImmutableSortedDictionary<string, ulong>? decrements)
        {
            if (increments.ContainsKey(replica) || decrements?.ContainsKey(replica) == true)
            {
                sb.Append('\n').Append(place).Append(" +").Append(increments.GetValueOrDefault(replica));
                if (decrements is not null)
                {
                    sb.Append(" -").Append(decrements.GetValueOrDefault(replica));
                }
            }
        }
    }

    private sealed class Places : IVisitor
    {
        public Dictionary<string, List<Dot>> Dots { get; } = new(StringComparer.Ordinal);

        public bool WantsPlaces => true;

        public void Context(CausalContext context)
        {
        }

        void IVisitor.Dots(string? place, IEnumerable<Dot> dots)
        {
            if (!Dots.TryGetValue(place!, out var list))
            {
                list = [];
                Dots[place!] = list;
            }

            list.AddRange(dots);
        }

        public void Counts(string? place, ImmutableSortedDictionary<string, ulong> increments, ImmutableSortedDictionary<string, ulong>? decrements)
        {
        }
    }
}
