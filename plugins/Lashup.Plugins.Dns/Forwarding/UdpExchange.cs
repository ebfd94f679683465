namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>How a UDP exchange ended.</summary>
/// <param name="Verdict"><see cref="UpstreamVerdict.Answer"/> or <see cref="UpstreamVerdict.Truncated"/> from the winner; otherwise the last bad verdict.</param>
/// <param name="Answer">The winner's answer (for <see cref="UpstreamVerdict.Answer"/>).</param>
/// <param name="Upstream">The winner's index, or -1.</param>
/// <param name="TimedOut">No good answer, and at least one upstream never answered.</param>
internal readonly record struct ExchangeOutcome(UpstreamVerdict Verdict, ForwardedAnswer? Answer, int Upstream, bool TimedOut);

/// <summary>
/// One question sent over UDP to several upstreams at once: the first good answer (NOERROR, NXDOMAIN, or TC) decides;
/// bad answers (SERVFAIL, REFUSED, ...) only count down, and when every upstream asked has answered badly or expired,
/// the exchange fails. Queries still waiting after the decision stay registered until they answer or expire, so
/// their upstreams' health is still measured.
/// </summary>
internal sealed class UdpExchange
{
    private readonly TaskCompletionSource<ExchangeOutcome> _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Sent[] _sent;
    private int _sentCount;
    private int _outstanding;
    private int _expired;
    private int _lastBadVerdict = (int)UpstreamVerdict.ServerFailure;

    public UdpExchange(CacheKey key, int upstreams)
    {
        Key = key;
        _sent = new Sent[upstreams];
        _outstanding = upstreams;
    }

    public CacheKey Key { get; }

    public Task<ExchangeOutcome> Outcome => _outcome.Task;

    /// <summary>A winner was found or the exchange failed: later answers only update health.</summary>
    public bool IsDecided => _outcome.Task.IsCompleted;

    /// <summary>Queries not yet answered, expired or failed.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>The queries registered, for expiring them (only read after every send was attempted).</summary>
    public ReadOnlySpan<Sent> Registered => _sent.AsSpan(0, _sentCount);

    /// <summary>Remembers a registered query (called by the sending thread before the first await of the exchange).</summary>
    public void Track(UdpChannel channel, int upstream, ushort id, PendingQuery pending) =>
        _sent[_sentCount++] = new Sent(channel, upstream, id, pending);

    /// <summary>One upstream answered (its pending query removed by the caller).</summary>
    public void OnResponse(int upstream, UpstreamVerdict verdict, ForwardedAnswer? answer)
    {
        if (verdict is UpstreamVerdict.Answer or UpstreamVerdict.Truncated)
        {
            if (verdict == UpstreamVerdict.Truncated || answer is not null)
            {
                _outcome.TrySetResult(new ExchangeOutcome(verdict, answer, upstream, TimedOut: false));
            }
        }
        else
        {
            Volatile.Write(ref _lastBadVerdict, (int)verdict);
        }

        CountDown();
    }

    /// <summary>One upstream's query expired or could not be sent (its pending query removed by the caller).</summary>
    public void OnFailure(bool expired)
    {
        if (expired)
        {
            Volatile.Write(ref _expired, 1);
        }

        CountDown();
    }

    /// <summary>Decides the exchange as timed out if nothing decided it yet.</summary>
    public void TimeOut() =>
        _outcome.TrySetResult(new ExchangeOutcome((UpstreamVerdict)Volatile.Read(ref _lastBadVerdict), null, -1, TimedOut: true));

    private void CountDown()
    {
        if (Interlocked.Decrement(ref _outstanding) == 0)
        {
            _outcome.TrySetResult(new ExchangeOutcome((UpstreamVerdict)Volatile.Read(ref _lastBadVerdict), null, -1, TimedOut: Volatile.Read(ref _expired) != 0));
        }
    }

    /// <summary>A query sent to one upstream.</summary>
    internal readonly record struct Sent(UdpChannel Channel, int Upstream, ushort Id, PendingQuery Pending);
}
