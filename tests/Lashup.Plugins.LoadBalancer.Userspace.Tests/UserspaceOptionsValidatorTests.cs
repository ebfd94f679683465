namespace Lashup.Plugins.LoadBalancer.Userspace.Tests;

/// <summary>
/// <c>[loadbalancer.userspace]</c> checks beyond the <c>[Range]</c> attributes (which the host checks with file:line; see
/// the host's ConfigCheckTests): the listen address. Each failure names its key.
/// </summary>
public sealed class UserspaceOptionsValidatorTests
{
    [Fact]
    public void Defaults_Valid() => Assert.True(new UserspaceOptionsValidator().Validate(null, new UserspaceOptions()).Succeeded);

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("web", false)]
    [InlineData("192.0.2.1", false)] // documentation range: not this host's
    public void ListenAddress_OneAddressOfThisHost(string address, bool valid)
    {
        var result = new UserspaceOptionsValidator().Validate(null, new UserspaceOptions { ListenAddress = address });

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("loadbalancer.userspace.listen_address:", result.FailureMessage, StringComparison.Ordinal);
        }
    }
}
