namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// Accepts each (epoch, sequence) of one sender once: a sliding window of 1024 sequence numbers below the highest
/// seen, so reordering between UDP and TCP is tolerated while duplicates and replays are refused. An older epoch is
/// refused. A newer epoch (the sender restarted, or a forger says so) is accepted in a window of its own but does not
/// retire the current one until it is <see cref="Confirm">confirmed</see>: the sender's own member-graph record at
/// that epoch was believed. A single forged frame with a huge epoch used to move the window there and make every real
/// frame of the sender look like a replay until it expired (issue 15); now it opens a side window and nothing else.
/// The epoch of a sender's first frame is not confirmed either (a sender with no record: nothing to compare it with):
/// until a record confirms an epoch, a lower epoch is accepted too (it takes the current window, the higher one becomes
/// the side window), and a confirmation below it moves the window down to the confirmed epoch. A forged first frame
/// used to fix the window at its epoch, so the member's real frames, and then its record, could never get in.
/// </summary>
internal sealed class SequenceWindow
{
    private Range _current = new();
    private Range? _next;

    /// <summary>The epoch frames are checked against (-1 before the first frame or confirmation).</summary>
    public long Epoch => _current.Epoch;

    /// <summary>A newer epoch seen but not confirmed, if any.</summary>
    public long? UnconfirmedEpoch => _next?.Epoch;

    /// <summary>Whether a record (or the sender's own answer) confirmed <see cref="Epoch"/>; until then it is only the first frame's say-so.</summary>
    public bool Confirmed { get; private set; }

    public bool Accept(long epoch, ulong seq)
    {
        if (_current.Epoch < 0)
        {
            _current.Reset(epoch); // the first frame of a sender we have no record of: nothing to compare with
        }

        if (epoch == _current.Epoch)
        {
            return _current.Accept(seq);
        }

        if (epoch < _current.Epoch)
        {
            if (Confirmed)
            {
                return false;
            }

            // Nothing confirmed the epoch this window started at: the lower one may be the sender's real one.
            MoveDownTo(epoch);
            return _current.Accept(seq);
        }

        // Newer and unconfirmed: one side window, for the latest such epoch seen (a forger and a restarted sender
        // alternating reset it, but can never make the current epoch's frames look replayed).
        if (_next is null || _next.Epoch != epoch)
        {
            _next ??= new Range();
            _next.Reset(epoch);
        }

        return _next.Accept(seq);
    }

    /// <summary>The sender is now at <paramref name="epoch"/> (its own record says so): earlier epochs are refused from now on.</summary>
    public void Confirm(long epoch)
    {
        var wasConfirmed = Confirmed;
        Confirmed = true;
        if (epoch == _current.Epoch || (wasConfirmed && epoch < _current.Epoch))
        {
            return;
        }

        if (_next is not null && _next.Epoch == epoch)
        {
            (_current, _next) = (_next, null);
            return;
        }

        if (epoch < _current.Epoch)
        {
            // The window started at an unconfirmed epoch above the record's (a forged first frame, or the sender
            // restarted since the record was made): checked against the record's epoch from now on, the higher one kept aside.
            MoveDownTo(epoch);
            return;
        }

        _current.Reset(epoch);
        if (_next is not null && _next.Epoch < epoch)
        {
            _next = null;
        }
    }

    /// <summary>What we believed was false (the sender itself answered at <paramref name="epoch"/>): start again there.</summary>
    public void Restart(long epoch)
    {
        _current.Reset(epoch);
        _next = null;
        Confirmed = true;
    }

    /// <summary>
    /// A fresh current window at <paramref name="epoch"/> (below the current one). The side window keeps the highest
    /// epoch seen: the current one if there is no side window, else the side window stays (it is above the current one)
    /// and the current one's range is reused. Moving down twice (5, 4, then 3) used to recycle the range of 5 for 3, and
    /// replays of 5's frames were accepted again.
    /// </summary>
    private void MoveDownTo(long epoch)
    {
        if (_next is null)
        {
            _next = _current;
            _current = new Range();
        }

        _current.Reset(epoch);
    }

    private sealed class Range
    {
        private const int Bits = 1024;
        private readonly ulong[] _seen = new ulong[Bits / 64];
        private ulong _highest;
        private bool _any;

        public long Epoch { get; private set; } = -1;

        public void Reset(long epoch)
        {
            Epoch = epoch;
            Array.Clear(_seen);
            _highest = 0;
            _any = false;
        }

        public bool Accept(ulong seq)
        {
            if (!_any)
            {
                _any = true;
                _highest = seq;
                Mark(seq);
                return true;
            }

            if (seq > _highest)
            {
                var shift = seq - _highest;
                if (shift >= Bits)
                {
                    Array.Clear(_seen);
                }
                else
                {
                    // Up to seq, not through it: seq is marked just below, and s <= ulong.MaxValue would never end.
                    for (var s = _highest + 1; s < seq; s++)
                    {
                        Clear(s);
                    }
                }

                _highest = seq;
                Mark(seq);
                return true;
            }

            if (_highest - seq >= Bits || IsMarked(seq))
            {
                return false;
            }

            Mark(seq);
            return true;
        }

        private void Mark(ulong seq) => _seen[(int)(seq % Bits / 64)] |= 1UL << (int)(seq % 64);

        private void Clear(ulong seq) => _seen[(int)(seq % Bits / 64)] &= ~(1UL << (int)(seq % 64));

        private bool IsMarked(ulong seq) => (_seen[(int)(seq % Bits / 64)] & (1UL << (int)(seq % 64))) != 0;
    }
}
