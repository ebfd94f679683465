using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

// What one frame is allowed to make the node do. Without a keyring every field of a frame is the sender's say-so; the
// README warns that such a cluster can be disrupted, and these rules bound how much a single forged frame can:
//
// - Replies. What the node sends in reaction to a frame, to an address the frame supplied (the Ack to a Ping, join and
//   neighbour replies, shuffle replies, a relayed probe's target, the member-graph digest exchange) goes through a
//   token bucket per destination and a global one unless the address is proven: it answered one of our probes (whose
//   ids, in the daemon, are random: only the host that received the Ping can answer it), it is a seed from the
//   configuration, or every frame is authenticated (keyring). A flood of Pings naming a victim's address drew one Ack
//   each; now at most the buckets' rate (memberlist answers every ping to the address in it, and relies on encryption).
//
// - Epochs. A newer epoch in a frame opens a side replay window and retires nothing (SequenceWindow); the current epoch
//   moves only when the member's own record at the new epoch is believed (a sender with no record yet has no confirmed
//   epoch: its window follows the record when it comes, even downwards). In plaintext, a record more than one epoch
//   ahead of the one we hold, or one that moves the member to another address (even at the next epoch), is believed
//   only once the member confirms it: we probe the address we know it at (if that does not answer, the addresses the
//   new records claim, so a member that restarted elsewhere still gets in, as memberlist lets a node reclaim its name
//   once the old address is dead). The answer gives the member's epoch and where it runs: of the records that arrived
//   meanwhile, the newest at that address and at or below that epoch is kept and flooded as news (a forger's records
//   further ahead are not the member's). A record one epoch ahead naming another address used to be believed at once:
//   it confirmed the member's window at that epoch, so its real frames looked replayed, and the check they raised went
//   to the forged address, so the member itself was never asked. With a keyring only key holders make records, so none
//   of this is needed and none is done. And a member's frame from an epoch older than the record we hold makes us ask
//   the member, in plaintext at the address of that record (never an address the frame names: an off-path forger would
//   answer there and roll the member back), with a keyring where the frame says: if it answers at that older epoch, the
//   record we hold was a forgery, or the member lost its data folder; either way we fall back to the epoch it is really
//   at and let its next record in. A restart at the same address (epoch + 1) needs none of this.
internal sealed partial class LashupNode
{
    private const int MaxEpochChecks = 64;
    private const int EpochCheckAttempts = 4;

    // Records kept per check while the member is asked: the lowest epochs (the newest record of each), so that a forger's
    // stream of records further ahead never pushes out the member's own.
    private const int MaxCandidates = 8;
    private readonly ReplyLimiter _replyLimiter;
    private readonly BoundedLru<string, bool> _proven = new(1024, StringComparer.Ordinal);
    private readonly Dictionary<string, EpochCheck> _epochChecks = new(StringComparer.Ordinal);

    private sealed class EpochCheck
    {
        public ulong ProbeId { get; set; }

        /// <summary>Where the member is asked now.</summary>
        public string Address { get; set; } = "";

        /// <summary>Addresses asked so far (the first is the one of the record we hold, or the frame's with a keyring).</summary>
        public List<string> Asked { get; } = [];

        /// <summary>Records waiting for the member's answer (see <see cref="MaxCandidates"/>).</summary>
        public List<AdjacencyRecord> Candidates { get; } = [];

        public long Until { get; set; }

        public int Attempts { get; set; }

        public bool Answered { get; set; }

        /// <summary>The epoch the member answered at (valid once <see cref="Answered"/>).</summary>
        public long AnsweredEpoch { get; set; }

        /// <summary>
        /// Keeps <paramref name="record"/> among the candidates: the newest of its epoch and address, and only if it is
        /// among the <see cref="MaxCandidates"/> lowest epochs (on a tie, the first that came stay).
        /// </summary>
        public void Add(AdjacencyRecord record)
        {
            var same = Candidates.FindIndex(c => c.Epoch == record.Epoch && c.Address == record.Address);
            if (same >= 0)
            {
                if (record.IsNewerThan(Candidates[same]))
                {
                    Candidates[same] = record;
                }

                return;
            }

            if (Candidates.Count >= MaxCandidates)
            {
                var highest = 0;
                for (var i = 1; i < Candidates.Count; i++)
                {
                    if (Candidates[i].Epoch > Candidates[highest].Epoch)
                    {
                        highest = i;
                    }
                }

                if (Candidates[highest].Epoch <= record.Epoch)
                {
                    return;
                }

                Candidates.RemoveAt(highest);
            }

            Candidates.Add(record);
        }

        /// <summary>The newest candidate the member's answer at <paramref name="epoch"/> from <see cref="Address"/> vouches for, if any.</summary>
        public AdjacencyRecord? VouchedFor(long epoch)
        {
            AdjacencyRecord? best = null;
            foreach (var c in Candidates)
            {
                if (c.Address == Address && c.Epoch <= epoch && c.IsNewerThan(best))
                {
                    best = c;
                }
            }

            return best;
        }

        /// <summary>The next address to ask once <see cref="Address"/> is silent: a candidate's not asked yet, lowest epoch first.</summary>
        public string? NextAddress()
        {
            AdjacencyRecord? next = null;
            foreach (var c in Candidates)
            {
                if (!Asked.Contains(c.Address) && (next is null || c.Epoch < next.Epoch))
                {
                    next = c;
                }
            }

            return next?.Address;
        }
    }

    /// <summary>
    /// Sends <paramref name="message"/> in reaction to a frame, to <paramref name="address"/> taken from it: rate-limited
    /// unless the address is proven (see above); what does not fit is dropped and counted.
    /// </summary>
    private void Reply(string address, Message message, bool reliable = false)
    {
        if (!_settings.AuthenticatedFrames && !_proven.ContainsKey(address) && !_seeds.Contains(address)
            && !_replyLimiter.TryAcquire(address))
        {
            Stats.RepliesRateLimited++;
            return;
        }

        Send(address, message, reliable);
    }

    /// <summary><paramref name="address"/> answered a probe whose id only the host there could know.</summary>
    private void Prove(string address) => _proven.Set(address, true);

    /// <summary>
    /// Asks <paramref name="name"/> at <paramref name="address"/> for its epoch (a probe; the answer's envelope carries
    /// it), about <paramref name="pending"/> if given. At most one check per member at a time (up to four probes at each
    /// address, half the longest probe timeout apart), and none again within twice the longest probe timeout of its
    /// last probe; at most <see cref="MaxEpochChecks"/> members at once. Records that come while a check is open and
    /// not answered yet join its candidates.
    /// </summary>
    private void CheckEpoch(string name, string address, AdjacencyRecord? pending)
    {
        var now = _time.GetTimestamp();
        if (_epochChecks.TryGetValue(name, out var existing) && now < existing.Until)
        {
            if (pending is not null && !existing.Answered)
            {
                existing.Add(pending);
            }

            return;
        }

        if (_epochChecks.Count >= MaxEpochChecks)
        {
            foreach (var done in _epochChecks.Where(c => now >= c.Value.Until).Select(c => c.Key).ToList())
            {
                _epochChecks.Remove(done);
            }

            if (_epochChecks.Count >= MaxEpochChecks)
            {
                return;
            }
        }

        var check = new EpochCheck { Address = address };
        check.Asked.Add(address);
        if (pending is not null)
        {
            check.Add(pending);
        }

        _epochChecks[name] = check;
        Stats.EpochChecks++;
        AskEpoch(name, check);
    }

    /// <summary>
    /// Whether the member answered a check a moment ago (within its period) at <paramref name="record"/>'s address and
    /// at its epoch or later: a record that came just after the answer needs no check of its own.
    /// </summary>
    private bool AnsweredFor(AdjacencyRecord record) =>
        _epochChecks.TryGetValue(record.Name, out var check) && check.Answered && _time.GetTimestamp() < check.Until
        && check.Address == record.Address && record.Epoch <= check.AnsweredEpoch;

    private void AskEpoch(string name, EpochCheck check)
    {
        check.ProbeId = NextProbeId();
        check.Attempts = 0;
        AskEpochAgain(name, check);
    }

    /// <summary>
    /// One attempt of a check: a probe (the same id each time, so a late answer counts), then, unanswered after half the
    /// longest probe timeout, another, up to <see cref="EpochCheckAttempts"/> at each address (so an address is given up
    /// after twice the longest probe timeout, as before): one lost datagram used to end the check, and the record waited
    /// for the next graph sync.
    /// </summary>
    private void AskEpochAgain(string name, EpochCheck check)
    {
        var timeout = _settings.ProbeTimeoutMax / 2;
        check.Attempts++;
        check.Until = _time.GetTimestamp() + (long)(_settings.ProbeTimeoutMax.TotalSeconds * 2 * _time.TimestampFrequency);

        // The address may come from the frame that raised the question: it gets no more than a reply would.
        Reply(check.Address, new Ping(check.ProbeId));
        var id = check.ProbeId;
        var attempt = check.Attempts;
        After(timeout, () =>
        {
            if (!_epochChecks.TryGetValue(name, out var current) || current.ProbeId != id || current.Attempts != attempt || current.Answered)
            {
                return;
            }

            if (current.Attempts < EpochCheckAttempts)
            {
                AskEpochAgain(name, current);
            }
            else if (current.NextAddress() is { } next)
            {
                // The address we know it at is silent: try one a new record claims.
                current.Address = next;
                current.Asked.Add(next);
                AskEpoch(name, current);
            }
        });
    }

    /// <summary>An Ack that answers an epoch check: the member's epoch is its envelope's.</summary>
    private void OnEpochCheckAnswer(Envelope envelope, Ack ack)
    {
        if (!_epochChecks.TryGetValue(envelope.From, out var check) || check.Answered || check.ProbeId != ack.ProbeId)
        {
            return;
        }

        check.Answered = true;
        check.AnsweredEpoch = envelope.Epoch;
        Prove(check.Address);
        var name = envelope.From;
        var epoch = envelope.Epoch;
        if (check.Candidates.Count > 0)
        {
            // The member runs at check.Address at this epoch: its own record is the newest there at or below it (the
            // newest that came may be a forger's, further ahead or at another address).
            if (check.VouchedFor(epoch) is { } record)
            {
                Stats.EpochsConfirmed++;
                if (Store(record, confirmed: true))
                {
                    // Flooded so that the neighbours hear of it now rather than through the graph sync. It spares
                    // them no check: in plaintext each one whose own record of the member is more than one epoch
                    // behind this one, or at another address, asks the member itself before believing it, as we did
                    // (one that holds no record of the member, or one at most an epoch behind at this address,
                    // takes it as it comes).
                    Flood(record, except: null);
                }

                return;
            }

            Stats.EpochsRefuted++;
        }

        // In plaintext only the member at the address of the record we hold says what that record is worth (not one
        // a frame named); with a keyring the address came from a key holder.
        if (!_graph.TryGetValue(name, out var node) || (!_settings.AuthenticatedFrames && node.Record.Address != check.Address))
        {
            return;
        }

        if (epoch < node.Record.Epoch)
        {
            // The member itself is at an older epoch than the record we hold in its name: that record was forged, or
            // the member lost its data folder. Hold its epoch as the member's (counter 0, so the member's next record,
            // flooded or synced, replaces it). (A second process under the member's name, an earlier incarnation still
            // running elsewhere, can make us do this too; the member's next record puts it right again.)
            if (check.Candidates.Count == 0)
            {
                Stats.EpochsRefuted++;
            }

            node.Record = node.Record with { Epoch = epoch, Counter = 0 };
            node.Changed = true;
            _windows.Restart(name, epoch);
            _multicastSeen.Restart(name, epoch);
            MarkGraphDirty();
        }
        else if (epoch == node.Record.Epoch && _windows.EpochOf(name) > epoch)
        {
            // The member is at the epoch of its record, but its frames are checked against a later one nothing confirmed.
            _windows.Restart(name, epoch);
            _multicastSeen.Restart(name, epoch);
        }
    }
}
