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
//   ahead of the one we hold is believed only once the member confirms it: we probe the address we know it at (if that
//   does not answer, the address the new record claims, so a member that restarted elsewhere still gets in, as
//   memberlist lets a node reclaim its name once the old address is dead), and keep the newest record that arrived
//   meanwhile if the answer carries its epoch or a later one, then flood it as news. With a keyring only key holders
//   make records, so none of this is needed and none is done. And a member's frame from an epoch older than the record
//   we hold makes us ask the member, in plaintext at the address of that record (never an address the frame names: an
//   off-path forger would answer there and roll the member back), with a keyring where the frame says: if it answers
//   at that older epoch, the record we hold was a forgery, or the member lost its data folder; either way we fall back
//   to the epoch it is really at and let its next record in. A restart (epoch + 1) needs none of this.
internal sealed partial class LashupNode
{
    private const int MaxEpochChecks = 64;
    private const int EpochCheckAttempts = 4;
    private readonly ReplyLimiter _replyLimiter;
    private readonly BoundedLru<string, bool> _proven = new(1024, StringComparer.Ordinal);
    private readonly Dictionary<string, EpochCheck> _epochChecks = new(StringComparer.Ordinal);

    private sealed class EpochCheck
    {
        public ulong ProbeId { get; set; }

        public string Address { get; set; } = "";

        /// <summary>Where to ask next if <see cref="Address"/> does not answer (a record that claims a new address).</summary>
        public string? Fallback { get; set; }

        /// <summary>The record waiting for the member's confirmation, if the check is about one (the newest that came).</summary>
        public AdjacencyRecord? Pending { get; set; }

        public long Until { get; set; }

        public int Attempts { get; set; }

        public bool Answered { get; set; }
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
    /// address, half the longest probe timeout apart), and none again within twice the longest probe timeout of the
    /// last; at most <see cref="MaxEpochChecks"/> members at once. A newer record that comes while a check is open
    /// replaces the one it is about, so the newest is kept.
    /// </summary>
    private void CheckEpoch(string name, string address, AdjacencyRecord? pending)
    {
        var now = _time.GetTimestamp();
        if (_epochChecks.TryGetValue(name, out var existing) && now < existing.Until)
        {
            if (pending is not null && !existing.Answered && (existing.Pending is null || pending.IsNewerThan(existing.Pending)))
            {
                existing.Pending = pending;
                if (existing.Address == address)
                {
                    existing.Fallback = pending.Address != address ? pending.Address : null;
                }
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

        var check = new EpochCheck
        {
            Address = address,
            Fallback = pending is not null && pending.Address != address ? pending.Address : null,
            Pending = pending,
        };
        _epochChecks[name] = check;
        Stats.EpochChecks++;
        AskEpoch(name, check);
    }

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
            else if (current.Fallback is { } next)
            {
                // The address we know it at is silent: try the one the new record claims.
                current.Address = next;
                current.Fallback = null;
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
        Prove(check.Address);
        var name = envelope.From;
        var epoch = envelope.Epoch;
        if (check.Pending is { } record)
        {
            if (epoch >= record.Epoch)
            {
                Stats.EpochsConfirmed++;
                if (Store(record, confirmed: true))
                {
                    // News for the neighbours as much as for us: flooding it spares them their own checks.
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
            if (check.Pending is null)
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
