using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Lashup.Plugins.Dns.Tests.Support.Packets;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

public sealed class ForwarderCacheTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void TryGet_BeforeAndAfterTtl_HitThenMiss()
    {
        var cache = new ForwarderCache(10, 1 << 20, _time);
        cache.Set(Key("a"), Answer("a", ttl: 30));

        _time.Advance(TimeSpan.FromSeconds(29.9));
        Assert.True(cache.TryGet(View("a"), out _, out var elapsed));
        Assert.Equal(29u, elapsed);
        _time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.False(cache.TryGet(View("a"), out _, out _));
    }

    [Fact]
    public void TryGet_OtherFlagsOrType_Miss()
    {
        var cache = new ForwarderCache(10, 1 << 20, _time);
        cache.Set(Key("a"), Answer("a", ttl: 30));

        Assert.True(cache.TryGet(View("a"), out _, out _));
        Assert.False(cache.TryGet(View("a", flags: CacheKey.DnssecOkFlag), out _, out _));
        Assert.False(cache.TryGet(View("a", DnsRecordType.AAAA), out _, out _));
        Assert.False(cache.TryGet(View("b"), out _, out _));
    }

    [Fact]
    public void Set_Full_EvictsAnEntryNotReadSinceTheHandPassed()
    {
        var cache = new ForwarderCache(3, 1 << 20, _time);
        foreach (var name in new[] { "a", "b", "c" })
        {
            cache.Set(Key(name), Answer(name, 60));
        }

        Assert.True(cache.TryGet(View("a"), out _, out _));
        Assert.True(cache.TryGet(View("c"), out _, out _));
        cache.Set(Key("d"), Answer("d", 60));

        Assert.Equal(3, cache.Count);
        Assert.Equal(["a", "c", "d"], new[] { "a", "b", "c", "d" }.Where(n => cache.TryGet(View(n), out _, out _)));
        Assert.Equal(1, cache.Evictions);
    }

    [Fact]
    public void Set_ExpiredEntries_MakeRoomBeforeLiveOnes()
    {
        var cache = new ForwarderCache(2, 1 << 20, _time);
        cache.Set(Key("short"), Answer("short", 5));
        cache.Set(Key("long"), Answer("long", 500));
        _time.Advance(TimeSpan.FromSeconds(10));

        cache.Set(Key("new"), Answer("new", 500));

        Assert.True(cache.TryGet(View("long"), out _, out _));
        Assert.True(cache.TryGet(View("new"), out _, out _));
        Assert.Equal(0, cache.Evictions);
    }

    [Fact]
    public void Set_OverByteBound_EvictsUntilItFits()
    {
        var size = Answer("a", 60).Length;
        var cache = new ForwarderCache(100, (3 * size) + 1, _time);
        foreach (var name in new[] { "a", "b", "c", "d", "e" })
        {
            cache.Set(Key(name), Answer(name, 60));
        }

        Assert.Equal(3, cache.Count);
        Assert.InRange(cache.Bytes, 0, (3 * size) + 1);
    }

    [Fact]
    public void Set_SameKey_ReplacesInPlace()
    {
        var cache = new ForwarderCache(2, 1 << 20, _time);
        cache.Set(Key("a"), Answer("a", 60));
        cache.Set(Key("a"), Answer("a", 120));

        _time.Advance(TimeSpan.FromSeconds(90));

        Assert.True(cache.TryGet(View("a"), out var answer, out _));
        Assert.Equal(120u, answer.CacheTtl);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Clear_Filled_EmptyAndUsable()
    {
        var cache = new ForwarderCache(2, 1 << 20, _time);
        cache.Set(Key("a"), Answer("a", 60));
        cache.Set(Key("b"), Answer("b", 60));

        cache.Clear();
        cache.Set(Key("c"), Answer("c", 60));

        Assert.False(cache.TryGet(View("a"), out _, out _));
        Assert.True(cache.TryGet(View("c"), out _, out _));
        Assert.Equal((1, (long)Answer("c", 60).Length), (cache.Count, cache.Bytes));
    }

    [Fact]
    public void Set_ManyThreads_BoundsHold()
    {
        var cache = new ForwarderCache(64, 1 << 20, _time);
        Parallel.For(0, 4000, i =>
        {
            var name = $"n{i % 300}";
            if (!cache.TryGet(View(name), out _, out _))
            {
                cache.Set(Key(name), Answer(name, 60));
            }
        });

        Assert.InRange(cache.Count, 1, 64);
        Assert.Equal(cache.Count, Enumerable.Range(0, 300).Count(i => cache.TryGet(View($"n{i}"), out _, out _)));
    }

    private static CacheKeyView View(string label, DnsRecordType type = DnsRecordType.A, byte flags = 0)
    {
        var name = Name($"{label}.example.org");
        return new CacheKeyView(name, DnsName.GetHashCode(name), type, 1, flags);
    }

    private static CacheKey Key(string label) => CacheKey.From(View(label));

    private static ForwardedAnswer Answer(string label, uint ttl)
    {
        var message = Concat(Header(1, 0x8180, an: 1), Name($"{label}.example.org"), TypeClass(), [0xC0, 12], TypeClass(), U32(ttl), U16(4), [192, 0, 2, 1]);
        Assert.Equal(
            UpstreamVerdict.Answer,
            UpstreamResponse.Inspect(message, 1, Name($"{label}.example.org"), DnsRecordType.A, 1, new AnswerLimits(86400, 300), build: true, out var answer));
        return answer!;
    }
}
