using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

/// <summary>
/// The forwarder against fake upstreams on 127.0.0.1 ephemeral ports. Outcomes only: every wait is bounded by
/// <see cref="ForwarderHarness.Patience"/>, far above the timeouts configured, so a hang fails instead of passing slowly.
/// </summary>
public sealed class DnsForwarderTests
{
    [Fact]
    public async Task ResolveAsync_UpstreamAnswers_RelaysWithClientIdAndSpelling()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.10"));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var response = await harness.AskAsync("WwW.ExAmple.ORG", id: 0xBEEF);

        Assert.Equal(0xBEEF, response.Header.Id);
        Assert.True(response.Header.IsResponse);
        Assert.True(response.Header.RecursionDesired);
        Assert.True(response.Header.RecursionAvailable);
        Assert.False(response.Header.AuthoritativeAnswer);
        Assert.False(response.Header.Truncated);
        Assert.Equal(DnsResponseCode.NoError, response.Code);
        Assert.Equal("WwW.ExAmple.ORG", response.QuestionName);
        var answer = Assert.Single(response.Answers);
        Assert.Equal(("www.example.org", (int)DnsRecordType.A, 300u, "192.0.2.10"), (answer.Name.ToLowerInvariant(), answer.Type, answer.Ttl, answer.Data));
        Assert.Equal((1232, false), response.Opt);

        // An independent decoder reads the same message.
        var oracle = Oracle.Parse(response.Bytes);
        Assert.Equal(0xBEEF, oracle.TransactionID);
        Assert.Equal("192.0.2.10", Assert.IsType<ARSoft.Tools.Net.Dns.ARecord>(Assert.Single(oracle.AnswerRecords)).Address.ToString());

        // The upstream was asked the question in lower case, with RD and EDNS.
        var sent = Assert.Single(upstream.Requests);
        Assert.Equal("www.example.org", sent.Name);
        Assert.True(sent.Query.Header.RecursionDesired);
        Assert.True(sent.Query.Edns is { IsPresent: true, UdpPayloadSize: 1232, DnssecOk: false });
        Assert.Equal(1, harness.Counter("lashup.dns.forward.requests"));
    }

    [Fact]
    public async Task ResolveAsync_ClientWithoutEdns_ResponseHasNoOpt()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var plain = await harness.AskAsync("www.example.org", payload: null);
        var withDo = await harness.AskAsync("www.example.org", dnssecOk: true);

        Assert.Null(plain.Opt);
        Assert.Equal(0, plain.Header.AdditionalCount);
        Assert.Equal((1232, true), withDo.Opt);

        // DO changes what a validating upstream answers: the two are cached apart.
        Assert.Equal(2, upstream.UdpQueries);
        Assert.Equal([false, true], upstream.Requests.Select(r => r.Query.Edns.DnssecOk));
    }

    [Fact]
    public async Task ResolveAsync_RepeatedQuestion_ServedFromCacheWithoutUpstream()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.10"));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        await harness.AskAsync("www.example.org", id: 1);
        var second = await harness.AskAsync("WWW.EXAMPLE.ORG", id: 2);

        Assert.Equal(1, upstream.UdpQueries);
        Assert.Equal(2, second.Header.Id);
        Assert.Equal("WWW.EXAMPLE.ORG", second.QuestionName);
        Assert.Equal("192.0.2.10", Assert.Single(second.Answers).Data);
        Assert.Equal(1, harness.Counter("lashup.dns.cache.hits"));
        Assert.Equal(1, harness.Counter("lashup.dns.cache.misses"));
        Assert.Equal(1, harness.Forwarder.CacheCount);
    }

    [Fact]
    public async Task ResolveAsync_TimePasses_TtlsDecreaseAndEntryExpires()
    {
        var time = new FakeTimeProvider();
        await using var upstream = new FakeUpstream(r => Answers.CnameThenA(r, cnameTtl: 600, aTtl: 60));
        await using var harness = new ForwarderHarness([upstream.EndPoint], time);

        var fresh = await harness.AskAsync("alias.example.org");
        time.Advance(TimeSpan.FromSeconds(25.5));
        var cached = await harness.AskAsync("alias.example.org");
        time.Advance(TimeSpan.FromSeconds(34.5));
        var refetched = await harness.AskAsync("alias.example.org");

        Assert.Equal([600u, 60u], fresh.AnswerTtls);
        Assert.Equal([575u, 35u], cached.AnswerTtls);
        Assert.Equal([600u, 60u], refetched.AnswerTtls);
        Assert.Equal(2, upstream.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_TtlAboveMaximum_ServedAndCachedCapped()
    {
        var time = new FakeTimeProvider();
        await using var upstream = new FakeUpstream(r => Answers.A(r, ttl: 86400));
        await using var harness = new ForwarderHarness([upstream.EndPoint], time, s => s with { MaxCacheTtl = TimeSpan.FromMinutes(10) });

        var fresh = await harness.AskAsync("www.example.org");
        time.Advance(TimeSpan.FromMinutes(10));
        await harness.AskAsync("www.example.org");

        Assert.Equal(600u, Assert.Single(fresh.AnswerTtls));
        Assert.Equal(2, upstream.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_ZeroTtl_NotCached()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, ttl: 0));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        await harness.AskAsync("www.example.org");
        await harness.AskAsync("www.example.org");

        Assert.Equal(2, upstream.UdpQueries);
        Assert.Equal(0, harness.Forwarder.CacheCount);
    }

    [Theory]
    [InlineData(true, 3600u, 60u, 300, 60u)]
    [InlineData(true, 30u, 900u, 300, 30u)]
    [InlineData(true, 3600u, 3600u, 120, 120u)]
    [InlineData(false, 3600u, 45u, 300, 45u)]
    public async Task ResolveAsync_NegativeAnswer_CachedForSoaMinimumCapped(bool nxDomain, uint soaTtl, uint minimum, int capSeconds, uint expected)
    {
        var time = new FakeTimeProvider();
        await using var upstream = new FakeUpstream(r => Answers.Negative(r, soaTtl, minimum, nxDomain));
        await using var harness = new ForwarderHarness([upstream.EndPoint], time, s => s with { NegativeTtlCap = TimeSpan.FromSeconds(capSeconds) });

        var fresh = await harness.AskAsync("gone.example.org");
        time.Advance(TimeSpan.FromSeconds(expected - 1));
        var cached = await harness.AskAsync("gone.example.org");
        time.Advance(TimeSpan.FromSeconds(1));
        await harness.AskAsync("gone.example.org");

        Assert.Equal(nxDomain ? DnsResponseCode.NxDomain : DnsResponseCode.NoError, fresh.Code);
        Assert.Empty(fresh.Answers);
        Assert.Equal(expected, Assert.Single(fresh.Authority).Ttl);
        Assert.Equal(nxDomain ? DnsResponseCode.NxDomain : DnsResponseCode.NoError, cached.Code);
        Assert.Equal(1u, Assert.Single(cached.Authority).Ttl);
        Assert.Equal(2, upstream.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_NxDomainWithoutSoa_RelayedNotCached()
    {
        await using var upstream = new FakeUpstream(r => Answers.NxWithoutSoa(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var first = await harness.AskAsync("gone.example.org");
        await harness.AskAsync("gone.example.org");

        Assert.Equal(DnsResponseCode.NxDomain, first.Code);
        Assert.Equal(2, upstream.UdpQueries);
    }

    [Theory]
    [InlineData(2)] // SERVFAIL
    [InlineData(5)] // REFUSED
    [InlineData(1)] // FORMERR
    public async Task ResolveAsync_UpstreamError_ServFailNotCached(int code)
    {
        await using var upstream = new FakeUpstream(r => Answers.Error(r, (DnsResponseCode)code));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var first = await harness.AskAsync("www.example.org", id: 7);
        var second = await harness.AskAsync("www.example.org", id: 8);

        Assert.Equal((DnsResponseCode.ServerFailure, (ushort)7, "www.example.org"), (first.Code, first.Header.Id, first.QuestionName));
        Assert.Equal(DnsResponseCode.ServerFailure, second.Code);
        Assert.Equal(2, upstream.UdpQueries);
        Assert.Equal(2, harness.Counter("lashup.dns.forward.errors{reason=upstream_error}"));
    }

    [Fact]
    public async Task ResolveAsync_CacheFull_EvictsLeastRecentlyUsed()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { CacheEntries = 2 });

        await harness.AskAsync("a.example.org");
        await harness.AskAsync("b.example.org");
        await harness.AskAsync("a.example.org");
        await harness.AskAsync("c.example.org");
        await harness.AskAsync("a.example.org");
        await harness.AskAsync("b.example.org");

        // a was read again before c came, so b (not read since) made room; b is fetched again.
        Assert.Equal(["a.example.org", "b.example.org", "c.example.org", "b.example.org"], upstream.Requests.Select(r => r.Name));
        Assert.Equal(2, harness.Forwarder.CacheCount);
    }

    [Fact]
    public async Task ResolveAsync_CacheHit_CompletesSynchronouslyWithoutAllocating()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.10"));
        using var meter = new Meter("Lashup.Dns.Tests.Allocations");
        var settings = new ForwarderSettings([upstream.EndPoint]);
        await using var forwarder = new DnsForwarder(settings, TimeProvider.System, NullLogger<DnsForwarder>.Instance, meter);
        forwarder.Start();
        var packet = Packets.Query("WWW.example.org", payload: 1232, id: 5);
        var query = Packets.Parse(packet);
        var buffer = new byte[65535];
        await forwarder.ResolveAsync(packet, query, buffer, 1232, overTcp: false, CancellationToken.None).AsTask().WaitAsync(ForwarderHarness.Patience);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 0; i < 100; i++)
        {
            var pending = forwarder.ResolveAsync(packet, query, buffer, 1232, overTcp: false, CancellationToken.None);
            Assert.True(pending.IsCompletedSuccessfully);
            total += await pending;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1, upstream.UdpQueries);
        Assert.Equal("WWW.example.org", new Response(buffer.AsSpan(0, total / 100).ToArray()).QuestionName);
    }

    [Fact]
    public async Task Clear_AfterCaching_NextQueryGoesUpstream()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        await harness.AskAsync("www.example.org");
        harness.Forwarder.Clear();
        await harness.AskAsync("www.example.org");

        Assert.Equal(2, upstream.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_CacheDisabled_EveryQueryGoesUpstream()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { CacheEntries = 0 });

        var first = await harness.AskAsync("www.example.org");
        await harness.AskAsync("www.example.org");

        Assert.Equal(DnsResponseCode.NoError, first.Code);
        Assert.Equal(2, upstream.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_UpstreamNeverAnswers_ServFailAfterTimeout()
    {
        await using var silent = new FakeUpstream(_ => UpstreamReply.Silent);
        await using var harness = new ForwarderHarness([silent.EndPoint], configure: s => s with { Timeout = TimeSpan.FromMilliseconds(300) });

        var response = await harness.AskAsync("www.example.org", id: 99);

        Assert.Equal((DnsResponseCode.ServerFailure, (ushort)99), (response.Code, response.Header.Id));
        Assert.Equal(1, harness.Counter("lashup.dns.forward.errors{reason=timeout}"));
        Assert.Equal(0, harness.Forwarder.InFlight);
        Assert.Equal(1, Assert.Single(harness.Forwarder.GetUpstreamStatus()).ConsecutiveFailures);
    }

    [Fact]
    public async Task ResolveAsync_OneUpstreamSilent_OtherAnswerWinsWithoutWaitingForTimeout()
    {
        await using var silent = new FakeUpstream(_ => UpstreamReply.Silent);
        await using var good = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.20"));

        // A timeout longer than the test's patience: only first-answer-wins can answer in time.
        await using var harness = new ForwarderHarness([silent.EndPoint, good.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(50) });

        var response = await harness.AskAsync("www.example.org");

        Assert.Equal("192.0.2.20", Assert.Single(response.Answers).Data);
        await Eventually.TrueAsync(() => silent.UdpQueries == 1);
        Assert.Equal(1, good.UdpQueries);
    }

    [Fact]
    public async Task ResolveAsync_OneUpstreamRefuses_OtherAnswerUsed()
    {
        await using var refusing = new FakeUpstream(r => Answers.Error(r, DnsResponseCode.Refused));
        await using var good = new FakeUpstream(r => Answers.A(r, 300, "192.0.2.21"));
        await using var harness = new ForwarderHarness([refusing.EndPoint, good.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(50) });

        var response = await harness.AskAsync("www.example.org");

        Assert.Equal("192.0.2.21", Assert.Single(response.Answers).Data);
    }

    [Fact]
    public async Task ResolveAsync_GarbageAndForgeriesBeforeAnswer_Ignored()
    {
        await using var upstream = new FakeUpstream(r =>
        {
            var real = Answers.A(r, 300, "192.0.2.30");
            var forged = Answers.A(r, 300, "203.0.113.66");
            byte[] junk = [.. real.AsSpan(0, 2), 0x81, 0x80, 0, 1, 0, 9, 0, 0, 0, 0, 0xC0, 0x0C];
            var otherQuestion = (byte[])real.Clone();
            otherQuestion[13] ^= 0x01;
            return new UpstreamReply(
                [junk, Answers.WithId(forged, (ushort)(Answers.IdOf(r) + 1)), otherQuestion, [1, 2, 3], real],
                FromOtherPort: [forged]);
        });
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(50) });

        var response = await harness.AskAsync("www.example.org");

        Assert.Equal("192.0.2.30", Assert.Single(response.Answers).Data);
        await Eventually.TrueAsync(() => harness.Counter("lashup.dns.forward.responses_dropped") == 5);
    }

    [Fact]
    public async Task ResolveAsync_AllUpstreamsFail_ServFailAndMarkedDownThenRecover()
    {
        await using var first = new FakeUpstream(r => Answers.Error(r, DnsResponseCode.Refused));
        await using var second = new FakeUpstream(_ => UpstreamReply.Silent);
        await using var harness = new ForwarderHarness([first.EndPoint, second.EndPoint], configure: s => s with { Timeout = TimeSpan.FromMilliseconds(500) });

        for (var i = 0; i < 3; i++)
        {
            var failed = await harness.AskAsync($"q{i}.example.org");
            Assert.Equal(DnsResponseCode.ServerFailure, failed.Code);
        }

        Assert.All(harness.Forwarder.GetUpstreamStatus(), s => Assert.False(s.Healthy));
        Assert.All(harness.Forwarder.GetUpstreamStatus(), s => Assert.Equal(3, s.ConsecutiveFailures));

        // With none up, every upstream is still asked, so recovery shows at once.
        first.Handler = r => Answers.A(r, 300, "192.0.2.40");
        var recovered = await harness.AskAsync("q3.example.org");

        Assert.Equal("192.0.2.40", Assert.Single(recovered.Answers).Data);
        var status = harness.Forwarder.GetUpstreamStatus();
        Assert.True(status[0].Healthy);
        Assert.Equal(0, status[0].ConsecutiveFailures);
        Assert.NotNull(status[0].LastRoundTrip);
        Assert.Equal(4, status[0].Queries);
    }

    [Fact]
    public async Task ResolveAsync_UpstreamDown_AskedAgainOnlyAfterRetryInterval()
    {
        var time = new FakeTimeProvider();
        await using var flaky = new FakeUpstream(r => Answers.Error(r, DnsResponseCode.Refused));
        await using var good = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([flaky.EndPoint, good.EndPoint], time, s => s with { DownRetryInterval = TimeSpan.FromSeconds(5) });

        // The good upstream may answer first: the refusal that follows still counts, a moment later.
        for (var i = 0; i < 3; i++)
        {
            await harness.AskAsync($"a{i}.example.org");
            var failures = i + 1;
            await Eventually.TrueAsync(() => harness.Forwarder.GetUpstreamStatus()[0].ConsecutiveFailures == failures);
        }

        Assert.False(harness.Forwarder.GetUpstreamStatus()[0].Healthy);
        await harness.AskAsync("b0.example.org");
        await harness.AskAsync("b1.example.org");
        Assert.Equal(3, harness.Forwarder.GetUpstreamStatus()[0].Queries);

        time.Advance(TimeSpan.FromSeconds(5));
        flaky.Handler = r => Answers.A(r);
        await harness.AskAsync("c0.example.org");
        await Eventually.TrueAsync(() => harness.Forwarder.GetUpstreamStatus()[0].Healthy);
        await harness.AskAsync("c1.example.org");

        await Eventually.TrueAsync(() => flaky.UdpQueries == 5);
        Assert.Equal(["c0.example.org", "c1.example.org"], flaky.Requests.Skip(3).Select(r => r.Name));
        await Eventually.TrueAsync(() => good.UdpQueries == 7);
    }

    [Fact]
    public async Task ResolveAsync_TruncatedUpstreamAnswer_TcToUdpClientFullAnswerOverTcp()
    {
        await using var upstream = new FakeUpstream(r => r.OverTcp ? Answers.Many(r, 100) : Answers.Truncated(r), tcp: true);
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var overUdp = await harness.AskAsync("big.example.org", id: 11);
        var overTcp = await harness.AskAsync("Big.Example.Org", id: 12, overTcp: true);
        var largeUdp = await harness.AskAsync("big.example.org", id: 13, payload: 4096, limit: 4096);

        Assert.True(overUdp.Header.Truncated);
        Assert.Equal((DnsResponseCode.NoError, (ushort)11, "big.example.org"), (overUdp.Code, overUdp.Header.Id, overUdp.QuestionName));
        Assert.DoesNotContain(overUdp.Message.Records, r => r.Type != DnsQueryParser.OptType);
        Assert.False(overTcp.Header.Truncated);
        Assert.Equal("Big.Example.Org", overTcp.QuestionName);
        Assert.Equal(100, overTcp.Answers.Count());
        Assert.InRange(overTcp.Bytes.Length, 1233, 65535);

        // A UDP client with room for it (a server that allows 4096 octets) gets it whole too.
        Assert.False(largeUdp.Header.Truncated);
        Assert.Equal(100, largeUdp.Answers.Count());

        // The first truncated answer was fetched over TCP once and cached.
        Assert.Equal((1, 1), (upstream.UdpQueries, upstream.TcpQueries));
    }

    [Fact]
    public async Task ResolveAsync_TruncatedAndTcpFails_TcToUdpClientServFailOverTcp()
    {
        await using var upstream = new FakeUpstream(r => Answers.Truncated(r), tcp: false);
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var overUdp = await harness.AskAsync("big.example.org");
        var overTcp = await harness.AskAsync("big.example.org", overTcp: true);

        Assert.True(overUdp.Header.Truncated);
        Assert.Equal(DnsResponseCode.ServerFailure, overTcp.Code);
        Assert.False(overTcp.Header.Truncated);
        Assert.Equal(1, harness.Counter("lashup.dns.forward.errors{reason=tcp}"));
    }

    [Fact]
    public async Task ResolveAsync_ManyDistinctQueriesInParallel_AllAnswered()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r, 300, $"10.1.{r.Name.Split('.')[0][1..]}.1"));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => harness.AskAsync($"h{i}.example.org", id: (ushort)i))));

        for (var i = 0; i < responses.Length; i++)
        {
            Assert.Equal((ushort)i, responses[i].Header.Id);
            Assert.Equal($"h{i}.example.org", responses[i].QuestionName);
            Assert.Equal($"10.1.{i}.1", Assert.Single(responses[i].Answers).Data);
        }

        Assert.Equal(200, upstream.UdpQueries);
        Assert.Equal(0, harness.Forwarder.InFlight);
    }

    [Fact]
    public async Task ResolveAsync_SameQuestionConcurrently_OneUpstreamQuery()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new FakeUpstream(r => Answers.A(r)) { HoldUntil = gate.Task };
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(15) });

        var asks = Enumerable.Range(0, 50).Select(i => harness.AskAsync(i % 2 == 0 ? "same.example.org" : "SAME.example.org", id: (ushort)i)).ToList();
        gate.SetResult();
        var responses = await Task.WhenAll(asks);

        Assert.Equal(1, upstream.UdpQueries);
        Assert.All(responses.Select((r, i) => (r, i)), x =>
        {
            Assert.Equal((ushort)x.i, x.r.Header.Id);
            Assert.Equal(x.i % 2 == 0 ? "same.example.org" : "SAME.example.org", x.r.QuestionName);
            Assert.Single(x.r.Answers);
        });
    }

    [Fact]
    public async Task ResolveAsync_TooManyInFlight_ServFailAtOnce()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = new FakeUpstream(r => Answers.A(r)) { HoldUntil = gate.Task };
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { MaxInFlight = 1, Timeout = TimeSpan.FromSeconds(15) });

        var waiting = harness.AskAsync("one.example.org");
        var refused = await harness.AskAsync("two.example.org");
        gate.SetResult();
        var answered = await waiting;

        Assert.Equal(DnsResponseCode.ServerFailure, refused.Code);
        Assert.Equal(1, harness.Counter("lashup.dns.forward.errors{reason=overload}"));
        Assert.Equal(DnsResponseCode.NoError, answered.Code);
    }

    [Fact]
    public async Task ResolveAsync_ClientCancels_OperationCanceled()
    {
        await using var silent = new FakeUpstream(_ => UpstreamReply.Silent);
        await using var harness = new ForwarderHarness([silent.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(15) });
        using var cancel = new CancellationTokenSource();

        var asking = harness.AskAsync("www.example.org", cancellationToken: cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => asking);
    }

    [Fact]
    public async Task DisposeAsync_QueryInFlight_AnsweredServFail()
    {
        await using var silent = new FakeUpstream(_ => UpstreamReply.Silent);
        var harness = new ForwarderHarness([silent.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(50) });

        var asking = harness.AskAsync("www.example.org");
        await harness.DisposeAsync();
        var response = await asking;

        Assert.Equal(DnsResponseCode.ServerFailure, response.Code);
        Assert.Equal(0, harness.Forwarder.InFlight);
    }

    [Fact]
    public async Task ResolveAsync_ZoneTransfer_RefusedWithoutUpstream()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint]);

        var response = await harness.AskAsync("example.org", (DnsRecordType)252, overTcp: true);

        Assert.Equal(DnsResponseCode.Refused, response.Code);
        Assert.Equal(0, upstream.UdpQueries);
    }

    [SkippableFact]
    public async Task ResolveAsync_Ipv4AndIpv6Upstreams_BothAskedBothFamiliesMatched()
    {
        Skip.IfNot(Socket.OSSupportsIPv6, "no IPv6 on this host");
        await using var v6 = new FakeUpstream(r => Answers.Error(r, DnsResponseCode.ServerFailure), address: IPAddress.IPv6Loopback);
        await using var v4 = new FakeUpstream(r => Answers.Error(r, DnsResponseCode.ServerFailure));

        // Both answer SERVFAIL, so the response only comes once both answers were matched to their queries.
        await using var harness = new ForwarderHarness([v6.EndPoint, v4.EndPoint], configure: s => s with { Timeout = TimeSpan.FromSeconds(50) });
        var failed = await harness.AskAsync("www.example.org");
        v6.Handler = r => Answers.A(r, 300, "2001:db8::1");
        var answered = await harness.AskAsync("www.example.org", DnsRecordType.AAAA);

        Assert.Equal(DnsResponseCode.ServerFailure, failed.Code);
        Assert.Equal(1, harness.Counter("lashup.dns.forward.errors{reason=upstream_error}"));
        Assert.Equal("2001:db8::1", Assert.Single(answered.Answers).Data);
        Assert.Contains(harness.Forwarder.LocalEndPoints, e => e.Address.Equals(IPAddress.IPv6Loopback));
        Assert.Contains(harness.Forwarder.LocalEndPoints, e => e.Address.Equals(IPAddress.Loopback));
    }

    [Fact]
    public async Task Start_LoopbackUpstreams_SocketsBoundToLoopback()
    {
        await using var upstream = new FakeUpstream(r => Answers.A(r));
        await using var harness = new ForwarderHarness([upstream.EndPoint], configure: s => s with { UdpSocketsPerFamily = 3 });

        Assert.Equal(3, harness.Forwarder.LocalEndPoints.Count);
        Assert.All(harness.Forwarder.LocalEndPoints, e => Assert.True(IPAddress.IsLoopback(e.Address) && e.Port != 0));
    }
}
