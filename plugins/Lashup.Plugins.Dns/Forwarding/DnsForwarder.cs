using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// Answers names outside Lashup's zones from upstream resolvers: a TTL-honouring cache first; on a miss, one query to
/// every healthy upstream at once (identical questions in flight share it), the first good answer wins, a truncated
/// one is fetched again over TCP from the upstream that sent it. Upstream trouble (timeouts, garbage, refusals, all
/// upstreams down, too many queries in flight) always ends in a SERVFAIL within about <see cref="ForwarderSettings.Timeout"/>.
/// <para>
/// Lifecycle: construct, <see cref="Start"/> (binds the UDP sockets; throws if it cannot), call
/// <see cref="ResolveAsync"/> from any number of threads, <see cref="DisposeAsync"/> (closes the sockets; queries in
/// flight get SERVFAIL).
/// </para>
/// </summary>
internal sealed class DnsForwarder : IAsyncDisposable
{
    private const DnsRecordType ZoneTransferIncremental = (DnsRecordType)251;
    private const DnsRecordType ZoneTransfer = (DnsRecordType)252;
    private const int IdAttempts = 16;

    private readonly ForwarderSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger<DnsForwarder> _logger;
    private readonly ForwarderMetrics _metrics;
    private readonly ForwarderCache? _cache;
    private readonly UpstreamHealth[] _upstreams;
    private readonly AnswerLimits _limits;
    private readonly long _timeoutTicks;
    private readonly ConcurrentDictionary<CacheKey, Flight> _flights = new(CacheKeyComparer.Instance);
    private readonly ConcurrentDictionary<CacheKey, Flight>.AlternateLookup<CacheKeyView> _flightLookup;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationToken _stoppingToken;
    private UdpChannel[] _ipv4 = [];
    private UdpChannel[] _ipv6 = [];
    private ITimer? _sweeper;
    private int _inFlight;
    private int _state;

    public DnsForwarder(ForwarderSettings settings, TimeProvider time, ILogger<DnsForwarder> logger, Meter meter)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(meter);
        settings.Validate();
        _settings = settings;
        _time = time;
        _logger = logger;
        _stoppingToken = _stopping.Token;
        _timeoutTicks = (long)(settings.Timeout.TotalSeconds * time.TimestampFrequency);
        _limits = new AnswerLimits((uint)settings.MaxCacheTtl.TotalSeconds, (uint)settings.NegativeTtlCap.TotalSeconds);
        _cache = settings.CacheEntries > 0 ? new ForwarderCache(settings.CacheEntries, settings.CacheMaxBytes, time) : null;
        _upstreams = new UpstreamHealth[settings.Upstreams.Count];
        for (var i = 0; i < _upstreams.Length; i++)
        {
            _upstreams[i] = new UpstreamHealth(i, settings.Upstreams[i], settings.FailuresBeforeDown, settings.DownRetryInterval, time);
        }

        _flightLookup = _flights.GetAlternateLookup<CacheKeyView>();
        _metrics = new ForwarderMetrics(
            meter,
            () => _cache?.Count ?? 0,
            () => _cache?.Evictions ?? 0,
            () => _upstreams.Count(u => u.IsHealthy));
    }

    /// <summary>Answers in the cache.</summary>
    public int CacheCount => _cache?.Count ?? 0;

    /// <summary>Upstream queries waiting for an answer (UDP and TCP).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The local endpoints of the UDP sockets (for tests and diagnostics).</summary>
    public IReadOnlyList<IPEndPoint> LocalEndPoints => [.. _ipv4.Concat(_ipv6).Select(c => c.LocalEndPoint)];

    /// <summary>Opens the UDP sockets (per address family in use, bound to loopback when every upstream of it is) and their receive loops.</summary>
    /// <exception cref="SocketException">A socket cannot be opened.</exception>
    public void Start()
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the forwarder was started already");
        }

        var opened = new List<UdpChannel>();
        try
        {
            _ipv4 = OpenChannels(AddressFamily.InterNetwork, IPAddress.Any, IPAddress.Loopback, opened);
            _ipv6 = OpenChannels(AddressFamily.InterNetworkV6, IPAddress.IPv6Any, IPAddress.IPv6Loopback, opened);
        }
        catch
        {
            foreach (var channel in opened)
            {
                channel.StopAsync().GetAwaiter().GetResult();
            }

            _ipv4 = _ipv6 = [];
            Volatile.Write(ref _state, 0);
            throw;
        }

        foreach (var channel in opened)
        {
            channel.Start(_stoppingToken);
        }

        var period = TimeSpan.FromTicks(Math.Clamp(_settings.Timeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond));
        _sweeper = _time.CreateTimer(static state => ((DnsForwarder)state!).SweepExpired(), this, period, period);
    }

    /// <summary>The health of every upstream, in configuration order.</summary>
    public IReadOnlyList<UpstreamStatus> GetUpstreamStatus() => [.. _upstreams.Select(u => u.Snapshot())];

    /// <summary>Empties the cache (the server's zones changed, so an answer forwarded before may now be ours).</summary>
    public void Clear() => _cache?.Clear();

    /// <summary>
    /// Writes into <paramref name="destination"/> the complete response to a client's query for a name outside
    /// Lashup's zones: the upstream's answer addressed to the client (its id and question spelling, RD and CD copied,
    /// RA set, TTLs less the time cached), or an empty response with TC when it exceeds
    /// <paramref name="responseLimit"/>, or SERVFAIL. Never throws for upstream trouble; only
    /// <paramref name="cancellationToken"/> ends it early.
    /// </summary>
    /// <param name="clientPacket">The query as received (its question spelling is echoed).</param>
    /// <param name="query">The query, parsed by <see cref="DnsQueryParser"/> without error.</param>
    /// <param name="destination">The response buffer (512 octets at least; 65535 for TCP).</param>
    /// <param name="responseLimit">The largest response the client takes: <see cref="DnsResponseWriter.GetUdpLimit"/> over UDP, 65535 over TCP.</param>
    /// <param name="overTcp">The client asked over TCP: an answer truncated upstream and not refetched is SERVFAIL, not TC.</param>
    /// <param name="cancellationToken">The client gave up (the server stops).</param>
    /// <returns>The length of the response.</returns>
    public ValueTask<int> ResolveAsync(ReadOnlyMemory<byte> clientPacket, DnsQuery query, Memory<byte> destination, int responseLimit, bool overTcp, CancellationToken cancellationToken)
    {
        if (!query.HasQuestion)
        {
            throw new ArgumentException("the query has no parsed question", nameof(query));
        }

        if (Volatile.Read(ref _state) == 0)
        {
            throw new InvalidOperationException("the forwarder is not started");
        }

        cancellationToken.ThrowIfCancellationRequested();
        _metrics.Request();
        var packet = clientPacket.Span;
        var output = destination.Span;
        if (query.QuestionType is ZoneTransfer or ZoneTransferIncremental)
        {
            // A zone transfer is a stream of messages over TCP; it is not something to forward.
            return new ValueTask<int>(ClientResponses.Write(output, responseLimit, packet, query, DnsResponseCode.Refused, _settings.ClientPayloadSize));
        }

        var key = CacheKeyView.Of(query);
        if (_cache is not null)
        {
            if (_cache.TryGet(key, out var cached, out var elapsed))
            {
                _metrics.CacheHit();
                return new ValueTask<int>(cached.WriteTo(output, responseLimit, packet, query, elapsed, _settings.ClientPayloadSize));
            }

            _metrics.CacheMiss();
        }

        if (Volatile.Read(ref _state) != 1)
        {
            _metrics.Error(ForwardError.Shutdown);
            return new ValueTask<int>(ClientResponses.Write(output, responseLimit, packet, query, DnsResponseCode.ServerFailure, _settings.ClientPayloadSize));
        }

        var flight = JoinOrStartFlight(key);
        return flight.Task.IsCompletedSuccessfully
            ? new ValueTask<int>(WriteResult(flight.Task.Result, output, responseLimit, packet, query, overTcp))
            : AwaitFlightAsync(flight, clientPacket, query, destination, responseLimit, overTcp, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        await _stopping.CancelAsync();
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync();
        }

        foreach (var channel in _ipv4.Concat(_ipv6))
        {
            await channel.StopAsync();
        }

        // Every flight observes the cancellation; wait for them to answer SERVFAIL, then expire what is left.
        foreach (var flight in _flights.Values)
        {
            await flight.Task;
        }

        ExpireWhere(static _ => true, countAsFailure: false);
        _stopping.Dispose();
    }

    private async ValueTask<int> AwaitFlightAsync(Flight flight, ReadOnlyMemory<byte> clientPacket, DnsQuery query, Memory<byte> destination, int responseLimit, bool overTcp, CancellationToken cancellationToken)
    {
        var result = await flight.Task.WaitAsync(cancellationToken);
        return WriteResult(result, destination.Span, responseLimit, clientPacket.Span, query, overTcp);
    }

    private int WriteResult(ForwardResult result, Span<byte> destination, int responseLimit, ReadOnlySpan<byte> clientPacket, in DnsQuery query, bool overTcp)
    {
        if (result.Answer is { } answer)
        {
            return answer.WriteTo(destination, responseLimit, clientPacket, query, elapsedSeconds: 0, _settings.ClientPayloadSize);
        }

        if (result.Error == ForwardError.Tcp && !overTcp)
        {
            // The answer is too large for UDP and could not be fetched over TCP: the client will try TCP itself.
            return ClientResponses.Write(destination, responseLimit, clientPacket, query, DnsResponseCode.NoError, _settings.ClientPayloadSize, truncated: true);
        }

        _metrics.Error(result.Error);
        return ClientResponses.Write(destination, responseLimit, clientPacket, query, DnsResponseCode.ServerFailure, _settings.ClientPayloadSize);
    }

    /// <summary>The flight already asking this question, or a new one (started here, on this thread, up to its first wait).</summary>
    private Flight JoinOrStartFlight(CacheKeyView key)
    {
        if (_flightLookup.TryGetValue(key, out var existing))
        {
            return existing;
        }

        var flight = new Flight(CacheKey.From(key));
        var winner = _flights.GetOrAdd(flight.Key, flight);
        if (ReferenceEquals(winner, flight))
        {
            _ = RunFlightAsync(flight);
        }

        return winner;
    }

    private async Task RunFlightAsync(Flight flight)
    {
        ForwardResult result;
        try
        {
            result = await ForwardAsync(flight.Key);
        }
        catch (Exception) when (_stoppingToken.IsCancellationRequested)
        {
            // Cancelled waits, closed sockets: the forwarder is being disposed.
            result = new ForwardResult(null, ForwardError.Shutdown);
        }
        catch (Exception e)
        {
            ForwarderLog.ForwardFailed(_logger, flight.Key.ToString(), e);
            result = new ForwardResult(null, ForwardError.UpstreamError);
        }

        if (result.Answer is { CacheTtl: > 0 } answer && !_stoppingToken.IsCancellationRequested)
        {
            _cache?.Set(flight.Key, answer);
        }

        _flights.TryRemove(new KeyValuePair<CacheKey, Flight>(flight.Key, flight));
        flight.TrySetResult(result);
    }

    private async Task<ForwardResult> ForwardAsync(CacheKey key)
    {
        var targets = SelectTargets();
        if (!TryReserve(targets.Count))
        {
            return new ForwardResult(null, ForwardError.Overload);
        }

        var started = _time.GetTimestamp();
        var query = BuildQuery(key, 0);
        var datagrams = new byte[targets.Count * query.Length];
        var exchange = new UdpExchange(key, targets.Count);
        for (var i = 0; i < targets.Count; i++)
        {
            var upstream = targets[i];
            var channels = upstream.Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? _ipv6 : _ipv4;
            var channel = channels[Random.Shared.Next(channels.Length)];
            var pending = new PendingQuery(exchange, started);
            var id = (ushort)0;
            var registered = false;
            for (var attempt = 0; attempt < IdAttempts && !registered; attempt++)
            {
                id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
                registered = channel.TryAdd(upstream.Index, id, pending);
            }

            if (!registered)
            {
                Release(1);
                exchange.OnFailure(expired: false);
                continue;
            }

            exchange.Track(channel, upstream.Index, id, pending);
            var datagram = datagrams.AsMemory(i * query.Length, query.Length);
            query.CopyTo(datagram);
            BinaryPrimitives.WriteUInt16BigEndian(datagram.Span, id);
            upstream.CountQuery();
            _metrics.UpstreamQuery(tcp: false);
            try
            {
                await channel.SendAsync(datagram, upstream.Index, _stoppingToken);
            }
            catch (SocketException e)
            {
                ForwarderLog.SendFailed(_logger, upstream.Endpoint, e);
                if (channel.TryRemove(upstream.Index, id, pending))
                {
                    Release(1);
                    RecordFailure(upstream);
                    exchange.OnFailure(expired: false);
                }
            }
        }

        ExchangeOutcome outcome;
        try
        {
            outcome = await exchange.Outcome.WaitAsync(_settings.Timeout, _time, _stoppingToken);
        }
        catch (TimeoutException)
        {
            Expire(exchange);
            exchange.TimeOut();
            outcome = await exchange.Outcome;
        }

        // Queries still waiting after a winner stay registered: their answers (or the sweep) still tell their health.
        return outcome.Verdict switch
        {
            UpstreamVerdict.Answer when outcome.Answer is not null => new ForwardResult(outcome.Answer, default),
            UpstreamVerdict.Truncated => await ForwardOverTcpAsync(key, _upstreams[outcome.Upstream]),
            _ => new ForwardResult(null, outcome.TimedOut ? ForwardError.Timeout : ForwardError.UpstreamError),
        };
    }

    private async Task<ForwardResult> ForwardOverTcpAsync(CacheKey key, UpstreamHealth upstream)
    {
        if (!TryReserve(1))
        {
            return new ForwardResult(null, ForwardError.Overload);
        }

        try
        {
            var id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
            var query = BuildQuery(key, id);
            _metrics.UpstreamQuery(tcp: true);
            var response = await TcpUpstream.ExchangeAsync(upstream.Endpoint, query, _settings.Timeout, _time, _stoppingToken);
            if (response is null)
            {
                return new ForwardResult(null, ForwardError.Tcp);
            }

            var verdict = UpstreamResponse.Inspect(response, id, key.Name, key.Type, key.Class, _limits, build: true, out var answer);
            return verdict == UpstreamVerdict.Answer && answer is not null
                ? new ForwardResult(answer, default)
                : new ForwardResult(null, ForwardError.Tcp);
        }
        finally
        {
            Release(1);
        }
    }

    /// <summary>A datagram on an upstream socket: answers the pending query it matches, or is dropped.</summary>
    private void OnDatagram(UdpChannel channel, int upstream, ReadOnlySpan<byte> datagram)
    {
        if (upstream < 0 || datagram.Length < DnsHeader.Size)
        {
            _metrics.Dropped();
            return;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        if (!channel.TryGet(upstream, id, out var pending))
        {
            _metrics.Dropped();
            return;
        }

        var exchange = pending.Exchange;
        var key = exchange.Key;
        var verdict = UpstreamResponse.Inspect(datagram, id, key.Name, key.Type, key.Class, _limits, build: !exchange.IsDecided, out var answer);
        if (verdict is UpstreamVerdict.Malformed or UpstreamVerdict.Mismatch)
        {
            // Garbage or a forgery: the real answer may still come.
            _metrics.Dropped();
            return;
        }

        if (!channel.TryRemove(upstream, id, pending))
        {
            return;
        }

        Release(1);
        var health = _upstreams[upstream];
        if (verdict == UpstreamVerdict.Refused)
        {
            RecordFailure(health);
        }
        else if (health.RecordSuccess(_time.GetElapsedTime(pending.SentAt)))
        {
            ForwarderLog.UpstreamUp(_logger, health.Endpoint);
        }

        exchange.OnResponse(upstream, verdict, answer);
    }

    /// <summary>Healthy upstreams, plus down ones due for a retry; all of them when none is healthy.</summary>
    private List<UpstreamHealth> SelectTargets()
    {
        var now = _time.GetTimestamp();
        var targets = new List<UpstreamHealth>(_upstreams.Length);
        var healthy = 0;
        foreach (var upstream in _upstreams)
        {
            if (upstream.IsHealthy)
            {
                healthy++;
                targets.Add(upstream);
            }
            else if (upstream.TryClaimRetry(now))
            {
                targets.Add(upstream);
            }
        }

        if (healthy == 0 && targets.Count < _upstreams.Length)
        {
            targets.Clear();
            targets.AddRange(_upstreams);
        }

        return targets;
    }

    private byte[] BuildQuery(CacheKey key, ushort id)
    {
        Span<byte> buffer = stackalloc byte[512];
        var header = new DnsHeader { Id = id, Opcode = DnsOpcode.Query, RecursionDesired = true, CheckingDisabled = key.CheckingDisabled };
        var edns = new DnsEdns(IsPresent: true, _settings.UpstreamPayloadSize, Version: 0, key.DnssecOk, ExtendedResponseCode: 0);
        if (!DnsQueryWriter.TryWrite(buffer, header, key.Name, key.Type, key.Class, edns, out var written))
        {
            throw new InvalidOperationException($"cannot encode the query for {key}");
        }

        return buffer[..written].ToArray();
    }

    private bool TryReserve(int count)
    {
        if (Interlocked.Add(ref _inFlight, count) <= _settings.MaxInFlight)
        {
            return true;
        }

        Interlocked.Add(ref _inFlight, -count);
        return false;
    }

    private void Release(int count) => Interlocked.Add(ref _inFlight, -count);

    private void RecordFailure(UpstreamHealth upstream)
    {
        if (upstream.RecordFailure(_time.GetTimestamp()))
        {
            ForwarderLog.UpstreamDown(_logger, upstream.Endpoint, _settings.FailuresBeforeDown);
        }
    }

    /// <summary>Expires every query of an exchange still waiting (its timeout passed).</summary>
    private void Expire(UdpExchange exchange)
    {
        foreach (var sent in exchange.Registered)
        {
            ExpireOne(sent.Channel, sent.Upstream, sent.Id, sent.Pending, countAsFailure: true);
        }
    }

    /// <summary>The sweep: expires queries whose timeout passed (those left waiting after their exchange was decided).</summary>
    private void SweepExpired()
    {
        var deadline = _time.GetTimestamp() - _timeoutTicks;
        ExpireWhere(pending => pending.SentAt <= deadline, countAsFailure: true);
    }

    private void ExpireWhere(Func<PendingQuery, bool> predicate, bool countAsFailure)
    {
        foreach (var channel in _ipv4.Concat(_ipv6))
        {
            if (channel.IsIdle)
            {
                continue;
            }

            foreach (var (key, pending) in channel.Pending)
            {
                if (predicate(pending))
                {
                    var (upstream, id) = UdpChannel.SplitKey(key);
                    ExpireOne(channel, upstream, id, pending, countAsFailure);
                }
            }
        }
    }

    private void ExpireOne(UdpChannel channel, int upstream, ushort id, PendingQuery pending, bool countAsFailure)
    {
        if (channel.TryRemove(upstream, id, pending))
        {
            Release(1);
            if (countAsFailure)
            {
                RecordFailure(_upstreams[upstream]);
            }

            pending.Exchange.OnFailure(expired: true);
        }
    }

    private UdpChannel[] OpenChannels(AddressFamily family, IPAddress any, IPAddress loopback, List<UdpChannel> opened)
    {
        var ofFamily = _settings.Upstreams.Where(u => u.AddressFamily == family).ToList();
        if (ofFamily.Count == 0)
        {
            return [];
        }

        // Answers from loopback upstreams (a local stub, the tests) come to a socket the network cannot reach.
        var bind = ofFamily.All(u => IPAddress.IsLoopback(u.Address)) ? loopback : any;
        var channels = new UdpChannel[_settings.UdpSocketsPerFamily];
        for (var i = 0; i < channels.Length; i++)
        {
            channels[i] = new UdpChannel(bind, _settings.Upstreams, OnDatagram, _logger, _time);
            opened.Add(channels[i]);
        }

        return channels;
    }

    /// <summary>What a flight ended with: an answer, or why not.</summary>
    private readonly record struct ForwardResult(ForwardedAnswer? Answer, ForwardError Error);

    /// <summary>One question being forwarded, shared by every client asking it meanwhile.</summary>
    private sealed class Flight(CacheKey key) : TaskCompletionSource<ForwardResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public CacheKey Key { get; } = key;
    }
}
