using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

// Failure detection on active links. Lashup dropped a neighbour on the first missed probe, which under 10% packet
// loss fails about one probe in five (a round trip crosses two lossy hops). Here a miss starts SWIM's indirect probe
// (k other neighbours probe the target for us, and we retry directly), and only `suspicion_rounds` failed rounds in a
// row declare the neighbour failed. Timeouts adapt to the measured RTT (srtt + 4·rttvar, as TCP's RTO), bounded.
internal sealed partial class LashupNode
{
    private readonly Dictionary<ulong, (NodeRef Requester, ulong RequesterProbeId, NodeRef Target, long Expires)> _relays = [];
    private ulong _probeIds;
    private int _probeCursor;

    private sealed class ProbeState
    {
        public ulong OutstandingId { get; set; }

        public long SentAt { get; set; }

        public bool Indirect { get; set; }

        public int FailedRounds { get; set; }

        public ITimer? Timer { get; set; }

        public double SmoothedRtt { get; set; } = -1;

        public double RttVariance { get; set; }
    }

    private void ScheduleProbeTick()
    {
        // Each neighbour about once per probe interval: one probe every interval / |active|, between 50 ms and the interval.
        var slot = _active.Count == 0
            ? _settings.ProbeInterval
            : TimeSpan.FromTicks(Math.Clamp(_settings.ProbeInterval.Ticks / _active.Count, TimeSpan.FromMilliseconds(50).Ticks, _settings.ProbeInterval.Ticks));
        After(slot, () =>
        {
            ProbeNext();
            ScheduleProbeTick();
        });
    }

    private void ProbeNext()
    {
        if (_active.Count == 0)
        {
            return;
        }

        var peers = _active.Values.OrderBy(p => p.Ref.Name, StringComparer.Ordinal).ToList();
        for (var i = 0; i < peers.Count; i++)
        {
            var peer = peers[(_probeCursor + i) % peers.Count];
            if (peer.Probe.OutstandingId == 0)
            {
                _probeCursor = (_probeCursor + i + 1) % peers.Count;
                StartProbe(peer);
                return;
            }
        }
    }

    /// <summary>Probes <paramref name="peer"/> now unless a probe is already out.</summary>
    private void StartProbe(ActivePeer peer)
    {
        if (peer.Probe.OutstandingId != 0)
        {
            return;
        }

        var probe = peer.Probe;
        probe.OutstandingId = NextProbeId();
        probe.SentAt = _time.GetTimestamp();
        probe.Indirect = false;
        Stats.ProbesSent++;
        Send(peer.Ref.Address, new Ping(probe.OutstandingId));
        var id = probe.OutstandingId;
        probe.Timer = After(ProbeTimeout(probe), () => OnDirectTimeout(peer.Ref.Name, id));
    }

    /// <summary>
    /// A probe id: from the daemon's random source (an off-path forger cannot answer a probe it did not see, which is
    /// what makes an answer prove the address and confirm an epoch), or a counter in the simulator, so runs replay.
    /// </summary>
    private ulong NextProbeId()
    {
        ulong id;
        do
        {
            id = _nonces?.Invoke() ?? ++_probeIds;
        }
        while (id == 0);
        return id;
    }

    private TimeSpan ProbeTimeout(ProbeState probe)
    {
        var rto = probe.SmoothedRtt < 0 ? _settings.ProbeTimeoutMin.TotalMilliseconds : probe.SmoothedRtt + (4 * probe.RttVariance);
        return TimeSpan.FromMilliseconds(Math.Clamp(rto, _settings.ProbeTimeoutMin.TotalMilliseconds, _settings.ProbeTimeoutMax.TotalMilliseconds));
    }

    private void OnDirectTimeout(string name, ulong id)
    {
        if (!_active.TryGetValue(name, out var peer) || peer.Probe.OutstandingId != id)
        {
            return;
        }

        Stats.ProbeTimeouts++;
        peer.Probe.Indirect = true;
        var helpers = _active.Values.Where(p => p.Ref.Name != name).Select(p => p.Ref).ToList();
        if (helpers.Count < _settings.IndirectProbes)
        {
            helpers.AddRange(_graph.Values
                .Where(n => n.State == Abstractions.Cluster.MemberState.Alive && n.Record.Name != name && n.Record.Name != Self.Name
                            && !_active.ContainsKey(n.Record.Name))
                .Select(n => new NodeRef(n.Record.Name, n.Record.Address))
                .Take(64));
        }

        foreach (var helper in Sample(helpers, _settings.IndirectProbes))
        {
            Stats.IndirectProbesSent++;
            Send(helper.Address, new PingRequest(id, peer.Ref));
        }

        Send(peer.Ref.Address, new Ping(id));
        peer.Probe.Timer = After(ProbeTimeout(peer.Probe) * 2, () => OnIndirectTimeout(name, id));
    }

    private void OnIndirectTimeout(string name, ulong id)
    {
        if (!_active.TryGetValue(name, out var peer) || peer.Probe.OutstandingId != id)
        {
            return;
        }

        peer.Probe.OutstandingId = 0;
        peer.Probe.FailedRounds++;
        Stats.Suspicions++;
        if (peer.Probe.FailedRounds >= _settings.SuspicionRounds)
        {
            Stats.NeighborsFailed++;
            RemoveActive(name, $"no answer to {peer.Probe.FailedRounds} probe rounds", keepPassive: false);
            _passive.RemoveAll(p => p.Name == name);
            FillActiveView();
            return;
        }

        // Suspected: probe again at once rather than waiting for its turn.
        StartProbe(peer);
    }

    private void OnAck(NodeRef from, Ack m)
    {
        if (_relays.Remove(m.ProbeId, out var relay))
        {
            Prove(relay.Target.Address);
            Reply(relay.Requester.Address, new IndirectAck(relay.RequesterProbeId, relay.Target.Name));
            return;
        }

        if (!_active.TryGetValue(from.Name, out var peer) || peer.Probe.OutstandingId != m.ProbeId)
        {
            return;
        }

        Prove(peer.Ref.Address);
        var probe = peer.Probe;
        if (!probe.Indirect)
        {
            var sample = _time.GetElapsedTime(probe.SentAt).TotalMilliseconds;
            if (probe.SmoothedRtt < 0)
            {
                probe.SmoothedRtt = sample;
                probe.RttVariance = sample / 2;
            }
            else
            {
                probe.RttVariance = (0.75 * probe.RttVariance) + (0.25 * Math.Abs(probe.SmoothedRtt - sample));
                probe.SmoothedRtt = (0.875 * probe.SmoothedRtt) + (0.125 * sample);
            }
        }

        Answered(peer);
    }

    private void OnIndirectAck(IndirectAck m)
    {
        if (_active.TryGetValue(m.Target, out var peer) && peer.Probe.OutstandingId == m.ProbeId)
        {
            Answered(peer);
        }
    }

    private void Answered(ActivePeer peer)
    {
        if (peer.Probe.FailedRounds > 0)
        {
            Stats.FalseSuspicionsCleared++;
        }

        peer.Probe.OutstandingId = 0;
        peer.Probe.FailedRounds = 0;
        Cancel(peer.Probe.Timer);
        peer.Probe.Timer = null;
    }

    private void OnPingRequest(NodeRef from, PingRequest m)
    {
        var now = _time.GetTimestamp();
        if (_relays.Count > 1024)
        {
            foreach (var stale in _relays.Where(r => r.Value.Expires < now).Select(r => r.Key).ToList())
            {
                _relays.Remove(stale);
            }

            if (_relays.Count > 1024)
            {
                return;
            }
        }

        var relayId = NextProbeId();
        _relays[relayId] = (from, m.ProbeId, m.Target, now + (long)(_settings.ProbeTimeoutMax.TotalSeconds * 2 * _time.TimestampFrequency));
        Reply(m.Target.Address, new Ping(relayId));
    }

    /// <summary>Called when a member's flood no longer lists <paramref name="name"/>: if it is our neighbour, check it now.</summary>
    private void ProbeSoon(string name)
    {
        if (_active.TryGetValue(name, out var peer))
        {
            StartProbe(peer);
        }
    }
}
