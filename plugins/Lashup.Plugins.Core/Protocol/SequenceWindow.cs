namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// Accepts each (epoch, sequence) of one sender once: a sliding window of 1024 sequence numbers below the highest
/// seen, so reordering between UDP and TCP is tolerated while duplicates and replays are refused. A newer epoch (the
/// sender restarted) resets the window; an older one is refused.
/// </summary>
internal sealed class SequenceWindow
{
    private const int Bits = 1024;
    private readonly ulong[] _seen = new ulong[Bits / 64];
    private long _epoch = -1;
    private ulong _highest;

    public bool Accept(long epoch, ulong seq)
    {
        if (epoch < _epoch)
        {
            return false;
        }

        if (epoch > _epoch)
        {
            _epoch = epoch;
            Array.Clear(_seen);
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
