using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Protocol;

public class DnsNameTests
{
    [Theory]
    [InlineData("web.lashup.directory", new byte[] { 3, (byte)'w', (byte)'e', (byte)'b', 6, (byte)'l', (byte)'a', (byte)'s', (byte)'h', (byte)'u', (byte)'p', 9, (byte)'d', (byte)'i', (byte)'r', (byte)'e', (byte)'c', (byte)'t', (byte)'o', (byte)'r', (byte)'y', 0 })]
    [InlineData("a", new byte[] { 1, (byte)'a', 0 })]
    [InlineData("a.", new byte[] { 1, (byte)'a', 0 })]
    [InlineData("", new byte[] { 0 })]
    [InlineData(".", new byte[] { 0 })]
    [InlineData(@"a\.b.c", new byte[] { 3, (byte)'a', (byte)'.', (byte)'b', 1, (byte)'c', 0 })]
    [InlineData(@"a\\", new byte[] { 2, (byte)'a', (byte)'\\', 0 })]
    [InlineData(@"\000\255", new byte[] { 2, 0, 255, 0 })]
    [InlineData("_8080._tcp.web", new byte[] { 5, (byte)'_', (byte)'8', (byte)'0', (byte)'8', (byte)'0', 4, (byte)'_', (byte)'t', (byte)'c', (byte)'p', 3, (byte)'w', (byte)'e', (byte)'b', 0 })]
    public void TryFromText_ValidName_WritesWireForm(string text, byte[] expected)
    {
        var buffer = new byte[255];

        Assert.True(DnsName.TryFromText(text, buffer, out var written));

        Assert.Equal(expected, buffer[..written]);
    }

    [Theory]
    [InlineData("a..b")]
    [InlineData(".a")]
    [InlineData("..")]
    [InlineData("é.example")]
    [InlineData(@"a\")]
    [InlineData(@"a\25")]
    [InlineData(@"a\256")]
    [InlineData(@"a\1x1")]
    public void TryFromText_InvalidText_ReturnsFalse(string text)
    {
        Assert.False(DnsName.TryFromText(text, new byte[255], out _));
    }

    [Fact]
    public void TryFromText_LabelOf63_Accepted_LabelOf64_Refused()
    {
        Assert.True(DnsName.TryFromText(new string('a', 63) + ".x", new byte[255], out var written));
        Assert.Equal(67, written);
        Assert.False(DnsName.TryFromText(new string('a', 64) + ".x", new byte[255], out _));
        Assert.False(DnsName.TryFromText("x." + new string('a', 64), new byte[255], out _));
    }

    [Fact]
    public void TryFromText_NameOf255_Accepted_NameOf256_Refused()
    {
        // Four labels of 63 (4 * 64 = 256 octets) is one too many; three of 63 and one of 61 make 255 with the root.
        var longest = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 61));
        var tooLong = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 62));

        Assert.True(DnsName.TryFromText(longest, new byte[300], out var written));
        Assert.Equal(255, written);
        Assert.False(DnsName.TryFromText(tooLong, new byte[300], out _));
        Assert.False(DnsName.TryFromText(tooLong + ".", new byte[300], out _));
    }

    [Fact]
    public void TryFromText_DestinationTooSmall_ReturnsFalse()
    {
        Assert.False(DnsName.TryFromText("abc.def", new byte[8], out _));
        Assert.True(DnsName.TryFromText("abc.def", new byte[9], out _));
        Assert.False(DnsName.TryFromText("abc.", new byte[4], out _));
        Assert.True(DnsName.TryFromText("abc.", new byte[5], out _));
        Assert.False(DnsName.TryFromText(string.Empty, [], out _));
    }

    [Theory]
    [InlineData("web.lashup.directory")]
    [InlineData(@"a\.b.c")]
    [InlineData(@"sp\032ace.\\.x")]
    [InlineData(@"\000\255\127")]
    [InlineData(".")]
    public void ToText_WireName_RoundTripsThroughFromText(string text)
    {
        var wire = DnsName.FromText(text);

        Assert.Equal(text, DnsName.ToText(wire));
    }

    [Fact]
    public void ToText_InvalidWireName_Throws_TryToTextReturnsFalse()
    {
        Assert.Throws<ArgumentException>(() => DnsName.ToText([3, (byte)'a']));
        Assert.False(DnsName.TryToText([1, (byte)'a', 0, 0], new char[10], out _));
        Assert.False(DnsName.TryToText([0xC0, 0x0C], new char[10], out _));
        Assert.False(DnsName.TryToText([3, (byte)'a', (byte)'b', (byte)'c', 0], new char[2], out _));
    }

    [Fact]
    public void EqualsIgnoreCase_Wire_FoldsAsciiOnly()
    {
        Assert.True(DnsName.EqualsIgnoreCase(DnsName.FromText("Web.LASHUP.directory"), DnsName.FromText("web.lashup.DIRECTORY")));
        Assert.False(DnsName.EqualsIgnoreCase(DnsName.FromText("web.lashup"), DnsName.FromText("web.lashup.directory")));

        // RFC 4343: octets outside ASCII compare exactly (0xC9 is 'É' in Latin-1, 0xE9 'é').
        Assert.False(DnsName.EqualsIgnoreCase([1, 0xC9, 0], [1, 0xE9, 0]));

        // '@' (0x40) and '`' (0x60) differ only in bit 0x20 but are not letters.
        Assert.False(DnsName.EqualsIgnoreCase([1, (byte)'@', 0], [1, (byte)'`', 0]));
    }

    [Theory]
    [InlineData("web.lashup.directory", "WEB.Lashup.Directory.", true)]
    [InlineData("a.b", "a.b.", true)]
    [InlineData("a.b", "a.c", false)]
    [InlineData("[", "{", false)]
    public void EqualsIgnoreCase_Text_IgnoresCaseAndTrailingDot(string left, string right, bool expected)
    {
        Assert.Equal(expected, DnsName.EqualsIgnoreCase(left.AsSpan(), right.AsSpan()));
    }

    [Theory]
    [InlineData("Web.Lashup.Directory.", "web.lashup.directory")]
    [InlineData("web.lashup.directory", "web.lashup.directory")]
    [InlineData(".", ".")]
    [InlineData("ÉCOLE.fr", "École.fr")]
    [InlineData(@"a\.", @"a\.")]
    public void Normalize_Name_LowerCaseAsciiWithoutTrailingDot(string name, string expected)
    {
        Assert.Equal(expected, DnsName.Normalize(name));
    }

    [Fact]
    public void Normalize_CanonicalName_ReturnsSameInstance()
    {
        var name = "web.lashup.directory";

        Assert.Same(name, DnsName.Normalize(name));
    }

    [Fact]
    public void GetHashCode_DifferentCase_SameHash()
    {
        var upper = DnsName.FromText("WEB." + new string('X', 63) + ".Lashup.Directory");
        var lower = DnsName.FromText("web." + new string('x', 63) + ".lashup.directory");

        Assert.Equal(DnsName.GetHashCode(lower), DnsName.GetHashCode(upper));
        Assert.NotEqual(DnsName.GetHashCode(lower), DnsName.GetHashCode(DnsName.FromText("web.lashup.directory")));
    }

    [Theory]
    [InlineData("web.lashup.directory", "lashup.directory", true)]
    [InlineData("lashup.directory", "lashup.directory", true)]
    [InlineData("web.LASHUP.directory", "lashup.DIRECTORY", true)]
    [InlineData("weblashup.directory", "lashup.directory", false)]
    [InlineData("directory", "lashup.directory", false)]
    [InlineData("anything", ".", true)]
    public void IsSubdomainOf_Names_OnLabelBoundaries(string name, string zone, bool expected)
    {
        Assert.Equal(expected, DnsName.IsSubdomainOf(DnsName.FromText(name), DnsName.FromText(zone)));
    }

    [Fact]
    public void CountLabels_Names_CountsWithoutRoot()
    {
        Assert.Equal(0, DnsName.CountLabels(DnsName.Root));
        Assert.Equal(3, DnsName.CountLabels(DnsName.FromText("web.lashup.directory")));
    }

    [Fact]
    public void FromText_Invalid_Throws()
    {
        Assert.Throws<ArgumentException>(() => DnsName.FromText("a..b"));
    }
}
