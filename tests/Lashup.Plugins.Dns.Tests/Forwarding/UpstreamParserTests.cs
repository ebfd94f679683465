using System.Net;
using Lashup.Plugins.Dns.Forwarding;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

public sealed class UpstreamParserTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("lashup-resolv-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1:53")]
    [InlineData(" 10.0.0.1 ", "10.0.0.1:53")]
    [InlineData("127.0.0.1:5353", "127.0.0.1:5353")]
    [InlineData("127.0.0.53", "127.0.0.53:53")]
    [InlineData("[::1]:53", "[::1]:53")]
    [InlineData("[::1]:5300", "[::1]:5300")]
    [InlineData("[fd00::1]", "[fd00::1]:53")]
    [InlineData("fd00::1", "[fd00::1]:53")]
    [InlineData("2001:db8::53", "[2001:db8::53]:53")]
    [InlineData("::ffff:10.0.0.1", "10.0.0.1:53")]
    [InlineData("[::ffff:10.0.0.1]:54", "10.0.0.1:54")]
    public void TryParse_ValidAddress_Endpoint(string value, string expected)
    {
        Assert.True(UpstreamParser.TryParse([value], out var upstreams, out var error), error);
        Assert.Equal(IPEndPoint.Parse(expected), Assert.Single(upstreams));
    }

    [Theory]
    [InlineData("", "upstream \"\" is empty")]
    [InlineData("   ", "upstream \"\" is empty")]
    [InlineData("dns.google", "upstream \"dns.google\" is not an IP address")]
    [InlineData("dns.google:53", "upstream \"dns.google:53\" is not an IP address")]
    [InlineData("10", "upstream \"10\" is not an IP address")]
    [InlineData("1.2.3", "upstream \"1.2.3\" is not an IP address")]
    [InlineData("0x7f.0.0.1", "upstream \"0x7f.0.0.1\" is not an IP address")]
    [InlineData("10.0.0.1:0", "upstream \"10.0.0.1:0\" has a bad port")]
    [InlineData("10.0.0.1:65536", "upstream \"10.0.0.1:65536\" has a bad port")]
    [InlineData("10.0.0.1:dns", "upstream \"10.0.0.1:dns\" has a bad port")]
    [InlineData("10.0.0.1:", "upstream \"10.0.0.1:\" has a bad port")]
    [InlineData("[::1", "upstream \"[::1\" has no closing ']'")]
    [InlineData("[::1]:", "upstream \"[::1]:\" has a bad port after ']'")]
    [InlineData("[::1]53", "upstream \"[::1]53\" has a bad port after ']'")]
    [InlineData("[10.0.0.1]:53", "upstream \"[10.0.0.1]:53\" is not an IP address")]
    [InlineData("0.0.0.0", "upstream \"0.0.0.0\" is not a unicast address")]
    [InlineData("[::]:53", "upstream \"[::]:53\" is not a unicast address")]
    [InlineData("224.0.0.251", "upstream \"224.0.0.251\" is not a unicast address")]
    [InlineData("255.255.255.255", "upstream \"255.255.255.255\" is not a unicast address")]
    [InlineData("ff02::fb", "upstream \"ff02::fb\" is not a unicast address")]
    public void TryParse_BadValue_ErrorNamesIt(string value, string expected)
    {
        Assert.False(UpstreamParser.TryParse(["10.0.0.9", value], out _, out var error));
        Assert.StartsWith(expected, error);
    }

    [Theory]
    [InlineData("nameserver 10.0.0.2\nnameserver 127.0.0.53\n", "10.0.0.2:53,127.0.0.53:53")]
    [InlineData("# generated\n; nameserver 10.9.9.9\n# nameserver 10.8.8.8\nnameserver 10.0.0.3 # the router\n", "10.0.0.3:53")]
    [InlineData("search example.org\noptions ndots:5 edns0\nnameserver fd00::53\n", "[fd00::53]:53")]
    [InlineData("  nameserver\t10.0.0.4  \r\n", "10.0.0.4:53")]
    [InlineData("nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n", "10.0.0.1:53,10.0.0.2:53,10.0.0.3:53")]
    [InlineData("nameserver 10.0.0.1\nnameserver 10.0.0.1\n", "10.0.0.1:53")]
    [InlineData("nameservers 10.0.0.7\nnameserver 10.0.0.8\n", "10.0.0.8:53")]
    public void TryParse_System_NameserversOfResolvConf(string contents, string expected)
    {
        var path = Write(contents);

        Assert.True(UpstreamParser.TryParse(["system"], out var upstreams, out var error, path), error);
        Assert.Equal(expected.Split(',').Select(IPEndPoint.Parse), upstreams);
    }

    [Theory]
    [InlineData("search example.org\n", "lists no nameserver")]
    [InlineData("", "lists no nameserver")]
    [InlineData("# nameserver 10.0.0.1\n", "lists no nameserver")]
    [InlineData("nameserver 10.0.0.1\nnameserver dns.example\n", "line 2: \"dns.example\" is not a unicast IP address")]
    [InlineData("nameserver 10.0.0.1:53\n", "line 1: \"10.0.0.1:53\" is not a unicast IP address")]
    [InlineData("nameserver 0.0.0.0\n", "line 1: \"0.0.0.0\" is not a unicast IP address")]
    public void TryParse_SystemWithBadResolvConf_ErrorNamesFile(string contents, string expected)
    {
        var path = Write(contents);

        Assert.False(UpstreamParser.TryParse(["system"], out _, out var error, path));
        Assert.Equal($"upstream \"system\": {path} {expected}", error);
    }

    [Fact]
    public void TryParse_SystemWithoutResolvConf_ErrorNamesFile()
    {
        var path = Path.Combine(_directory, "missing.conf");

        Assert.False(UpstreamParser.TryParse(["System"], out _, out var error, path));
        Assert.StartsWith($"upstream \"system\": cannot read {path}: ", error);
    }

    [Fact]
    public void TryParse_SystemAndExplicit_InOrderWithoutDuplicates()
    {
        var path = Write("nameserver 10.0.0.2\nnameserver 10.0.0.3\n");

        Assert.True(UpstreamParser.TryParse(["10.0.0.3", "system", "127.0.0.1:5353", "10.0.0.2:53"], out var upstreams, out var error, path), error);
        Assert.Equal(["10.0.0.3:53", "10.0.0.2:53", "127.0.0.1:5353"], upstreams.Select(u => u.ToString()));
    }

    [Fact]
    public void TryParse_Nothing_EmptyList()
    {
        // The shipped default forwards nowhere: the server then answers REFUSED outside its zones.
        Assert.True(UpstreamParser.TryParse([], out var upstreams, out var error));
        Assert.Null(error);
        Assert.Empty(upstreams);
    }

    private string Write(string contents)
    {
        var path = Path.Combine(_directory, $"resolv-{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, contents);
        return path;
    }
}
