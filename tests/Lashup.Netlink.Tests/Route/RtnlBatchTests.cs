using System.Net;
using System.Net.NetworkInformation;
using Lashup.Netlink.Route;
using static Lashup.Netlink.Tests.Wire;

namespace Lashup.Netlink.Tests.Route;

/// <summary>
/// Every rtnetlink request against bytes laid out by hand from the kernel's uapi headers: nlmsghdr (u32 len, u16 type,
/// u16 flags, u32 seq, u32 pid; netlink.h), then ifinfomsg / ifaddrmsg / ndmsg / rtmsg (rtnetlink.h, if_addr.h,
/// neighbour.h), then attributes (u16 len, u16 type, value, padding to 4; nested ones with NLA_F_NESTED 0x8000). The
/// numbers are spelled out here, not taken from RtnlWire, so a wrong constant there fails here.
/// </summary>
public sealed class RtnlBatchTests
{
    private static readonly PhysicalAddress Mac1 = PhysicalAddress.Parse("02-4C-00-00-00-01");
    private static readonly PhysicalAddress Mac2 = PhysicalAddress.Parse("02-4C-00-00-00-02");

    [Fact]
    public void CreateVxlan_AllSettings_KernelLayout()
    {
        var batch = new RtnlBatch().CreateVxlan(new VxlanLinkSpec(
            "lashup0",
            new VxlanSettings(1024, IPAddress.Parse("192.168.1.10"), 4789, Learning: false, UnderlayIndex: 3),
            Mtu: 1450,
            Mac: Mac1,
            Alias: "lashup"));

        AssertBytes(Hex(
            "7c000000", "1000", "0506", "01000000", "00000000", // len 124, RTM_NEWLINK 16, REQUEST|ACK|EXCL|CREATE 0x605, seq 1, pid 0
            "00 00 0000 00000000 00000000 00000000",            // ifinfomsg: AF_UNSPEC, pad, type, index 0, flags 0, change 0
            "0c00 0300 6c617368757030 00",                      // IFLA_IFNAME 3: "lashup0\0"
            "0800 0400 aa050000",                               // IFLA_MTU 4: 1450
            "0a00 0100 024c00000001 0000",                      // IFLA_ADDRESS 1: the MAC, 2 bytes of padding
            "3c00 1280",                                        // IFLA_LINKINFO 18 | NLA_F_NESTED, 60 bytes
            "0a00 0100 76786c616e 00 0000",                     //   IFLA_INFO_KIND 1: "vxlan\0"
            "2c00 0280",                                        //   IFLA_INFO_DATA 2 | NLA_F_NESTED, 44 bytes
            "0800 0100 00040000",                               //     IFLA_VXLAN_ID 1: 1024
            "0800 0400 c0a8010a",                               //     IFLA_VXLAN_LOCAL 4: 192.168.1.10
            "0600 0f00 12b5 0000",                              //     IFLA_VXLAN_PORT 15: 4789 big-endian
            "0500 0700 00 000000",                              //     IFLA_VXLAN_LEARNING 7: u8 0
            "0800 0300 03000000",                               //     IFLA_VXLAN_LINK 3: ifindex 3
            "38000000", "1000", "0500", "02000000", "00000000", // len 56, RTM_NEWLINK, REQUEST|ACK: the alias (ignored on create)
            "00 00 0000 00000000 00000000 00000000",            // ifinfomsg: index 0, the link found by name
            "0c00 0300 6c617368757030 00",                      // IFLA_IFNAME "lashup0\0"
            "0b00 1400 6c6173687570 00 00"),                    // IFLA_IFALIAS 20: "lashup\0", 1 byte of padding
            batch.Writer.Finish(1));
        Assert.Equal(["RTM_NEWLINK create vxlan lashup0 (vni 1024, local 192.168.1.10, port 4789)", "RTM_NEWLINK set alias of lashup0 to \"lashup\""], batch.Operations);
    }

    [Fact]
    public void CreateVxlan_Ipv6LocalAndUp_Local6AndIffUp()
    {
        var batch = new RtnlBatch().CreateVxlan(new VxlanLinkSpec("vx6", new VxlanSettings(7, IPAddress.Parse("fd00::a"), 8472, Learning: true), Up: true));

        AssertBytes(Hex(
            "68000000", "1000", "0506", "05000000", "00000000", // len 104, RTM_NEWLINK, 0x605, seq 5
            "00 00 0000 00000000 01000000 01000000",            // ifinfomsg: flags IFF_UP, change IFF_UP
            "0800 0300 767836 00",                              // IFLA_IFNAME "vx6\0"
            "4000 1280",                                        // IFLA_LINKINFO, 64 bytes
            "0a00 0100 76786c616e 00 0000",                     //   IFLA_INFO_KIND "vxlan\0"
            "3000 0280",                                        //   IFLA_INFO_DATA, 48 bytes
            "0800 0100 07000000",                               //     IFLA_VXLAN_ID 7
            "1400 1100 fd00000000000000000000000000000a",       //     IFLA_VXLAN_LOCAL6 17: fd00::a (16 bytes)
            "0600 0f00 2118 0000",                              //     IFLA_VXLAN_PORT 8472 big-endian
            "0500 0700 01 000000"),                             //     IFLA_VXLAN_LEARNING 1
            batch.Writer.Finish(5));
    }

    [Fact]
    public void SetLinkUpAndDeleteLink_OneBatch_TwoMessagesNumberedInOrder()
    {
        var batch = new RtnlBatch().SetLinkUp(5, up: true).SetLinkUp(5, up: false).DeleteLink(5);

        AssertBytes(Hex(
            "20000000", "1000", "0500", "07000000", "00000000", // len 32, RTM_NEWLINK, REQUEST|ACK, seq 7
            "00 00 0000 05000000 01000000 01000000",            // index 5, flags IFF_UP, change IFF_UP
            "20000000", "1000", "0500", "08000000", "00000000", // seq 8
            "00 00 0000 05000000 00000000 01000000",            // flags 0 (down), change IFF_UP
            "20000000", "1100", "0500", "09000000", "00000000", // RTM_DELLINK 17, seq 9
            "00 00 0000 05000000 00000000 00000000"),
            batch.Writer.Finish(7));
        Assert.Equal(["RTM_NEWLINK set link #5 up", "RTM_NEWLINK set link #5 down", "RTM_DELLINK link #5"], batch.Operations);
    }

    [Fact]
    public void AddAddress_VtepSlash32_IfaLocalAndIfaAddress()
    {
        var batch = new RtnlBatch().AddAddress(new RtnlAddress(5, IPAddress.Parse("10.240.1.0"), 32));

        AssertBytes(Hex(
            "28000000", "1400", "0506", "01000000", "00000000", // len 40, RTM_NEWADDR 20, REQUEST|ACK|EXCL|CREATE
            "02 20 00 00 05000000",                             // ifaddrmsg: AF_INET, /32, flags 0, scope 0, index 5
            "0800 0200 0af00100",                               // IFA_LOCAL 2
            "0800 0100 0af00100"),                              // IFA_ADDRESS 1
            batch.Writer.Finish(1));
    }

    [Fact]
    public void DeleteAddress_Ipv6_NoDadFlagAndDelAddr()
    {
        var batch = new RtnlBatch().DeleteAddress(new RtnlAddress(5, IPAddress.Parse("fd00::1"), 128));

        AssertBytes(Hex(
            "40000000", "1500", "0500", "01000000", "00000000", // len 64, RTM_DELADDR 21, REQUEST|ACK
            "0a 80 02 00 05000000",                             // AF_INET6, /128, IFA_F_NODAD, scope 0, index 5
            "1400 0200 fd000000000000000000000000000001",       // IFA_LOCAL
            "1400 0100 fd000000000000000000000000000001"),      // IFA_ADDRESS
            batch.Writer.Finish(1));
    }

    [Fact]
    public void ReplaceNeighbour_Permanent_NdmsgDstLladdr()
    {
        var batch = new RtnlBatch().ReplaceNeighbour(new RtnlNeighbour(5, IPAddress.Parse("10.240.2.0"), Mac2));

        AssertBytes(Hex(
            "30000000", "1c00", "0505", "01000000", "00000000", // len 48, RTM_NEWNEIGH 28, REQUEST|ACK|REPLACE|CREATE 0x505
            "02 00 0000 05000000 8000 00 00",                   // ndmsg: AF_INET, pads, ifindex 5, NUD_PERMANENT, flags 0, type 0
            "0800 0100 0af00200",                               // NDA_DST 1
            "0a00 0200 024c00000002 0000"),                     // NDA_LLADDR 2
            batch.Writer.Finish(1));
        Assert.Equal("RTM_NEWNEIGH (replace) 10.240.2.0 lladdr 02:4c:00:00:00:02 dev #5 state 0x80", batch.Operations[0]);
    }

    [Fact]
    public void AddAndDeleteNeighbour_FlagsAndNoLladdrOnDelete()
    {
        var neighbour = new RtnlNeighbour(5, IPAddress.Parse("10.240.2.0"), Mac2);
        var batch = new RtnlBatch().AddNeighbour(neighbour).DeleteNeighbour(neighbour);

        AssertBytes(Hex(
            "30000000", "1c00", "0506", "01000000", "00000000", // RTM_NEWNEIGH, REQUEST|ACK|EXCL|CREATE
            "02 00 0000 05000000 8000 00 00",
            "0800 0100 0af00200",
            "0a00 0200 024c00000002 0000",
            "24000000", "1d00", "0500", "02000000", "00000000", // len 36, RTM_DELNEIGH 29, REQUEST|ACK
            "02 00 0000 05000000 8000 00 00",
            "0800 0100 0af00200"),                              // NDA_DST only
            batch.Writer.Finish(1));
    }

    [Fact]
    public void AppendReplaceDeleteFdb_BridgeFamilySelfLladdrDst()
    {
        var entry = new RtnlFdbEntry(5, Mac2, IPAddress.Parse("192.168.1.11"));
        var batch = new RtnlBatch().AppendFdb(entry).ReplaceFdb(entry).DeleteFdb(entry);

        const string body = "07 00 0000 05000000 8000 02 00" // ndmsg: AF_BRIDGE 7, ifindex 5, NUD_PERMANENT, NTF_SELF 0x02
            + "0a00 0200 024c00000002 0000"                  // NDA_LLADDR 2: the MAC
            + "0800 0100 c0a8010b";                          // NDA_DST 1: 192.168.1.11
        AssertBytes(Hex(
            "30000000", "1c00", "050c", "01000000", "00000000", body, // RTM_NEWNEIGH, REQUEST|ACK|CREATE|APPEND 0xc05
            "30000000", "1c00", "0505", "02000000", "00000000", body, // REQUEST|ACK|CREATE|REPLACE 0x505
            "30000000", "1d00", "0500", "03000000", "00000000", body), // RTM_DELNEIGH, REQUEST|ACK
            batch.Writer.Finish(1));
        Assert.Equal("RTM_NEWNEIGH (append) fdb 02:4c:00:00:00:02 dst 192.168.1.11 dev #5", batch.Operations[0]);
    }

    [Fact]
    public void ReplaceRoute_Onlink_RtmsgAndAttributes()
    {
        var batch = new RtnlBatch().ReplaceRoute(new RtnlRoute(IPAddress.Parse("10.240.2.0"), 24, IPAddress.Parse("10.240.2.0"), 5, OnLink: true, Protocol: 0x4c));

        AssertBytes(Hex(
            "34000000", "1800", "0505", "01000000", "00000000", // len 52, RTM_NEWROUTE 24, REQUEST|ACK|REPLACE|CREATE
            "02 18 00 00 fe 4c 00 01 04000000",                 // rtmsg: AF_INET, /24, src 0, tos 0, main 254, proto 0x4c, universe, RTN_UNICAST; RTNH_F_ONLINK
            "0800 0100 0af00200",                               // RTA_DST 1
            "0800 0500 0af00200",                               // RTA_GATEWAY 5
            "0800 0400 05000000"),                              // RTA_OIF 4
            batch.Writer.Finish(1));
        Assert.Equal("RTM_NEWROUTE (replace) 10.240.2.0/24 via 10.240.2.0 dev #5 onlink proto 76 table 254", batch.Operations[0]);
    }

    [Fact]
    public void DeleteRoute_ScopeNowhereKeepsProtocol()
    {
        var batch = new RtnlBatch().DeleteRoute(new RtnlRoute(IPAddress.Parse("10.240.2.0"), 24, IPAddress.Parse("10.240.2.0"), 5, OnLink: true, Protocol: 0x4c));

        AssertBytes(Hex(
            "34000000", "1900", "0500", "01000000", "00000000", // RTM_DELROUTE 25, REQUEST|ACK
            "02 18 00 00 fe 4c ff 01 04000000",                 // scope RT_SCOPE_NOWHERE 255: any scope; protocol 0x4c: only ours
            "0800 0100 0af00200",
            "0800 0500 0af00200",
            "0800 0400 05000000"),
            batch.Writer.Finish(1));
    }

    [Fact]
    public void AddRoute_Ipv6TableOver255AndMetric_RtaTableAndPriority()
    {
        var batch = new RtnlBatch().AddRoute(new RtnlRoute(IPAddress.Parse("fd00:2::"), 64, IPAddress.Parse("fe80::1"), 5, OnLink: false, Protocol: 0x4c, Table: 1000, Metric: 1024));

        AssertBytes(Hex(
            "5c000000", "1800", "0506", "01000000", "00000000", // len 92, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE
            "0a 40 00 00 00 4c 00 01 00000000",                 // AF_INET6, /64, table RT_TABLE_UNSPEC (in RTA_TABLE), universe, unicast
            "0800 0f00 e8030000",                               // RTA_TABLE 15: 1000
            "1400 0100 fd000002000000000000000000000000",       // RTA_DST
            "1400 0500 fe800000000000000000000000000001",       // RTA_GATEWAY
            "0800 0400 05000000",                               // RTA_OIF
            "0800 0600 00040000"),                              // RTA_PRIORITY 6: 1024
            batch.Writer.Finish(1));
    }

    [Fact]
    public void AddRoute_NoGateway_ScopeLink()
    {
        var batch = new RtnlBatch().AddRoute(new RtnlRoute(IPAddress.Parse("10.9.0.0"), 16, null, 5, OnLink: false, Protocol: 0x4c));

        AssertBytes(Hex(
            "2c000000", "1800", "0506", "01000000", "00000000",
            "02 10 00 00 fe 4c fd 01 00000000",                 // RT_SCOPE_LINK 253, no flags
            "0800 0100 0a090000",
            "0800 0400 05000000"),
            batch.Writer.Finish(1));
    }

    [Theory]
    [InlineData("")]
    [InlineData("sixteen-chars-xx")]
    [InlineData("a/b")]
    [InlineData("a b")]
    public void CreateVxlan_BadName_ArgumentException(string name) =>
        Assert.Throws<ArgumentException>(() => new RtnlBatch().CreateVxlan(new VxlanLinkSpec(name, new VxlanSettings(1, null, 4789))));

    [Theory]
    [InlineData(0u, (ushort)4789)]
    [InlineData(16777216u, (ushort)4789)]
    [InlineData(1u, (ushort)0)]
    public void CreateVxlan_BadVniOrPort_ArgumentException(uint vni, ushort port)
    {
        var e = Assert.Throws<ArgumentException>(() => new RtnlBatch().CreateVxlan(new VxlanLinkSpec("vx0", new VxlanSettings(vni, null, port))));
        Assert.Contains(port == 0 ? "port" : "VNI", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Routes_BadArguments_ArgumentException()
    {
        var batch = new RtnlBatch();
        Assert.Throws<ArgumentException>(() => batch.AddRoute(new RtnlRoute(IPAddress.Parse("10.0.0.0"), 33, null, 1, false, 0x4c)));
        Assert.Throws<ArgumentException>(() => batch.AddRoute(new RtnlRoute(IPAddress.Parse("10.0.0.0"), 24, IPAddress.Parse("fe80::1"), 1, false, 0x4c)));
        Assert.Throws<ArgumentException>(() => batch.AddRoute(new RtnlRoute(IPAddress.Parse("10.0.0.0"), 24, IPAddress.Parse("10.0.0.1"), 0, OnLink: true, 0x4c)));
        Assert.Throws<ArgumentException>(() => batch.ReplaceFdb(new RtnlFdbEntry(1, PhysicalAddress.Parse("02-00-00-00-00"), null)));
        Assert.Throws<ArgumentException>(() => batch.AddNeighbour(new RtnlNeighbour(1, IPAddress.Parse("10.0.0.1"), null)));
        Assert.Throws<ArgumentOutOfRangeException>(() => batch.DeleteLink(0));
        Assert.Equal(0, batch.Count);
    }

    private static void AssertBytes(byte[] expected, byte[] actual) => Assert.Equal(Show(expected), Show(actual));
}
