using System.Text;
using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// The key ids a node publishes in its member-graph record: the reserved metadata entry <see cref="Key"/>, the public
/// ids of its keyring (<see cref="Keyring.KeyIds"/>), primary first, comma-separated. Metadata rather than a new field
/// of the record, so that nodes of an older version, which decode and re-encode every record they relay, pass it on
/// intact (a field they do not know would be dropped on the way, with no newer version of the record to repair it).
/// </summary>
internal static class KeyringMetadata
{
    public const string Key = "core.key_ids";

    private const int IdLength = 16;

    /// <summary>
    /// The metadata value for <paramref name="ids"/>. Only as many ids as fit a metadata value are published (60);
    /// a member reading a shortened list takes the missing keys as not accepted, which can only make a check refuse.
    /// </summary>
    public static string Format(IReadOnlyList<string> ids)
    {
        var text = new StringBuilder();
        foreach (var id in ids)
        {
            if (text.Length + 1 + id.Length > MessageValidator.MaxMetadataValueLength)
            {
                break;
            }

            text.Append(text.Length == 0 ? "" : ",").Append(id);
        }

        return text.ToString();
    }

    /// <summary>The ids <paramref name="member"/> publishes, primary first; null if it publishes none or none readable.</summary>
    public static IReadOnlyList<string>? Of(Member member) =>
        member.Metadata.TryGetValue(Key, out var value) ? Parse(value) : null;

    public static IReadOnlyList<string>? Parse(string value)
    {
        var ids = value.Split(',');
        foreach (var id in ids)
        {
            if (id.Length != IdLength || !id.All(char.IsAsciiHexDigitLower))
            {
                return null;
            }
        }

        return ids;
    }
}

/// <summary>Why a keyring change would cut a member off.</summary>
internal enum CutOffReason
{
    /// <summary>The member does not accept the key this node would encrypt with: it would drop everything this node sends.</summary>
    DoesNotAcceptNewPrimary,

    /// <summary>The member encrypts with a key this node would drop: this node would drop everything it sends.</summary>
    EncryptsWithDroppedKey,
}

/// <summary>A member a keyring change would cut off, and why (<paramref name="KeyId"/>: the key in question).</summary>
internal sealed record CutOff(string Member, CutOffReason Reason, string KeyId);

/// <summary>
/// What a keyring change on this node would do to the members it can reach, judged from the key ids they publish
/// (<see cref="KeyringMetadata"/>). <see cref="Safe"/> when it cuts no reachable member off and every reachable member
/// published its keys (or the change only adds keys). Members this node cannot reach are not judged, only listed
/// (<see cref="Unreachable"/>), with those the change would cut off by the keys they last published
/// (<see cref="UnreachableCutOff"/>).
/// </summary>
internal sealed record KeyRotationCheck(
    IReadOnlyList<CutOff> CutOff,
    IReadOnlyList<string> Unknown,
    IReadOnlyList<string> Unreachable,
    IReadOnlyList<string> UnreachableCutOff)
{
    public bool Safe => CutOff.Count == 0 && Unknown.Count == 0;

    /// <summary>
    /// Judges replacing the keyring <paramref name="current"/> by <paramref name="proposed"/> (public key ids, primary
    /// first) on node <paramref name="self"/>. A reachable member is cut off when it could read this node's messages
    /// and would not any more (it does not accept the new primary), or this node could read its messages and would
    /// not any more (its primary is dropped). Consul's keyring refuses the same two steps: `-use` of a key not
    /// installed on every member, `-remove` of the key in use.
    /// </summary>
    public static KeyRotationCheck Of(string self, IReadOnlyList<string> current, IReadOnlyList<string> proposed, IEnumerable<Member> members)
    {
        // Adding keys, with the same primary, cannot cut anybody off: nothing to judge.
        var onlyAdds = current.Count > 0 && proposed.Count > 0 && current[0] == proposed[0] && current.All(proposed.Contains);
        if (onlyAdds)
        {
            return new([], [], [], []);
        }

        var cutOff = new List<CutOff>();
        var unknown = new List<string>();
        var unreachable = new List<string>();
        var unreachableCutOff = new List<string>();
        foreach (var member in members.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            if (member.Name == self || member.State == MemberState.Left)
            {
                continue;
            }

            var theirs = KeyringMetadata.Of(member);
            var problems = theirs is { Count: > 0 } ? Judge(member.Name, theirs, current, proposed) : null;
            if (member.State != MemberState.Alive)
            {
                unreachable.Add(member.Name);
                if (problems is not { Count: 0 })
                {
                    unreachableCutOff.Add(member.Name);
                }
            }
            else if (problems is null)
            {
                unknown.Add(member.Name);
            }
            else
            {
                cutOff.AddRange(problems);
            }
        }

        return new(cutOff, unknown, unreachable, unreachableCutOff);
    }

    private static List<CutOff> Judge(string member, IReadOnlyList<string> theirs, IReadOnlyList<string> current, IReadOnlyList<string> proposed)
    {
        var problems = new List<CutOff>();
        if (theirs.Contains(current[0]) && !theirs.Contains(proposed[0]))
        {
            problems.Add(new(member, CutOffReason.DoesNotAcceptNewPrimary, proposed[0]));
        }

        if (current.Contains(theirs[0]) && !proposed.Contains(theirs[0]))
        {
            problems.Add(new(member, CutOffReason.EncryptsWithDroppedKey, theirs[0]));
        }

        return problems;
    }

    /// <summary>One line per problem, for the operator; empty when there is nothing to say.</summary>
    public IReadOnlyList<string> Describe(string self)
    {
        var lines = new List<string>();
        foreach (var c in CutOff)
        {
            lines.Add(c.Reason == CutOffReason.DoesNotAcceptNewPrimary
                ? $"{c.Member} does not accept key {c.KeyId}, which would become {self}'s primary: {c.Member} would drop everything {self} sends (add the key there first)"
                : $"{c.Member} encrypts with key {c.KeyId}, which {self} would drop: {self} would drop everything {c.Member} sends (promote the new key there first)");
        }

        if (Unknown.Count > 0)
        {
            lines.Add($"{string.Join(", ", Unknown)}: no key ids published (a version without key checks?), cannot tell whether this cuts {(Unknown.Count == 1 ? "it" : "them")} off");
        }

        if (Unreachable.Count > 0)
        {
            lines.Add($"not checked, unreachable from {self}: {string.Join(", ", Unreachable)}" + (UnreachableCutOff.Count == 0
                ? " (by the keys they last published, this does not cut them off)"
                : $"; by the keys they last published (or none), this cuts {string.Join(", ", UnreachableCutOff)} off: give {(UnreachableCutOff.Count == 1 ? "it" : "them")} the same keys before {(UnreachableCutOff.Count == 1 ? "it rejoins" : "they rejoin")}"));
        }

        return lines;
    }
}
