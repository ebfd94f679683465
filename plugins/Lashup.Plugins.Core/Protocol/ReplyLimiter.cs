namespace Lashup.Plugins.Core.Protocol;

/// <summary>How fast the node may send to addresses no frame has proven (<see cref="ReplyLimiter"/>).</summary>
internal sealed record ReplyLimits
{
    /// <summary>Messages per second to one unproven address, and how many may go at once.</summary>
    public double PerDestinationRate { get; init; } = 8;

    public double PerDestinationBurst { get; init; } = 32;

    /// <summary>Messages per second to all unproven addresses together, and how many may go at once.</summary>
    public double GlobalRate { get; init; } = 256;

    public double GlobalBurst { get; init; } = 512;

    /// <summary>Unproven addresses with a bucket of their own (least recently used evicted; the global bucket still holds).</summary>
    public int Destinations { get; init; } = 4096;
}

/// <summary>
/// Token buckets for what the node sends in reaction to a frame to an address that frame supplied (the Ack to a Ping,
/// a join or neighbour reply, a relayed probe's target) when nothing has proven that address. Without a keyring a
/// frame's sender address is whatever the sender wrote, so a flood of Pings naming a victim's address made the node
/// Ack the victim once per Ping (a reflector). A bucket per destination and a global bucket bound that; what does not
/// fit is dropped and counted. Deterministic: the clock is the node's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class ReplyLimiter(TimeProvider time, ReplyLimits limits)
{
    private readonly Bucket _global = new(limits.GlobalBurst);
    private readonly BoundedLru<string, Bucket> _destinations = new(limits.Destinations, StringComparer.Ordinal);

    public ReplyLimits Limits => limits;

    public int Destinations => _destinations.Count;

    /// <summary>Takes a token for one message to <paramref name="address"/>; false if either bucket is empty.</summary>
    public bool TryAcquire(string address)
    {
        var now = time.GetTimestamp();
        if (!_destinations.TryGetValue(address, out var bucket))
        {
            bucket = new Bucket(limits.PerDestinationBurst) { At = now };
            _destinations.Set(address, bucket);
        }

        var frequency = time.TimestampFrequency;
        _global.Refill(now, frequency, limits.GlobalRate, limits.GlobalBurst);
        bucket.Refill(now, frequency, limits.PerDestinationRate, limits.PerDestinationBurst);
        if (bucket.Tokens < 1 || _global.Tokens < 1)
        {
            return false;
        }

        bucket.Tokens--;
        _global.Tokens--;
        return true;
    }

    private sealed class Bucket(double tokens)
    {
        public double Tokens { get; set; } = tokens;

        public long At { get; set; }

        public void Refill(long now, long frequency, double rate, double burst)
        {
            if (now > At)
            {
                Tokens = Math.Min(burst, Tokens + ((double)(now - At) / frequency * rate));
                At = now;
            }
        }
    }
}
