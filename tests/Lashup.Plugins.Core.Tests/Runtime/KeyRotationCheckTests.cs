using System.Collections.Immutable;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Plugins.Core.Runtime;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Tests.Runtime;

/// <summary>
/// The rule <c>lashup keys</c> applies before replacing a keyring: which rotation steps are refused, judged from the
/// key ids members publish in the member graph (members built by hand here).
/// </summary>
public sealed class KeyRotationCheckTests
{
    private const string Old = "00000000000000aa";
    private const string New = "00000000000000bb";
    private const string Other = "00000000000000cc";

    private static Member M(string name, MemberState state, params string[]? ids) => new(
        name,
        new IPEndPoint(IPAddress.Loopback, 7470),
        state,
        ids is null ? ImmutableDictionary<string, string>.Empty : ImmutableDictionary<string, string>.Empty.Add(KeyringMetadata.Key, KeyringMetadata.Format(ids)),
        DateTimeOffset.UnixEpoch);

    private static Member Alive(string name, params string[] ids) => M(name, MemberState.Alive, ids);

    private static Member Silent(string name) => M(name, MemberState.Alive, null);

    [Fact]
    public void Of_AddingAKey_Safe_EvenWithMembersThatPublishNothing()
    {
        var check = KeyRotationCheck.Of("n1", [Old], [Old, New], [Alive("n1", Old), Alive("n2", Old), Silent("n3"), M("n4", MemberState.Unreachable, Other)]);

        Assert.True(check.Safe);
        Assert.Empty(check.Describe("n1"));
    }

    [Fact]
    public void Of_PromotingAKeyEveryReachableMemberAccepts_Safe()
    {
        var check = KeyRotationCheck.Of("n1", [Old, New], [New, Old], [Alive("n1", Old, New), Alive("n2", Old, New), Alive("n3", New, Old)]);

        Assert.True(check.Safe);
        Assert.Empty(check.CutOff);
    }

    [Fact]
    public void Of_PromotingAKeySomeMembersLack_RefusedNamingThem()
    {
        var check = KeyRotationCheck.Of("n1", [Old, New], [New, Old], [Alive("n1", Old, New), Alive("n2", Old), Alive("n3", Old, New), Alive("n4", Old)]);

        Assert.False(check.Safe);
        Assert.Equal([new CutOff("n2", CutOffReason.DoesNotAcceptNewPrimary, New), new CutOff("n4", CutOffReason.DoesNotAcceptNewPrimary, New)], check.CutOff);
        Assert.Contains(check.Describe("n1"), l => l.StartsWith("n2 does not accept key 00000000000000bb", StringComparison.Ordinal));
    }

    [Fact]
    public void Of_OldReadmeOrder_NewOldOnTheFirstNode_RefusedForEveryOtherMember()
    {
        // `lashup keys NEW OLD` node by node, as the README used to say: the first node would encrypt with a key
        // nobody else has yet.
        var check = KeyRotationCheck.Of("n1", [Old], [New, Old], [Alive("n1", Old), Alive("n2", Old), Alive("n3", Old)]);

        Assert.Equal(["n2", "n3"], check.CutOff.Select(c => c.Member));
    }

    [Fact]
    public void Of_DroppingAKeyAMemberStillEncryptsWith_RefusedNamingIt()
    {
        var check = KeyRotationCheck.Of("n2", [Old, New], [New], [Alive("n1", New, Old), Alive("n2", Old, New), Alive("n3", Old, New)]);

        var cut = Assert.Single(check.CutOff);
        Assert.Equal(new CutOff("n3", CutOffReason.EncryptsWithDroppedKey, Old), cut);
        Assert.Contains("n3 encrypts with key 00000000000000aa, which n2 would drop", Assert.Single(check.Describe("n2")), StringComparison.Ordinal);
    }

    [Fact]
    public void Of_DroppingTheOldKeyOnceEveryMemberPromoted_Safe()
    {
        var check = KeyRotationCheck.Of("n1", [New, Old], [New], [Alive("n1", New, Old), Alive("n2", New), Alive("n3", New, Old)]);

        Assert.True(check.Safe);
    }

    [Fact]
    public void Of_ReplacingTheWholeKeyring_BothWaysCutOffNamed()
    {
        var check = KeyRotationCheck.Of("n1", [Old], [Other], [Alive("n2", Old)]);

        Assert.Equal([CutOffReason.DoesNotAcceptNewPrimary, CutOffReason.EncryptsWithDroppedKey], check.CutOff.Select(c => c.Reason));
    }

    [Fact]
    public void Of_AMemberAlreadyUnableToTalk_NotCountedAsCutOffByThisChange()
    {
        // n2 already encrypts with a key n1 lacks and lacks n1's primary: the change alters nothing for it.
        var check = KeyRotationCheck.Of("n1", [Old, New], [New], [Alive("n2", Other)]);

        Assert.True(check.Safe);
    }

    [Fact]
    public void Of_ReachableMemberPublishingNoKeyIds_RefusedAsUnknown()
    {
        var check = KeyRotationCheck.Of("n1", [Old, New], [New, Old], [Alive("n2", Old, New), Silent("n3"), M("n4", MemberState.Alive, "not-an-id")]);

        Assert.False(check.Safe);
        Assert.Empty(check.CutOff);
        Assert.Equal(["n3", "n4"], check.Unknown);
        Assert.Contains(check.Describe("n1"), l => l.StartsWith("n3, n4: no key ids published", StringComparison.Ordinal));
    }

    [Fact]
    public void Of_UnreachableMembers_ListedNotJudged_ThoseCutOffByTheirLastKeysNamed()
    {
        var check = KeyRotationCheck.Of("n1", [New, Old], [New],
            [Alive("n2", New), M("n3", MemberState.Unreachable, Old, New), M("n4", MemberState.Unreachable, New), M("n5", MemberState.Left, Old)]);

        Assert.True(check.Safe);
        Assert.Equal(["n3", "n4"], check.Unreachable);
        Assert.Equal(["n3"], check.UnreachableCutOff);
        Assert.Contains("not checked, unreachable from n1: n3, n4; by the keys they last published (or none), this cuts n3 off", Assert.Single(check.Describe("n1")), StringComparison.Ordinal);
    }

    [Fact]
    public void Of_DocumentedOrderOnThreeNodes_NoStepRefused_AndTheOldOrderIsRefusedAtOnce()
    {
        Assert.Empty(Run([[Old, New], [New, Old], [New]]));
        Assert.Equal(["n1: [bb,aa]"], Run([[New, Old], [New]]));

        // Each step on every node in turn, each node judging with the others' current keyrings; the refused steps.
        static List<string> Run(string[][] steps)
        {
            var rings = new Dictionary<string, string[]> { ["n1"] = [Old], ["n2"] = [Old], ["n3"] = [Old] };
            var refused = new List<string>();
            foreach (var step in steps)
            {
                foreach (var node in rings.Keys.ToList())
                {
                    var check = KeyRotationCheck.Of(node, rings[node], step, rings.Select(r => Alive(r.Key, r.Value)));
                    if (!check.Safe)
                    {
                        refused.Add($"{node}: [{string.Join(',', step.Select(s => s[^2..]))}]");
                        return refused;
                    }

                    rings[node] = step;
                }
            }

            return refused;
        }
    }

    [Fact]
    public void KeyringMetadata_FormatAndParse_RoundTrip_MalformedIsNull_LongListsFitTheLimit()
    {
        Assert.Equal([New, Old], KeyringMetadata.Parse(KeyringMetadata.Format([New, Old])));
        Assert.Null(KeyringMetadata.Parse(""));
        Assert.Null(KeyringMetadata.Parse("00000000000000AA"));
        Assert.Null(KeyringMetadata.Parse("aa,bb"));
        var many = Enumerable.Range(0, 100).Select(i => i.ToString("x16", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var value = KeyringMetadata.Format(many);
        Assert.True(value.Length <= MessageValidator.MaxMetadataValueLength);
        Assert.Equal(many.Take(60), KeyringMetadata.Parse(value));
    }

    [Fact]
    public void KeyId_IsTheFirst8BytesOfHmacSha256_OfTheLabel()
    {
        // Pinned: every node must derive the same id (python3: hmac.new(bytes(range(32)), b"lashup key id", sha256)).
        Assert.Equal("3614bb0ac0c5f2b5", Keyring.KeyId([.. Enumerable.Range(0, 32).Select(i => (byte)i)]));
        using var keyring = Keyring.Parse([Convert.ToBase64String([.. Enumerable.Range(0, 32).Select(i => (byte)i)]), Convert.ToBase64String(new byte[16])])!;
        Assert.Equal("3614bb0ac0c5f2b5", keyring.KeyIds[0]);
        Assert.Equal(2, keyring.KeyIds.Distinct().Count());
    }

    [Fact]
    public void Parse_NullKey_FormatErrorNamingItsPosition()
    {
        // {"keys": [null]} on the admin API used to end in a NullReferenceException (a 500).
        var e = Assert.Throws<FormatException>(() => Keyring.Parse([Convert.ToBase64String(new byte[16]), null!]));

        Assert.Equal("core.keyring[1]: not base64", e.Message);
    }
}
