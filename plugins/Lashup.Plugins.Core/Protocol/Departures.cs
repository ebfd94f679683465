using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// A replica identity: the node name plus the incarnation its store drew when its store file was created
/// (<c>node-3~5f0c2a9e41b7</c>), as Akka's <c>UniqueAddress</c> carries a uid. A node whose data folder is wiped comes
/// back as a new identity under the same name; a store file older than identities keeps its replica name (the node name,
/// or <c>name~N</c>) as its identity. Members publish their identity in their member-graph record.
/// </summary>
internal static class ReplicaId
{
    public const char Separator = '~';

    /// <summary>The reserved metadata entry in which a member publishes its store's identity.</summary>
    public const string MetadataKey = "core.replica";

    /// <summary>The node a replica identity belongs to (<c>node~5f0c2a9e41b7</c> → <c>node</c>).</summary>
    public static string NodeOf(string replica)
    {
        var i = replica.IndexOf(Separator, StringComparison.Ordinal);
        return i < 0 ? replica : replica[..i];
    }

    /// <summary>A new identity of <paramref name="node"/>: 48 random bits in hex (they only need to differ between
    /// incarnations of one name).</summary>
    public static string New(string node, Random random)
    {
        Span<byte> bytes = stackalloc byte[6];
        random.NextBytes(bytes);
        return $"{node}{Separator}{Convert.ToHexStringLower(bytes)}";
    }

    /// <summary>The identity a member's record publishes, or null (a node of a version before identities).</summary>
    public static string? PublishedBy(AdjacencyRecord record) => record.Metadata.GetValueOrDefault(MetadataKey);

    /// <summary>The identity a member's record stands for: the published one, else the node name (an older node's store
    /// writes under its name).</summary>
    public static string Of(AdjacencyRecord record) => PublishedBy(record) ?? record.Name;
}

/// <summary>Why an identity departed.</summary>
internal enum DepartureReason : byte
{
    /// <summary>Not seen alive for <c>expire_after</c> by a node that reached a majority of its reference membership
    /// all that time (it left gracefully, crashed, or was cut off on a minority side).</summary>
    Unreachable = 0,

    /// <summary>Its node published a newer identity (its store file was created again, or it moved on).</summary>
    Superseded = 1,

    /// <summary>Named in the store's data but never seen alive for <c>expire_after</c> of continuous majority.</summary>
    Unknown = 2,
}

/// <summary>One entry of the departure record (times in Unix ms).</summary>
/// <param name="Replica">The departed identity.</param>
/// <param name="At">When it was first recorded.</param>
/// <param name="Reason">Why.</param>
/// <param name="Retired">Its prune was performed and its marker expired: every state holds its collapse, and whatever
/// still names it is stale.</param>
internal sealed record Departure(string Replica, long At, DepartureReason Reason, bool Retired)
{
    /// <summary>The join of two records of one identity: the earliest time (and its reason), retired if either is.</summary>
    public Departure Merge(Departure other) =>
        At <= other.At ? this with { Retired = Retired || other.Retired } : other with { Retired = Retired || other.Retired };

    public DepartureEntry ToWire() => new(Replica, At, (byte)Reason, Retired);

    public static Departure FromWire(DepartureEntry e) => new(e.Replica, e.At, (DepartureReason)e.Reason, e.Retired);
}

/// <summary>An immutable view of the departure record, safe to read from any thread.</summary>
internal sealed class DepartureSnapshot
{
    public static readonly DepartureSnapshot Empty = new(ImmutableDictionary.Create<string, Departure>(StringComparer.Ordinal), 0);

    public DepartureSnapshot(ImmutableDictionary<string, Departure> entries, long version)
    {
        Entries = entries;
        Version = version;
    }

    public ImmutableDictionary<string, Departure> Entries { get; }

    /// <summary>Grows with every change, so a reader can tell that something changed.</summary>
    public long Version { get; }

    public int Count => Entries.Count;

    public bool IsDeparted(string replica) => Entries.ContainsKey(replica);

    public bool IsRetired(string replica) => Entries.TryGetValue(replica, out var d) && d.Retired;

    /// <summary>An order-independent hash of the record and of a reference membership (never 0: 0 is what older
    /// nodes send).</summary>
    public static ulong Hash(IEnumerable<Departure> entries, IEnumerable<string> roster)
    {
        var hash = 0x9e3779b97f4a7c15UL;
        foreach (var d in entries)
        {
            hash ^= EntryHash(d.Replica, d.Retired ? 1UL : 2UL);
        }

        foreach (var r in roster)
        {
            hash ^= EntryHash(r, 3UL);
        }

        return hash == 0 ? 1 : hash;
    }

    private static ulong EntryHash(string replica, ulong tag)
    {
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(replica))
        {
            h = (h ^ b) * 1099511628211UL;
        }

        return (h ^ tag) * 1099511628211UL;
    }
}

/// <summary>An identity in the reference membership: seen alive, not departed.</summary>
/// <param name="Replica">The identity.</param>
/// <param name="SeenAt">When this node last saw it alive (Unix ms).</param>
internal sealed record RosterEntry(string Replica, long SeenAt);

/// <summary>What membership keeps across restarts besides the epoch: the departure record and the reference membership.</summary>
internal sealed record MembershipState(IReadOnlyList<Departure> Departures, IReadOnlyList<RosterEntry> Roster)
{
    public static readonly MembershipState Empty = new([], []);

    private const string Format = "lashup-membership-1";

    /// <summary>The text form: a format line, then one line per departure (<c>d</c>) and roster entry (<c>r</c>).</summary>
    public string ToText()
    {
        var sb = new StringBuilder(Format).Append('\n');
        foreach (var d in Departures)
        {
            sb.Append(CultureInfo.InvariantCulture, $"d {d.Replica} {d.At} {(int)d.Reason} {(d.Retired ? 1 : 0)}\n");
        }

        foreach (var r in Roster)
        {
            sb.Append(CultureInfo.InvariantCulture, $"r {r.Replica} {r.SeenAt}\n");
        }

        return sb.ToString();
    }

    /// <exception cref="FormatException">The text is not a membership state.</exception>
    public static MembershipState Parse(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0] != Format)
        {
            throw new FormatException($"not a membership state (expected the line \"{Format}\" first)");
        }

        var departures = new List<Departure>();
        var roster = new List<RosterEntry>();
        foreach (var line in lines.Skip(1))
        {
            var parts = line.Split(' ');
            if (parts is ["d", var replica, var at, var reason, var retired] && MessageValidator.IsReplica(replica)
                && long.TryParse(at, NumberStyles.Integer, CultureInfo.InvariantCulture, out var atMs)
                && byte.TryParse(reason, NumberStyles.None, CultureInfo.InvariantCulture, out var why) && why <= 2)
            {
                departures.Add(new Departure(replica, atMs, (DepartureReason)why, retired == "1"));
            }
            else if (parts is ["r", var identity, var seen] && MessageValidator.IsReplica(identity)
                     && long.TryParse(seen, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
            {
                roster.Add(new RosterEntry(identity, s));
            }
            else
            {
                throw new FormatException($"unreadable line \"{(line.Length > 80 ? line[..80] + "..." : line)}\"");
            }
        }

        return new MembershipState(departures, roster);
    }
}

/// <summary>Where membership keeps its state across restarts: a file in <c>data_dir/core</c> in the daemon, memory
/// that survives a simulated crash in the simulator.</summary>
internal interface IMembershipPersistence
{
    /// <summary>The state last saved, or <see cref="MembershipState.Empty"/>.</summary>
    /// <exception cref="InvalidOperationException">The saved state cannot be read; the message says what to do.</exception>
    MembershipState Load();

    /// <summary>Saves the state durably (replacing the previous one at once, never half-written).</summary>
    /// <exception cref="IOException">The disk failed; the previous state is still there.</exception>
    void Save(MembershipState state);
}
