namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests;

public sealed class IpvsOptionsValidatorTests
{
    [Theory]
    [InlineData("wlc")]
    [InlineData("rr")]
    [InlineData("mh")]
    [InlineData("twos")]
    public void Validate_KernelScheduler_Succeeds(string scheduler) =>
        Assert.True(new IpvsOptionsValidator().Validate(null, new IpvsOptions { Scheduler = scheduler }).Succeeded);

    [Theory]
    [InlineData("bogus")]
    [InlineData("WLC")]
    [InlineData("")]
    public void Validate_Other_FailsNamingKeyAndChoices(string scheduler)
    {
        var result = new IpvsOptionsValidator().Validate(null, new IpvsOptions { Scheduler = scheduler });

        Assert.Equal(
            $"loadbalancer.ipvs.scheduler: expected one of the kernel's IPVS schedulers (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos), got \"{scheduler}\"",
            Assert.Single(result.Failures!));
    }

    [Fact]
    public void Defaults_Wlc() => Assert.Equal("wlc", new IpvsOptions().Scheduler);
}
