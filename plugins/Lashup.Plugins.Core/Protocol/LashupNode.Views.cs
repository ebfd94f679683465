using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Protocol;

// HyParView (Leitão, Pereira, Rodrigues 2007): a small symmetric active view kept connected by failure detection and
// repaired from a larger passive view that shuffles keep fresh.
internal sealed partial class LashupNode
{
    /// <summary>Addresses suggested by refusing contacts, kept to join through (whoever answers: bounded).</summary>
    private const int MaxJoinCandidates = 64;
    private readonly Dictionary<string, ActivePeer> _active = new(StringComparer.Ordinal);
    private readonly List<NodeRef> _passive = [];
    private readonly Dictionary<string, (NodeRef Ref, ITimer Timer)> _pendingNeighbors = new(StringComparer.Ordinal);
    private readonly List<string> _seeds;
    private readonly List<string> _joinCandidates = [];
    private int _joinIndex;
    private uint _shuffleId;
    private NodeRef[] _lastShuffleSent = [];
    private readonly Dictionary<string, long> _refusedUntil = new(StringComparer.Ordinal);
    private long _joinWindowStart;
    private int _joinsInWindow;

    private sealed class ActivePeer(NodeRef peer)
    {
        public NodeRef Ref { get; set; } = peer;

        public ProbeState Probe { get; } = new();
    }

    private void JoinTick()
    {
        if (FatalError is not null)
        {
            return;
        }

        if (_active.Count > 0)
        {
            // Below the target size (after failures, or refusals by full peers): top up from the passive view.
            FillActiveView();
            return;
        }

        // Alone: ask seeds (and nodes we were told about) in turn; also try to re-link through the passive view.
        var targets = _joinCandidates.Concat(_seeds).Distinct(StringComparer.Ordinal).ToList();
        if (targets.Count > 0)
        {
            var target = targets[_joinIndex++ % targets.Count];
            Send(target, new Join(Self));
        }

        if (_passive.Count > 0 && _pendingNeighbors.Count == 0)
        {
            RequestNeighbor(Pick(_passive), highPriority: true);
        }
    }

    private void OnJoin(NodeRef from, Join m)
    {
        var joiner = m.Joiner;
        if (joiner.Name == Self.Name)
        {
            Reply(joiner.Address, new JoinReply(false, $"the node name \"{joiner.Name}\" is already used by {Self.Address}", [], Fatal: true));
            return;
        }

        if (_graph.TryGetValue(joiner.Name, out var known) && known.State == Abstractions.Cluster.MemberState.Alive
            && known.Record.Address != joiner.Address && !known.Record.Left)
        {
            Stats.JoinsRefused++;
            Reply(joiner.Address, new JoinReply(false, $"the node name \"{joiner.Name}\" is already used by the live node at {known.Record.Address}", [], Fatal: true));
            return;
        }

        // Throttle joins: a node flooded by joiners sends them to its neighbours instead.
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(_joinWindowStart, now) > TimeSpan.FromSeconds(1))
        {
            _joinWindowStart = now;
            _joinsInWindow = 0;
        }

        if (++_joinsInWindow > _settings.MaxJoinsPerSecond && _active.Count > 0)
        {
            Stats.JoinsRefused++;
            Reply(joiner.Address, new JoinReply(false, "busy", [.. _active.Values.Select(p => p.Ref)], Fatal: false));
            return;
        }

        AddActive(joiner);
        Reply(joiner.Address, new JoinReply(true, null, [], Fatal: false));
        foreach (var peer in _active.Values)
        {
            if (peer.Ref.Name != joiner.Name)
            {
                Send(peer.Ref.Address, new ForwardJoin(joiner, _settings.ActiveRandomWalkLength));
            }
        }
    }

    private void OnJoinReply(NodeRef from, JoinReply m)
    {
        if (m.Accepted)
        {
            AddActive(from);
            return;
        }

        if (m.Fatal)
        {
            FatalError = m.Reason ?? "join refused";
            LogJoinRefused(from, FatalError);
            return;
        }

        foreach (var alternative in m.Alternatives.Where(a => a.Name != Self.Name))
        {
            if (!_joinCandidates.Contains(alternative.Address))
            {
                if (_joinCandidates.Count >= MaxJoinCandidates)
                {
                    // Bounded whoever answers (without a keyring, anyone can): the oldest suggestion goes.
                    _joinCandidates.RemoveAt(0);
                }

                _joinCandidates.Add(alternative.Address);
            }
        }
    }

    private void OnForwardJoin(NodeRef from, ForwardJoin m)
    {
        var joiner = m.Joiner;
        if (joiner.Name == Self.Name || _active.ContainsKey(joiner.Name))
        {
            return;
        }

        if (m.TimeToLive == 0 || _active.Count <= 1)
        {
            AddActive(joiner);
            Reply(joiner.Address, new NeighborRequest(HighPriority: true));
            return;
        }

        if (m.TimeToLive == _settings.PassiveRandomWalkLength)
        {
            AddPassive(joiner);
        }

        var next = _active.Values.Where(p => p.Ref.Name != from.Name && p.Ref.Name != joiner.Name).Select(p => p.Ref).ToList();
        if (next.Count == 0)
        {
            AddActive(joiner);
            Reply(joiner.Address, new NeighborRequest(HighPriority: true));
            return;
        }

        Send(Pick(next).Address, new ForwardJoin(joiner, m.TimeToLive - 1));
    }

    private void OnNeighborRequest(NodeRef from, NeighborRequest m)
    {
        if (_active.ContainsKey(from.Name))
        {
            Reply(from.Address, new NeighborReply(true));
            return;
        }

        if (m.HighPriority || _active.Count < _settings.ActiveViewSize)
        {
            AddActive(from);
            Reply(from.Address, new NeighborReply(true));
        }
        else
        {
            Reply(from.Address, new NeighborReply(false));
        }
    }

    private void OnNeighborReply(NodeRef from, NeighborReply m)
    {
        var asked = _pendingNeighbors.Remove(from.Name, out var pending);
        if (asked)
        {
            Cancel(pending.Timer);
        }

        if (m.Accepted)
        {
            AddActive(from);
            return;
        }

        if (!asked)
        {
            // A refusal of nothing we asked: remembering it would let made-up names grow the back-off table.
            return;
        }

        // A full peer said no: leave it alone for a while, or two half-empty views would ping-pong requests forever.
        _refusedUntil[from.Name] = _time.GetTimestamp() + (long)(_settings.RefusalBackoff.TotalSeconds * _time.TimestampFrequency);
        FillActiveView();
    }

    private void OnDisconnect(NodeRef from, Disconnect m)
    {
        RemoveActive(from.Name, m.Leaving ? "it left" : "it disconnected", keepPassive: !m.Leaving);
        if (m.Leaving)
        {
            _passive.RemoveAll(p => p.Name == from.Name);
        }

        FillActiveView();
    }

    private void AddActive(NodeRef peer)
    {
        if (peer.Name == Self.Name)
        {
            return;
        }

        if (_active.TryGetValue(peer.Name, out var existing))
        {
            existing.Ref = peer;
            return;
        }

        if (_active.Count >= _settings.ActiveViewSize)
        {
            var victim = Pick(_active.Values.Select(p => p.Ref).ToList());
            Send(victim.Address, new Disconnect(Leaving: false));
            RemoveActive(victim.Name, "evicted for a new neighbour", keepPassive: true);
        }

        _passive.RemoveAll(p => p.Name == peer.Name);
        _active[peer.Name] = new ActivePeer(peer);
        _joinCandidates.Clear();
        LogNeighborUp(peer, _active.Count);
        BumpOwnRecord(flood: true);
        if (string.CompareOrdinal(Self.Name, peer.Name) < 0)
        {
            // A new link: the two sides exchange the member-graph records the other lacks.
            SendDigest(peer.Address, wantReply: true);
        }
    }

    /// <returns>Whether the peer was active.</returns>
    private bool RemoveActive(string name, string reason, bool keepPassive)
    {
        if (!_active.Remove(name, out var peer))
        {
            return false;
        }

        Cancel(peer.Probe.Timer);
        if (keepPassive)
        {
            AddPassive(peer.Ref);
        }

        LogNeighborDown(peer.Ref, reason, _active.Count);
        BumpOwnRecord(flood: true);
        return true;
    }

    private void AddPassive(NodeRef peer)
    {
        if (peer.Name == Self.Name || _active.ContainsKey(peer.Name))
        {
            return;
        }

        var index = _passive.FindIndex(p => p.Name == peer.Name);
        if (index >= 0)
        {
            _passive[index] = peer;
            return;
        }

        if (_passive.Count >= _settings.PassiveViewSize)
        {
            // Prefer evicting nodes we just sent away in a shuffle: the other side has them now.
            var sent = _passive.FindIndex(p => _lastShuffleSent.Any(s => s.Name == p.Name));
            _passive.RemoveAt(sent >= 0 ? sent : _random.Next(_passive.Count));
        }

        _passive.Add(peer);
    }

    /// <summary>Asks passive peers to become neighbours until the active view is full (one request per free slot).</summary>
    private void FillActiveView()
    {
        var free = _settings.ActiveViewSize - _active.Count - _pendingNeighbors.Count;
        if (free <= 0)
        {
            return;
        }

        var now = _time.GetTimestamp();
        if (_refusedUntil.Count > 0)
        {
            foreach (var expired in _refusedUntil.Where(r => r.Value <= now).Select(r => r.Key).ToList())
            {
                _refusedUntil.Remove(expired);
            }
        }

        var candidates = _passive.Where(p => !_pendingNeighbors.ContainsKey(p.Name) && !_refusedUntil.ContainsKey(p.Name)).ToList();
        foreach (var candidate in Sample(candidates, free))
        {
            RequestNeighbor(candidate, highPriority: _active.Count == 0);
        }
    }

    private void RequestNeighbor(NodeRef candidate, bool highPriority)
    {
        if (_pendingNeighbors.ContainsKey(candidate.Name) || _active.ContainsKey(candidate.Name))
        {
            return;
        }

        var timer = After(_settings.NeighborRequestTimeout, () =>
        {
            // No answer: the candidate is probably gone; forget it and try another.
            _pendingNeighbors.Remove(candidate.Name);
            _passive.RemoveAll(p => p.Name == candidate.Name);
            FillActiveView();
        });
        _pendingNeighbors[candidate.Name] = (candidate, timer);
        Send(candidate.Address, new NeighborRequest(highPriority));
    }

    private void ScheduleShuffle()
    {
        var interval = _passive.Count < _settings.PassiveViewSize / 2 ? _settings.ShuffleIntervalFast : _settings.ShuffleInterval;
        After(Jitter(interval), () =>
        {
            ShuffleTick();
            ScheduleShuffle();
        });
    }

    private void ShuffleTick()
    {
        if (_active.Count == 0)
        {
            return;
        }

        var nodes = new List<NodeRef> { Self };
        nodes.AddRange(Sample(_active.Values.Select(p => p.Ref), _settings.ShuffleActiveSample));
        nodes.AddRange(Sample(_passive, _settings.ShufflePassiveSample));
        _lastShuffleSent = [.. nodes];
        var target = Pick(_active.Values.Select(p => p.Ref).ToList());
        Send(target.Address, new Shuffle(Self, _settings.ShuffleWalkLength, _lastShuffleSent, ++_shuffleId));
    }

    private void OnShuffle(NodeRef from, Shuffle m)
    {
        if (m.Origin.Name == Self.Name)
        {
            return;
        }

        if (m.TimeToLive > 0 && _active.Count > 1)
        {
            var next = _active.Values.Where(p => p.Ref.Name != from.Name && p.Ref.Name != m.Origin.Name).Select(p => p.Ref).ToList();
            if (next.Count > 0)
            {
                Send(Pick(next).Address, m with { TimeToLive = m.TimeToLive - 1 });
                return;
            }
        }

        var reply = Sample(_passive, m.Nodes.Length).ToArray();
        Reply(m.Origin.Address, new ShuffleReply(m.ShuffleId, reply));
        foreach (var node in m.Nodes)
        {
            AddPassive(node);
        }
    }

    private void OnShuffleReply(ShuffleReply m)
    {
        foreach (var node in m.Nodes)
        {
            AddPassive(node);
        }
    }
}
