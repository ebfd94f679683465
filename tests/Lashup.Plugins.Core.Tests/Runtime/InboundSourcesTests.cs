using System.Net;
using Lashup.Plugins.Core.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace Lashup.Plugins.Core.Tests.Runtime;

/// <summary>
/// The per-source caps of inbound connections, on a fake clock: which connection makes room at a cap (only one that is
/// stuck), who waits for a turn and who is refused. The transport's tests drive the same rules over real sockets.
/// </summary>
public sealed class InboundSourcesTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly IPEndPoint Host = new(IPAddress.Parse("192.0.2.10"), 40000);
    private readonly FakeTimeProvider _time = new();
    private readonly List<ConnectionDeadline> _deadlines = [];

    private static StreamLimits Limits => StreamLimits.For(1024 * 1024) with
    {
        MaxUnauthenticatedPerSource = 2,
        MaxConnectionsPerSource = 4,
        EvictAfter = TimeSpan.FromSeconds(1),
    };

    public void Dispose()
    {
        foreach (var deadline in _deadlines)
        {
            deadline.Dispose();
        }
    }

    [Fact]
    public void TryEnter_AtTheUnauthenticatedCap_ConnectionsThatAreMovingStayAndTheNewcomerWaits()
    {
        // A burst of real peers from one host: connections that just connected, or whose frames are arriving, used to be
        // closed for the newcomer (the source's oldest unauthenticated one went, whatever it was doing).
        var sources = new InboundSources(Limits, _time);
        var a = Enter(sources)!;
        var b = Enter(sources)!;
        _time.Advance(TimeSpan.FromMilliseconds(900));
        sources.Progressed(a);
        _time.Advance(TimeSpan.FromMilliseconds(900));
        sources.Progressed(b);

        var c = Enter(sources)!;

        Assert.False(a.Evicted);
        Assert.False(b.Evicted);
        Assert.False(a.Queued);
        Assert.True(c.Queued);
        Assert.False(a.Deadline.Token.IsCancellationRequested);
    }

    [Fact]
    public void TryEnter_AtTheUnauthenticatedCap_TheConnectionStuckLongestMakesRoom()
    {
        // Stuck: nothing received for EvictAfter, whether it sent no header since it connected (a) or stopped in the
        // middle of its frame (b, stuck for less long).
        var sources = new InboundSources(Limits, _time);
        var a = Enter(sources)!;
        var b = Enter(sources)!;
        _time.Advance(TimeSpan.FromMilliseconds(500));
        sources.Progressed(b);
        _time.Advance(TimeSpan.FromMilliseconds(1600));

        var c = Enter(sources)!;
        var d = Enter(sources)!;

        Assert.True(a.Evicted);
        Assert.True(a.Deadline.Token.IsCancellationRequested);
        Assert.False(c.Queued);
        Assert.True(b.Evicted);
        Assert.False(d.Queued);
    }

    [Fact]
    public async Task WaitForTurn_NoConnectionAuthenticatesButOneGetsStuck_ItMakesRoomForTheLongestWaiting()
    {
        var sources = new InboundSources(Limits, _time);
        var a = Enter(sources)!;
        var b = Enter(sources)!;
        var c = Enter(sources)!;
        var d = Enter(sources)!;
        var waitingC = sources.WaitForTurnAsync(c, CancellationToken.None).AsTask();
        var waitingD = sources.WaitForTurnAsync(d, CancellationToken.None).AsTask();

        // b keeps receiving; a says nothing. After EvictAfter the waiting connections look again: a is closed, and its
        // place goes to c, which came first.
        var until = DateTime.UtcNow + Timeout;
        while (!waitingC.IsCompleted && DateTime.UtcNow < until)
        {
            _time.Advance(TimeSpan.FromMilliseconds(200));
            sources.Progressed(b);
            await Task.WhenAny(waitingC, Task.Delay(20));
        }

        await waitingC.WaitAsync(Timeout);
        Assert.True(a.Evicted);
        Assert.False(b.Evicted);
        Assert.True(d.Queued);
        Assert.False(waitingD.IsCompleted);

        // A connection that authenticates leaves room too.
        sources.Authenticated(b);
        await waitingD.WaitAsync(Timeout);
        Assert.False(b.Evicted);
    }

    [Fact]
    public async Task Authenticated_TheSourceHadConnectionsWaiting_TheyGetTheirTurnsInOrder()
    {
        var sources = new InboundSources(Limits, _time);
        var a = Enter(sources)!;
        var b = Enter(sources)!;
        var c = Enter(sources)!;
        var d = Enter(sources)!;

        sources.Authenticated(a);

        await sources.WaitForTurnAsync(c, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.True(d.Queued);
        sources.Leave(b);
        await sources.WaitForTurnAsync(d, CancellationToken.None).AsTask().WaitAsync(Timeout);
    }

    [Fact]
    public void TryEnter_AtTheCapOfAllConnectionsWithNoneStuck_Refused()
    {
        // Four connections in all, two reading, two waiting: a fifth cannot even wait.
        var sources = new InboundSources(Limits, _time);
        var all = Enumerable.Range(0, 4).Select(_ => Enter(sources)).ToList();

        Assert.Null(Enter(sources));
        Assert.All(all, c => Assert.False(c!.Evicted));

        // Once one is stuck, it makes room even at that cap.
        _time.Advance(TimeSpan.FromSeconds(2));
        sources.Progressed(all[1]!);
        Assert.NotNull(Enter(sources));
        Assert.True(all[0]!.Evicted);
    }

    [Fact]
    public void Leave_EveryKindOfConnection_TheSourceIsForgotten()
    {
        var sources = new InboundSources(Limits, _time);
        var all = Enumerable.Range(0, 4).Select(_ => Enter(sources)!).ToList();
        sources.Authenticated(all[0]);
        _time.Advance(TimeSpan.FromSeconds(2));
        var newcomer = Enter(sources)!;
        all.Add(newcomer);
        Assert.Contains(all, c => c.Evicted);

        foreach (var connection in all)
        {
            sources.Leave(connection);
        }

        Assert.Equal(0, sources.Count);
    }

    [Fact]
    public void TryEnter_IPv6SourcesOfOneSlash64_ShareTheCapsAndAnotherSlash64DoesNot()
    {
        // One host is commonly given a whole /64, so an attacker holds every address in it.
        var sources = new InboundSources(Limits, _time);
        foreach (var address in new[] { "2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::c" })
        {
            Assert.NotNull(Enter(sources, At(address)));
        }

        Assert.Null(Enter(sources, At("2001:db8:1:2::d")));
        Assert.NotNull(Enter(sources, At("2001:db8:1:3::a")));
        Assert.Equal(2, sources.Count);
    }

    [Fact]
    public void TryEnter_IPv4MappedSource_CountsAsItsIPv4Address()
    {
        var sources = new InboundSources(Limits, _time);
        Enter(sources, At("192.0.2.7"));
        Enter(sources, At("::ffff:192.0.2.7"));
        Enter(sources, At("192.0.2.7"));
        Enter(sources, At("::ffff:192.0.2.7"));

        Assert.Null(Enter(sources, At("::ffff:192.0.2.7")));
        Assert.Equal(1, sources.Count);
    }

    [Fact]
    public void TryEnter_AMembersAddress_NotHeldToTheCapsPerSourceAndCountedApartFromItsSlash64()
    {
        // Members behind one address (a loopback cluster, containers, a NAT) are a deployment, not an attack. The member's
        // exact address is counted apart: strangers in its /64 can neither use its room nor take it.
        var sources = new InboundSources(Limits, _time);
        sources.SetMembers([IPAddress.Parse("2001:db8:1:2::10"), IPAddress.Parse("192.0.2.20")]);
        var strangers = Enumerable.Range(1, 4).Select(i => Enter(sources, At($"2001:db8:1:2::{i}"))).ToList();
        Assert.All(strangers, Assert.NotNull);
        Assert.Null(Enter(sources, At("2001:db8:1:2::5")));

        var members = Enumerable.Range(0, 40).Select(_ => Enter(sources, At("2001:db8:1:2::10"))!).ToList();
        members.AddRange(Enumerable.Range(0, 40).Select(_ => Enter(sources, At("::ffff:192.0.2.20"))!));

        Assert.All(members, m => Assert.False(m.Queued));
        Assert.All(members, m => Assert.Null(m.UnauthenticatedShare));
        Assert.All(members, m => Assert.Null(m.AuthenticatedShare));
        Assert.NotNull(strangers[0]!.UnauthenticatedShare);
        Assert.Null(Enter(sources, At("2001:db8:1:2::5")));
        Assert.True(sources.IsMember(IPAddress.Parse("::ffff:192.0.2.20")));
        Assert.False(sources.IsMember(IPAddress.Parse("2001:db8:1:2::11")));

        // No longer a member (it left, or failed): new connections from it are a stranger's again.
        sources.SetMembers([]);
        var again = Enumerable.Range(0, 4).Select(_ => Enter(sources, At("192.0.2.20"))).ToList();
        Assert.Null(Enter(sources, At("192.0.2.20")));
        foreach (var connection in members.Concat(strangers).Concat(again))
        {
            sources.Leave(connection!);
        }

        Assert.Equal(0, sources.Count);
    }

    [Fact]
    public void Authenticated_TheConnectionStillCountsAgainstItsSource()
    {
        // A frame that opens is no proof of a key holder (a captured sealed frame can be replayed on any number of
        // connections), so an authenticated connection keeps counting against its address's cap and budget share.
        var sources = new InboundSources(Limits, _time);
        var all = Enumerable.Range(0, 4).Select(_ => Enter(sources)!).ToList();
        foreach (var connection in all)
        {
            sources.Authenticated(connection);
        }

        var fifth = Enter(sources);

        Assert.Null(fifth);
        Assert.All(all, c => Assert.NotNull(c.AuthenticatedShare));
        foreach (var connection in all)
        {
            sources.Leave(connection);
        }

        Assert.Equal(0, sources.Count);
    }

    private static IPEndPoint At(string address) => new(IPAddress.Parse(address), 40000);

    private InboundSources.Inbound? Enter(InboundSources sources, IPEndPoint? from = null)
    {
        var deadline = new ConnectionDeadline(_time, CancellationToken.None);
        _deadlines.Add(deadline);
        return sources.TryEnter(from ?? Host, deadline);
    }
}
