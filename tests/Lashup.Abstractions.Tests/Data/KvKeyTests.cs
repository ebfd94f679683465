using Lashup.Abstractions.Data;

namespace Lashup.Abstractions.Tests.Data;

public sealed class KvKeyTests
{
    public static TheoryData<string?, string> InvalidKeys => new()
    {
        { null, "a key must not be empty" },
        { "", "a key must not be empty" },
        { "/lb/vips", "key \"/lb/vips\" has an empty segment at index 0" },
        { "lb/vips/", "key \"lb/vips/\" has an empty segment at index 8" },
        { "lb//vips", "key \"lb//vips\" has an empty segment at index 3" },
        { "/", "key \"/\" has an empty segment at index 0" },
        { "lb/vi\nps", "key \"lb/vi\\u000Aps\" has the control character U+000A at index 5" },
        { "lb\u0000", "key \"lb\\u0000\" has the control character U+0000 at index 2" },
        { "lb/\u007f", "key \"lb/\\u007F\" has the control character U+007F at index 3" },
        { "lb/\u0085", "key \"lb/\\u0085\" has the control character U+0085 at index 3" },
        { new string('a', 513), "is 513 bytes in UTF-8; the limit is 512" },
        { new string('é', 257), "is 514 bytes in UTF-8; the limit is 512" },
    };

    [Theory]
    [MemberData(nameof(InvalidKeys))]
    public void TryParse_InvalidKey_FailsWithReason(string? text, string expectedError)
    {
        Assert.False(KvKey.TryParse(text, out var key, out var error));
        Assert.Null(key);
        Assert.Contains(expectedError, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_LoneSurrogate_FailsWithReason()
    {
        // Not a theory: xUnit's serialization of theory data would turn lone surrogates into U+FFFD.
        Assert.False(KvKey.TryParse("lb/\ud800x", out _, out var high));
        Assert.False(KvKey.TryParse("lb/x\udc00", out _, out var low));
        Assert.False(KvKey.TryParse("\udc00\ud800", out _, out var reversed));

        Assert.Equal("key \"lb/\\uD800x\" has a lone surrogate U+D800 at index 3 (not valid Unicode)", high);
        Assert.Equal("key \"lb/x\\uDC00\" has a lone surrogate U+DC00 at index 4 (not valid Unicode)", low);
        Assert.StartsWith("key \"\\uDC00\\uD800\" has a lone surrogate U+DC00 at index 0", reversed, StringComparison.Ordinal);
        Assert.True(KvKey.TryParse("lb/\ud83d\ude00", out _, out _));
    }

    [Theory]
    [InlineData("lb", new[] { "lb" })]
    [InlineData("lb/vips/web:80", new[] { "lb", "vips", "web:80" })]
    [InlineData("dns/zones/lashup.directory", new[] { "dns", "zones", "lashup.directory" })]
    [InlineData("ü/名前/😀", new[] { "ü", "名前", "😀" })]
    [InlineData("a b/ c ", new[] { "a b", " c " })]
    public void Parse_ValidKey_SplitsSegments(string text, string[] segments)
    {
        var key = KvKey.Parse(text);

        Assert.Equal(text, key.Value);
        Assert.Equal(segments, key.Segments);
        Assert.False(key.IsRoot);
    }

    [Fact]
    public void Parse_ExactlyMaxBytes_IsValid()
    {
        Assert.Equal(512, KvKey.Parse(new string('a', 512)).Value.Length);
        Assert.Equal(256, KvKey.Parse(new string('é', 256)).Value.Length);
    }

    [Fact]
    public void Parse_InvalidKey_ThrowsFormatExceptionWithReason()
    {
        var e = Assert.Throws<FormatException>(() => KvKey.Parse("lb//x"));

        Assert.StartsWith("key \"lb//x\" has an empty segment", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("lb/vips/web:80", "lb/vips", true)]
    [InlineData("lb/vips/web:80", "lb/vips/web:80", true)]
    [InlineData("lb/vips/web:80", "lb", true)]
    [InlineData("lb/vipsx", "lb/vips", false)]
    [InlineData("lb/vips", "lb/vips/web:80", false)]
    [InlineData("dns/x", "lb", false)]
    public void StartsWith_Prefix_MatchesWholeSegments(string key, string prefix, bool expected) =>
        Assert.Equal(expected, KvKey.Parse(key).StartsWith(KvKey.Parse(prefix)));

    [Fact]
    public void StartsWith_Root_IsTrueForEveryKey()
    {
        Assert.True(KvKey.Parse("lb").StartsWith(KvKey.Root));
        Assert.True(KvKey.Root.IsRoot);
        Assert.Equal("", KvKey.Root.Value);
    }

    [Fact]
    public void CompareTo_Keys_OrdinalBySegmentWithDescendantsAfterTheirAncestor()
    {
        var keys = new[] { "lb/vips-x", "lb/vips/b", "lb/vips", "lb/Vips", "lb/vips/a/z", "dns" }.Select(KvKey.Parse).ToList();

        keys.Sort();

        Assert.Equal(["dns", "lb/Vips", "lb/vips", "lb/vips/a/z", "lb/vips/b", "lb/vips-x"], keys.Select(k => k.Value));
        Assert.True(KvKey.Root < KvKey.Parse("a"));
    }

    [Fact]
    public void Child_Segment_AppendsOrRejectsSlash()
    {
        Assert.Equal(KvKey.Parse("lb/vips"), KvKey.Parse("lb").Child("vips"));
        Assert.Equal(KvKey.Parse("lb"), KvKey.Root.Child("lb"));
        Assert.Throws<FormatException>(() => KvKey.Parse("lb").Child("a/b"));
        Assert.Throws<FormatException>(() => KvKey.Parse("lb").Child(""));
    }
}
