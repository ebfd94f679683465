namespace Lashup.Plugins.Overlay.Tests;

public sealed class OverlayOptionsValidatorTests
{
    private static IReadOnlyList<string> Errors(OverlayOptions options) =>
        new OverlayOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];

    [Fact]
    public void TheDefaults_AreValid() => Assert.Empty(Errors(new OverlayOptions { NamedVipRange = "10.200.0.0/16" }));

    [Theory]
    [InlineData("10.240.0.0", "overlay.range: expected an IPv4 range in CIDR form such as \"10.240.0.0/16\", got \"10.240.0.0\"")]
    [InlineData("10.240.0.1/16", "overlay.range: \"10.240.0.1/16\" is not a network address; did you mean \"10.240.0.0/16\"?")]
    [InlineData("fd00::/48", "overlay.range: \"fd00::/48\" is not IPv4: the overlay hands out IPv4 subnets")]
    [InlineData("10.0.0.0/4", "overlay.range: \"10.0.0.0/4\" is not a network address; did you mean \"0.0.0.0/4\"?")]
    [InlineData("10.240.0.0/29", "overlay.range: \"10.240.0.0/29\" must be /8 to /28 (room for at least two subnets)")]
    [InlineData("224.0.0.0/8", "overlay.range: \"224.0.0.0/8\" is not a range of unicast addresses")]
    public void ABadRange_IsNamed(string range, string error) => Assert.Equal([error], Errors(new OverlayOptions { Range = range }));

    [Fact]
    public void APrefixThatDoesNotFit_OverlapWithNamedVips_AndABadUnderlay_AreNamed()
    {
        Assert.Equal(["overlay.subnet_prefix: /16 does not fit in range 10.240.0.0/16: it must be longer than /16 (e.g. /24)"], Errors(new OverlayOptions { SubnetPrefix = 16 }));
        Assert.Equal(["overlay.range: 10.0.0.0/8 overlaps the load balancer's named_vip_range 10.200.0.0/16; containers and named VIPs need addresses apart"], Errors(new OverlayOptions { Range = "10.0.0.0/8", NamedVipRange = "10.200.0.0/16" }));
        Assert.Equal(["overlay.underlay_address: expected this host's address on the network between the nodes (e.g. \"192.168.1.10\"), got \"0.0.0.0\""], Errors(new OverlayOptions { UnderlayAddress = "0.0.0.0" }));
        Assert.Equal(["overlay.underlay_address: 10.240.3.4 is inside the overlay range 10.240.0.0/16; the underlay must be the network between the hosts"], Errors(new OverlayOptions { UnderlayAddress = "10.240.3.4" }));
    }
}
