using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Core.Tests.Protocol;

/// <summary>
/// What one frame may make a plaintext node do (issue 15): replies to unproven addresses are rate-limited, per-sender
/// state for made-up names is bounded, and an epoch far ahead of what a member's record says is not believed until the
/// member itself answers. One node, frames handed to it directly, a recording network and a fake clock.
/// </summary>
public class NodeTrustTests
{
    private const string Victim = "10.9.9.9:1";
    private static readonly NodeRef B = new("node-b", "10.0.0.2:7470");
    private static readonly NodeRef C = new("node-c", "10.0.0.3:7470");

    [Fact]
    public void Ping_FromMadeUpSendersNamingOneAddress_AcksLimitedToItsBucket()
    {
        var h = new Harness();

        for (var i = 0; i < 1000; i++)
        {
            h.Node.Receive(new Envelope($"made-up-{i}", Victim, 1, 1, new Ping((ulong)i + 1)));
        }

        Assert.Equal(32, h.SentTo(Victim).Count(e => e.Body is Ack));
        Assert.Equal(968, h.Node.Stats.RepliesRateLimited);
        h.Time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 100; i++)
        {
            h.Node.Receive(new Envelope($"made-up-again-{i}", Victim, 1, 1, new Ping((ulong)i + 1)));
        }

        Assert.Equal(40, h.SentTo(Victim).Count(e => e.Body is Ack));
    }

    [Fact]
    public void Ping_AuthenticatedFrames_EveryPingAnswered()
    {
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });

        for (var i = 0; i < 1000; i++)
        {
            h.Node.Receive(new Envelope($"member-{i}", Victim, 1, 1, new Ping((ulong)i + 1)));
        }

        Assert.Equal(1000, h.SentTo(Victim).Count(e => e.Body is Ack));
    }

    [Fact]
    public void Ping_FromAnAddressThatAnsweredOurProbe_NotLimited()
    {
        var h = new Harness();
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 1, new NeighborRequest(HighPriority: true)));
        h.Time.Advance(TimeSpan.FromSeconds(2));
        var probe = h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>().First();
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 2, new Ack(probe.ProbeId)));

        for (ulong i = 0; i < 200; i++)
        {
            h.Node.Receive(new Envelope(B.Name, B.Address, 1, 10 + i, new Ping(1000 + i)));
        }

        Assert.Equal(200, h.SentTo(B.Address).Count(e => e.Body is Ack));
        Assert.Equal(0, h.Node.Stats.RepliesRateLimited);
    }

    [Fact]
    public void Receive_FloodOfMadeUpSenders_ReplayWindowsBounded()
    {
        var h = new Harness();

        for (var i = 0; i < 20_000; i++)
        {
            h.Node.Receive(new Envelope($"made-up-{i}", $"10.{i / 65536}.{i / 256 % 256}.{i % 256}:1", 1, 1, new Ping(1)));
        }

        Assert.Equal(1024, h.Node.Stats.SendersTracked);
    }

    [Fact]
    public void Receive_ForgedPingWithHugeEpochInAMembersName_MembersRealFramesStillAccepted()
    {
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 1, new Ping(1)));

        h.Node.Receive(new Envelope(B.Name, B.Address, 1_000_000_000_000, 5, new Ping(2)));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 2, new Ping(3)));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 3, new Ping(4)));

        Assert.Equal(0, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
        Assert.Equal([1UL, 2, 3, 4], h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>().Select(a => a.ProbeId));
    }

    [Fact]
    public void Store_RecordOfTheMembersNextEpoch_BelievedAtOnceAndItsOlderFramesRefused()
    {
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 1, new Ping(1)));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 2, 1))));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 2, new Ping(2)));

        Assert.Equal(2, h.Node.RecordOf(B.Name)!.Epoch);
        Assert.Equal(0, h.Node.Stats.EpochChecks - 1); // the old frame triggered one check; the record none
        Assert.Equal(1, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
    }

    [Fact]
    public void Store_RecordFarAhead_NotBelievedAndRefutedByTheMember()
    {
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 1_000_000, 1) with { Metadata = new() { ["forged"] = "yes" } })));

        Assert.Equal(1, h.Node.RecordOf(B.Name)!.Epoch);
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 1, new Ack(check.ProbeId)));
        Assert.Equal(1, h.Node.Stats.EpochsRefuted);
        Assert.Equal(1, h.Node.RecordOf(B.Name)!.Epoch);
        Assert.Empty(h.SentTo(C.Address).Select(e => e.Body).OfType<AdjacencyUpdate>());
    }

    [Fact]
    public void Store_RecordFarAhead_BelievedOnceTheMemberAnswersAtThatEpoch()
    {
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 4, 2))));
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 4, 1, new Ack(check.ProbeId)));

        Assert.Equal((4L, 2L), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter));
        Assert.Equal(1, h.Node.Stats.EpochsConfirmed);
        Assert.Equal(0, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
    }

    [Fact]
    public void Store_RecordFarAheadAtANewAddress_OldAddressSilent_AskedThereAndBelieved()
    {
        var h = new Harness();
        var moved = new NodeRef(B.Name, "10.0.0.99:7470");
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(moved, 5, 1))));
        Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        Assert.Empty(h.SentTo(moved.Address));
        for (var i = 0; i < 4; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(4, h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>().Count());
        var check = Assert.Single(h.SentTo(moved.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, moved.Address, 5, 1, new Ack(check.ProbeId)));

        Assert.Equal(moved.Address, h.Node.RecordOf(B.Name)!.Address);
    }

    [Fact]
    public void Receive_ForgedRecordHeldSinceFirstSight_RefutedWhenTheMemberSpeaks()
    {
        // Nothing to compare with at first sight: the forged record is kept, and the member's real frames look old.
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1_000_000, 1))));
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 1, new Ping(1)));
        Assert.Empty(h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>());

        // ... so the node asks the address that old-looking frame came from, and the member answers at its epoch.
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 2, new Ack(check.ProbeId)));
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 3, new Ping(2)));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 3, 7))));

        Assert.Equal(1, h.Node.Stats.EpochsRefuted);
        Assert.Equal([2UL], h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>().Select(a => a.ProbeId));
        Assert.Equal((3L, 7L), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter));
    }

    [Fact]
    public void Receive_ForgedFrameInAMembersNameBeforeItsRecord_MembersFramesAcceptedOnceTheRecordArrives()
    {
        // A node that has never seen node-b (it just started) gets one forged frame in b's name with a huge epoch, then
        // b's real record (via c) at epoch 3. That first epoch was never confirmed: b's window must follow the record.
        // It used to keep the forged epoch, refuse every real frame of b as a replay, and never recover.
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(B.Name, B.Address, 1_000_000_000_000, 1, new Ping(999)));
        h.Node.Receive(new Envelope(C.Name, C.Address, 3, 1, new AdjacencyUpdate(Record(B, 3, 1))));

        for (ulong i = 1; i <= 20; i++)
        {
            h.Node.Receive(new Envelope(B.Name, B.Address, 3, i, new Ping(100 + i)));
        }

        Assert.Equal(0, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
        Assert.Equal(20, h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>().Count(a => a.ProbeId is > 100 and <= 120));
    }

    [Fact]
    public void Receive_ForgedFrameInAStrangersName_ItsRealFramesAtALowerEpochStillAccepted()
    {
        // No record yet (a node that just restarted): the only way the member's record can reach us is in frames of
        // the members themselves, so a forged first frame must not make their real ones look replayed.
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(B.Name, B.Address, 1_000_000_000_000, 1, new Ping(999)));

        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 1, new Ping(1)));
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 2, new Ping(2)));
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 2, new Ping(3))); // a replay: refused

        Assert.Equal([999UL, 1, 2], h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>().Select(a => a.ProbeId));
        Assert.Equal(1, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
    }

    [Fact]
    public void Receive_OldEpochFrameNamingAnotherAddress_OnlyTheRecordsAddressIsAskedAndTheRecordStays()
    {
        // An off-path forger sends a frame in b's name at an old epoch, naming its own address, and would answer
        // whatever it is asked there. It used to be asked, and its answer rolled b's record back to (1, 0); a forged
        // record at (1, 1) saying b left was then believed.
        const string attacker = "10.66.6.6:7470";
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 7, 5))));

        h.Node.Receive(new Envelope(B.Name, attacker, 1, 1, new Ping(1)));

        Assert.Empty(h.SentTo(attacker).Select(e => e.Body).OfType<Ping>());
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());

        // The forger cannot see the probe id sent to b; whatever it answers, and however long we wait, nothing moves.
        h.Node.Receive(new Envelope(B.Name, attacker, 1, 2, new Ack(check.ProbeId + 1)));
        h.Time.Advance(TimeSpan.FromSeconds(10));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 1, 1) with { Left = true })));

        Assert.Equal((7L, 5L, false), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter, h.Node.RecordOf(B.Name)!.Left));
        Assert.Equal(0, h.Node.Stats.EpochsRefuted);
        Assert.Empty(h.SentTo(attacker).Select(e => e.Body).OfType<Ping>());
    }

    [Fact]
    public void Receive_OldEpochFrameFromANewAddressWithAKeyring_AskedThereAndTheMembersEpochFollowed()
    {
        // With a keyring a frame's address is a key holder's word: a member that lost its data folder and came back
        // elsewhere (epoch 1 at a new address, its old record at epoch 7) is asked there and let back in.
        var moved = new NodeRef(B.Name, "10.0.0.99:7470");
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 7, 5))));

        h.Node.Receive(new Envelope(B.Name, moved.Address, 1, 1, new Ping(1)));
        var check = Assert.Single(h.SentTo(moved.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, moved.Address, 1, 2, new Ack(check.ProbeId)));
        h.Node.Receive(new Envelope(B.Name, moved.Address, 1, 3, new AdjacencyUpdate(Record(moved, 1, 1))));

        Assert.Equal((1L, 1L, moved.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter, h.Node.RecordOf(B.Name)!.Address));
    }

    [Fact]
    public void Store_NewerRecordsArriveWhileTheMemberIsAsked_TheNewestIsKept()
    {
        // The member restarted twice while cut off; its records (3, 1) then (3, 2) arrive while we ask it about the
        // first. The first used to be kept and the second dropped (until the next graph sync, 30 s later).
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 3, 1))));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 3, new AdjacencyUpdate(Record(B, 3, 2) with { Metadata = new() { ["v"] = "2" } })));

        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 1, new Ack(check.ProbeId)));

        Assert.Equal((3L, 2L), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter));
        Assert.Equal("2", h.Node.RecordOf(B.Name)!.Metadata["v"]);
    }

    [Fact]
    public void Store_RecordConfirmedByTheMember_FloodedToTheNeighbours()
    {
        // A record kept after the member confirmed it is news for the neighbours too; it used to reach them only at the
        // next graph sync (30 s).
        var d = new NodeRef("node-d", "10.0.0.4:7470");
        var h = new Harness();
        h.Node.Receive(new Envelope(d.Name, d.Address, 1, 1, new NeighborRequest(HighPriority: true)));
        Assert.Contains(d.Name, h.Node.ActiveView);
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 4, 2))));

        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 4, 1, new Ack(check.ProbeId)));

        Assert.Contains(h.SentTo(d.Address).Select(e => e.Body).OfType<AdjacencyUpdate>(), u => u.Record.Name == B.Name && u.Record.Epoch == 4);
    }

    [Fact]
    public void Store_RecordFarAheadWithAuthenticatedFrames_BelievedWithoutAsking()
    {
        // With a keyring only key holders make records: there is no forgery to guard against, and asking first only
        // delayed a member that restarted several times while cut off.
        var h = new Harness(new NodeSettings { AuthenticatedFrames = true });
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 4, 2))));

        Assert.Equal((4L, 2L), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter));
        Assert.Equal(0, h.Node.Stats.EpochChecks);
    }

    [Fact]
    public void Store_RecordFarAhead_ProbeLost_AskedAgainAndBelieved()
    {
        // One lost datagram (the probe or its answer) used to end the check: the record waited for the next graph sync.
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 4, 2))));
        Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());

        h.Time.Advance(TimeSpan.FromSeconds(1));

        var probes = h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>().ToList();
        Assert.Equal(2, probes.Count);
        h.Node.Receive(new Envelope(B.Name, B.Address, 4, 1, new Ack(probes[^1].ProbeId)));
        Assert.Equal((4L, 2L), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter));
    }

    [Fact]
    public void Store_RecordOneEpochAheadNamingAnotherAddress_NotBelievedAndTheMembersFramesStillAccepted()
    {
        // One forged record at the member's epoch + 1 naming another address used to be believed at once: the member's
        // window moved to that epoch, all its real frames were refused as replays, and the check they raised went to
        // the forged record's address, so the member was never asked and stayed out until expiry.
        const string forger = "10.66.0.1:7470";
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope("forger", forger, 1, 1, new AdjacencyUpdate(Record(B, 2, 0) with { Address = forger })));
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 1, new Ping(7)));

        Assert.Equal((1L, B.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Address));
        Assert.Equal(0, h.Node.Stats.Dropped[(int)DropReason.Replayed]);
        Assert.Equal([7UL], h.SentTo(B.Address).Select(e => e.Body).OfType<Ack>().Select(a => a.ProbeId));
        Assert.Empty(h.SentTo(forger));
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 2, new Ack(check.ProbeId)));
        h.Time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1, h.Node.Stats.EpochsRefuted);
        Assert.Equal((1L, B.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Address));
        Assert.Empty(h.SentTo(forger));
    }

    [Fact]
    public void Store_RecordAtAnotherAddress_MemberAnswersAtItsOldAddressAtThatEpoch_NotBelieved()
    {
        // The member answers where we know it, at the record's epoch or later: it is alive there, so a record saying it
        // runs elsewhere is not its own.
        const string forger = "10.66.0.1:7470";
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 2, 0) with { Address = forger })));
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 2, 1, new Ack(check.ProbeId)));

        Assert.Equal(B.Address, h.Node.RecordOf(B.Name)!.Address);
        Assert.Equal(0, h.Node.Stats.EpochsConfirmed);
        Assert.Empty(h.SentTo(forger));
    }

    [Fact]
    public void Store_RecordOneEpochAheadAtANewAddress_OldAddressSilent_AskedThereAndBelieved()
    {
        // A member restarted with a new address: in plaintext that costs it the four probes at the old one (2 s).
        var h = new Harness();
        var moved = new NodeRef(B.Name, "10.0.0.99:7470");
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(moved, 2, 1))));
        Assert.Equal(B.Address, h.Node.RecordOf(B.Name)!.Address);
        for (var i = 0; i < 4; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(4, h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>().Count());
        var check = Assert.Single(h.SentTo(moved.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, moved.Address, 2, 1, new Ack(check.ProbeId)));

        Assert.Equal((2L, moved.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Address));
    }

    [Fact]
    public void Store_ForgedRecordsFurtherAheadArriveWhileTheMemberIsAsked_TheNewestAtOrBelowItsAnswerIsKept()
    {
        // The member restarted twice while cut off (record (3, 2)); a forger keeps sending records further ahead. The
        // newest pending record was the one the answer was compared with: a forged one, refuted, and the member's own
        // record was dropped with it, every time, as long as the forger went on.
        const string forger = "10.66.0.1:7470";
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 3, 2))));
        for (var i = 0; i < 100; i++)
        {
            var address = i % 2 == 0 ? forger : B.Address;
            h.Node.Receive(new Envelope("forger", forger, 1, (ulong)i + 1, new AdjacencyUpdate(Record(B, 1_000_000 + i, 0) with { Address = address })));
        }

        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 1, new Ack(check.ProbeId)));

        Assert.Equal((3L, 2L, B.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter, h.Node.RecordOf(B.Name)!.Address));
        Assert.Equal(1, h.Node.Stats.EpochsConfirmed);
        Assert.Empty(h.SentTo(forger));
    }

    [Fact]
    public void Store_MembersRecordArrivesJustAfterItAnsweredACheck_BelievedWithoutAnotherCheck()
    {
        // A forger's record opened the check; the member answered at epoch 3 before its own record (3, 2) came. That
        // record used to be dropped (a check was open) and waited for the next graph sync.
        const string forger = "10.66.0.1:7470";
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));
        h.Node.Receive(new Envelope("forger", forger, 1, 1, new AdjacencyUpdate(Record(B, 1_000_000, 0) with { Address = forger })));
        var check = Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
        h.Node.Receive(new Envelope(B.Name, B.Address, 3, 1, new Ack(check.ProbeId)));

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 2, new AdjacencyUpdate(Record(B, 3, 2))));

        Assert.Equal((3L, 2L, B.Address), (h.Node.RecordOf(B.Name)!.Epoch, h.Node.RecordOf(B.Name)!.Counter, h.Node.RecordOf(B.Name)!.Address));
        Assert.Equal(1, h.Node.Stats.EpochChecks);
        Assert.Single(h.SentTo(B.Address).Select(e => e.Body).OfType<Ping>());
    }

    [Fact]
    public void Receive_ConnectionHello_NothingSentNothingDropped()
    {
        // A node of an earlier version delivers the hello that opens a newer node's connections to its protocol (its
        // transport does not know it): it must do nothing there, and the connection it arrived on stays open.
        var h = new Harness();
        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(B, 1, 1))));

        h.Node.Receive(new Envelope(B.Name, B.Address, 1, 7, ConnectionHello.Message));

        Assert.Empty(h.Sent);
        Assert.All(h.Node.Stats.Dropped, d => Assert.Equal(0, d));
    }

    [Fact]
    public void Store_OwnRecordAtTheLargestEpoch_NotAdopted()
    {
        var h = new Harness();

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(h.Node.Self, long.MaxValue, 1))));

        Assert.Equal(1, h.Node.Epoch);
    }

    [Fact]
    public void Store_OwnRecordNewer_Adopted()
    {
        // A node whose data folder was wiped moves past its earlier incarnation's record, however far ahead.
        var h = new Harness();

        h.Node.Receive(new Envelope(C.Name, C.Address, 1, 1, new AdjacencyUpdate(Record(h.Node.Self, 500, 1))));

        Assert.Equal(501, h.Node.Epoch);
    }

    private static AdjacencyRecord Record(NodeRef node, long epoch, long counter) =>
        new(node.Name, node.Address, epoch, counter, [], [], Left: false);

    /// <summary>One node on a fake clock; what it sends is recorded; its executor runs actions at once.</summary>
    private sealed class Harness : INodeNetwork, INodeExecutor
    {
        public Harness(NodeSettings? settings = null)
        {
            Node = new LashupNode(
                new NodeRef("node-a", "10.0.0.1:7470"), 1, settings ?? new NodeSettings(), [], new Dictionary<string, string>(), Time, new Random(1), this, this);
            Node.Start();
        }

        public FakeTimeProvider Time { get; } = new();

        public LashupNode Node { get; }

        public List<(string Address, Envelope Envelope)> Sent { get; } = [];

        public IEnumerable<Envelope> SentTo(string address) => Sent.Where(s => s.Address == address).Select(s => s.Envelope);

        public void Send(string address, Envelope envelope, bool reliable) => Sent.Add((address, envelope));

        public void Post(Action action) => action();
    }
}
