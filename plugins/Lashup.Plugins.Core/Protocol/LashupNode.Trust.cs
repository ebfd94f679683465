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
//   moves only when the member's own record at the new epoch is believed. A record more than one epoch ahead of the one
//   we hold is believed only once the member confirms it: we probe the address we know it at (if that does not answer,
//   the address the new record claims, so a member that restarted elsewhere still gets in, as memberlist lets a node
//   reclaim its name once the old address is dead), and keep the record if the answer carries that epoch or a later
//   one. And a member's frame from an epoch older than the record we hold makes us ask the address that frame came
//   from: if the member answers at that older epoch, the record we hold was a forgery; we fall back to the member's
//   real epoch and let its next record in. A restart (epoch + 1) needs none of this.
internal sealed partial class LashupNode
{
    private const int MaxEpochChecks = 64;
    private readonly ReplyLimiter _replyLimiter;
    private readonly BoundedLru<string, bool> _proven = new(1024, StringComparer.Ordinal);
    private readonly Dictionary<string, EpochCheck> _epochChecks = new(StringComparer.Ordinal);

    private sealed class EpochCheck
    {
        public ulong ProbeId { get; set; }

        public string Address { get; set; } = "";

        /// <summary>Where to ask next if <see cref="Address"/> does not answer (a record that claims a new address).</summary>
        public string? Fallback { get; set; }

        /// <summary>The record waiting for the member's confirmation, if the check is about one.</summary>
        public AdjacencyRecord? Pending { get; init; }

        public long Until { get; set; }

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
    /// it), about <paramref name="pending"/> if given. At most one check per member at a time, and none again within
    /// twice the longest probe timeout; at most <see cref="MaxEpochChecks"/> members at once.
    /// </summary>
    private void CheckEpoch(string name, string address, AdjacencyRecord? pending)
    {
        var now = _time.GetTimestamp();
        if (_epochChecks.TryGetValue(name, out var existing) && now < existing.Until)
        {
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
        var period = _settings.ProbeTimeoutMax * 2;
        check.ProbeId = NextProbeId();
        check.Until = _time.GetTimestamp() + (long)(period.TotalSeconds * _time.TimestampFrequency);

        // The address may come from the frame that raised the question: it gets no more than a reply would.
        Reply(check.Address, new Ping(check.ProbeId));
        var id = check.ProbeId;
        After(period, () =>
        {
            if (_epochChecks.TryGetValue(name, out var current) && current.ProbeId == id && !current.Answered && current.Fallback is { } next)
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
        if (check.Pending is { } record)
        {
            if (envelope.Epoch >= record.Epoch)
            {
                Stats.EpochsConfirmed++;
                Store(record, confirmed: true);
            }
            else
            {
                Stats.EpochsRefuted++;
            }

            return;
        }

        if (_graph.TryGetValue(name, out var node) && envelope.Epoch < node.Record.Epoch)
        {
            // The member itself is at an older epoch than the record we hold in its name: that record was forged.
            // Hold its epoch as the member's (counter 0, so the member's next record, flooded or synced, replaces it).
            // (A second process under the member's name, an earlier incarnation still running elsewhere, can make us
            // do this too; the member's next record puts it right again.)
            Stats.EpochsRefuted++;
            node.Record = node.Record with { Epoch = envelope.Epoch, Counter = 0 };
            node.Changed = true;
            _windows.Restart(name, envelope.Epoch);
            _multicastSeen.Restart(name, envelope.Epoch);
            MarkGraphDirty();
        }
    }
}
