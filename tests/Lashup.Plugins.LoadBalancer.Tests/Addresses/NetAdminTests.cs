using Lashup.Plugins.LoadBalancer.Addresses;

namespace Lashup.Plugins.LoadBalancer.Tests.Addresses;

/// <summary>
/// The check that lets a non-root daemon with CAP_NET_ADMIN as an ambient capability (the package's systemd unit) add VIP
/// addresses to lo: the capability must be ambient, since only ambient capabilities pass to the <c>ip</c> it runs.
/// </summary>
public sealed class NetAdminTests
{
    [Theory]
    [InlineData("0000000000001000", true)]   // CAP_NET_ADMIN
    [InlineData("0000000000001400", true)]   // CAP_NET_ADMIN, CAP_NET_BIND_SERVICE (the unit's)
    [InlineData("0000000000000400", false)]  // CAP_NET_BIND_SERVICE only
    [InlineData("0000000000000000", false)]
    [InlineData("not hex", false)]
    public void FromStatus_CapAmbLine_NetAdminBit(string capAmb, bool expected)
    {
        string[] status = ["Name:\tlashup", "CapInh:\t0000000000001400", "CapPrm:\t0000000000001400", "CapEff:\t0000000000001400", "CapBnd:\t0000000000001400", $"CapAmb:\t{capAmb}"];

        Assert.Equal(expected, NetAdmin.FromStatus(status));
    }

    [Fact]
    public void FromStatus_NoCapAmbLine_Null() =>
        Assert.Null(NetAdmin.FromStatus(["Name:\tlashup", "CapEff:\t0000000000001000"]));

    [Fact]
    public void FromStatus_ThisProcess_HasTheLine() =>
        Assert.NotNull(NetAdmin.FromStatus(File.ReadLines("/proc/self/status")));

    [Fact]
    public void IpAddressTable_WithoutNetAdmin_UnavailableWithTheReason() =>
        Assert.Equal("it is not an address of this host, and adding it to lo needs root (CAP_NET_ADMIN)", new IpAddressTable(netAdmin: false).Unavailable);

    [SkippableFact]
    public void IpAddressTable_WithNetAdmin_Available()
    {
        Skip.If(Executables.Find("ip") is null, "needs ip (iproute2)");

        Assert.Null(new IpAddressTable(netAdmin: true).Unavailable);
    }
}
