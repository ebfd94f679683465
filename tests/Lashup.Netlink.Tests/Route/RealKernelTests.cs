using System.Net;
using System.Net.NetworkInformation;
using Lashup.Host.Tests.Support;
using Lashup.Netlink.Route;
using Xunit.Abstractions;

namespace Lashup.Netlink.Tests.Route;

/// <summary>
/// The client against this machine's kernel, inside a network namespace the test creates and deletes (the host's
/// links and routes are never touched): a VXLAN device with its alias, the VTEP address, a permanent neighbour, an FDB
/// entry and onlink routes with our protocol, each dumped and compared with what was written and with what
/// <c>ip</c>/<c>bridge</c> print; then replaced, refused (the kernel's extended-ack text), and deleted. Root only (on
/// CI it always runs); elsewhere skipped.
/// </summary>
public sealed class RealKernelTests(ITestOutputHelper output)
{
    private const byte Protocol = 0x4c;
    private static readonly PhysicalAddress OwnMac = PhysicalAddress.Parse("02-4C-00-00-00-01");
    private static readonly PhysicalAddress PeerMac = PhysicalAddress.Parse("02-4C-00-00-00-02");
    private static readonly PhysicalAddress OtherMac = PhysicalAddress.Parse("02-4C-00-00-00-03");

    [SkippableFact]
    public async Task RealKernel_InOwnNamespace_VxlanAddressNeighbourFdbRoutesRoundTrip()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "rtnetlink is Linux only");
        Skip.If(!TestEnvironment.IsCi && !Environment.IsPrivilegedProcess, "needs root (a network namespace of its own); runs on CI");

        using var ns = await NetworkNamespace.CreateAsync("rtnl");
        using var client = RtnlClient.Open(TimeSpan.FromSeconds(5), ns.Name);

        // The device: created up, read back by name and in the dump, and as ip prints it.
        var vxlan = new VxlanSettings(1024, IPAddress.Parse("192.168.77.1"), 4789, Learning: false, UnderlayIndex: 1);
        client.CreateVxlan(new VxlanLinkSpec("lashup0", vxlan, Mtu: 1450, Mac: OwnMac, Alias: "lashup-overlay", Up: true));
        var link = client.GetLink("lashup0") ?? throw new InvalidOperationException("lashup0 was not created");
        Assert.Equal(new RtnlLink(link.Index, "lashup0", true, 1450, OwnMac, "lashup-overlay", "vxlan", vxlan), link);
        Assert.Contains(link, client.DumpLinks());
        var shown = await ns.RunCheckedAsync("ip", "-d", "link", "show", "lashup0");
        Assert.Contains("mtu 1450", shown, StringComparison.Ordinal);
        Assert.Contains("link/ether 02:4c:00:00:00:01", shown, StringComparison.Ordinal);
        Assert.Contains("alias lashup-overlay", shown, StringComparison.Ordinal);
        Assert.Contains("vxlan id 1024 local 192.168.77.1 dev lo", shown, StringComparison.Ordinal);
        Assert.Contains("dstport 4789 nolearning", shown, StringComparison.Ordinal);
        var index = link.Index;

        // The VTEP address, then one peer in one batch: neighbour, FDB entry, onlink routes (IPv4 and IPv6).
        var vtep = new RtnlAddress(index, IPAddress.Parse("10.240.1.0"), 32);
        client.AddAddress(vtep);
        Assert.Equal([vtep], client.DumpAddresses(index).Where(a => a.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
        Assert.Contains("inet 10.240.1.0/32", await ns.RunCheckedAsync("ip", "addr", "show", "dev", "lashup0"), StringComparison.Ordinal);

        var neighbour = new RtnlNeighbour(index, IPAddress.Parse("10.240.2.0"), PeerMac);
        var fdb = new RtnlFdbEntry(index, PeerMac, IPAddress.Parse("192.168.77.2"));
        var route = new RtnlRoute(IPAddress.Parse("10.240.2.0"), 24, IPAddress.Parse("10.240.2.0"), index, OnLink: true, Protocol);
        var route6 = new RtnlRoute(IPAddress.Parse("fd00:2::"), 64, IPAddress.Parse("fd00:ffff::2"), index, OnLink: true, Protocol);
        Assert.Empty(client.Execute(new RtnlBatch().ReplaceNeighbour(neighbour).AppendFdb(fdb).AddRoute(route).AddRoute(route6)));

        Assert.Equal([neighbour], client.DumpNeighbours(index).Where(n => n.State == RtnlWire.NUD_PERMANENT));
        Assert.Equal([fdb], client.DumpFdb(index));
        Assert.Equal([route, route6 with { Metric = 1024 }], client.DumpRoutes(Protocol));
        Assert.Contains("10.240.2.0 lladdr 02:4c:00:00:00:02 PERMANENT", await ns.RunCheckedAsync("ip", "neigh", "show", "dev", "lashup0"), StringComparison.Ordinal);
        Assert.Contains("02:4c:00:00:00:02 dst 192.168.77.2 self permanent", await ns.RunCheckedAsync("bridge", "fdb", "show", "dev", "lashup0"), StringComparison.Ordinal);
        Assert.Contains("10.240.2.0/24 via 10.240.2.0 dev lashup0 onlink", await ns.RunCheckedAsync("ip", "route", "show", "proto", "0x4c"), StringComparison.Ordinal);
        Assert.Contains("fd00:2::/64 via fd00:ffff::2 dev lashup0 metric 1024 onlink", await ns.RunCheckedAsync("ip", "-6", "route", "show", "proto", "0x4c"), StringComparison.Ordinal);

        // A foreign route on our device: not in our dump, and our delete of its key leaves it.
        await ns.RunCheckedAsync("ip", "route", "add", "10.250.0.0/24", "via", "10.240.2.0", "dev", "lashup0", "onlink", "proto", "static");
        var foreign = new RtnlRoute(IPAddress.Parse("10.250.0.0"), 24, IPAddress.Parse("10.240.2.0"), index, OnLink: true, 4);
        Assert.DoesNotContain(client.DumpRoutes(Protocol), r => r.Destination.Equals(foreign.Destination));
        Assert.Contains(foreign, client.DumpRoutes(4));
        var notOurs = Assert.Throws<NetlinkException>(() => client.DeleteRoute(foreign with { Protocol = Protocol }));
        Assert.Equal(Errno.ESRCH, notOurs.Errno);
        Assert.Contains(foreign, client.DumpRoutes(4));

        // Replace: the neighbour's MAC, the FDB entry's remote, the route's gateway.
        var neighbour2 = neighbour with { Mac = OtherMac };
        var fdb2 = fdb with { Destination = IPAddress.Parse("192.168.77.3") };
        var route2 = route with { Gateway = IPAddress.Parse("10.240.2.1") };
        Assert.Empty(client.Execute(new RtnlBatch().ReplaceNeighbour(neighbour2).ReplaceFdb(fdb2).ReplaceRoute(route2)));
        Assert.Equal([neighbour2], client.DumpNeighbours(index).Where(n => n.State == RtnlWire.NUD_PERMANENT));
        Assert.Equal([fdb2], client.DumpFdb(index));
        Assert.Equal([route2, route6 with { Metric = 1024 }], client.DumpRoutes(Protocol));

        // Refused: a route via a device that does not exist, alone and inside a batch whose other entries apply.
        var missing = new RtnlRoute(IPAddress.Parse("10.240.9.0"), 24, IPAddress.Parse("10.240.9.1"), 9999, OnLink: true, Protocol);
        var refused = Assert.Throws<NetlinkException>(() => client.AddRoute(missing));
        Assert.Equal(Errno.ENODEV, refused.Errno);
        output.WriteLine(refused.Message);
        Assert.Matches("^RTM_NEWROUTE 10\\.240\\.9\\.0/24 via 10\\.240\\.9\\.1 dev #9999 onlink proto 76 table 254: ENODEV \\(No such device\\): \"[^\"]+\"$", refused.Message);
        var route3 = route with { Destination = IPAddress.Parse("10.240.3.0"), Gateway = IPAddress.Parse("10.240.3.0") };
        var failure = Assert.Single(client.Execute(new RtnlBatch().AddRoute(missing).AddRoute(route3)));
        Assert.Equal((0, Errno.ENODEV), (failure.Index, failure.Error.Errno));
        Assert.Contains(route3, client.DumpRoutes(Protocol));
        var exists = Assert.Throws<NetlinkException>(() => client.AddRoute(route3));
        Assert.Equal(Errno.EEXIST, exists.Errno);

        // Delete everything of ours; the foreign route stays.
        Assert.Empty(client.Execute(new RtnlBatch()
            .DeleteRoute(route2).DeleteRoute(route3).DeleteRoute(route6).DeleteFdb(fdb2).DeleteNeighbour(neighbour2)));
        Assert.Empty(client.DumpRoutes(Protocol));
        Assert.Empty(client.DumpFdb(index));
        Assert.DoesNotContain(client.DumpNeighbours(index), n => n.State == RtnlWire.NUD_PERMANENT);
        Assert.Contains(foreign, client.DumpRoutes(4));
        Assert.Equal("", (await ns.RunCheckedAsync("ip", "route", "show", "proto", "0x4c")).Trim());

        // The device's last IPv4 address gone, the kernel flushes the IPv4 routes through it (the foreign one too).
        client.DeleteAddress(vtep);
        Assert.DoesNotContain(vtep, client.DumpAddresses(index));

        client.SetLinkUp(index, up: false);
        Assert.False(client.GetLink("lashup0")!.Up);
        client.DeleteLink(index);
        Assert.Null(client.GetLink("lashup0"));
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => client.DeleteLink(index)).Errno);
    }

    [SkippableFact]
    public void Open_MissingNamespace_ClearError()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "rtnetlink is Linux only");

        var e = Assert.Throws<NetlinkException>(() => RtnlClient.Open(TimeSpan.FromSeconds(1), "lashup-no-such-namespace"));

        Assert.StartsWith("no network namespace lashup-no-such-namespace", e.Message, StringComparison.Ordinal);
    }
}
