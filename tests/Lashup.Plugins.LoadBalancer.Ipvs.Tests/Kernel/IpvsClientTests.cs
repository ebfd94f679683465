using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Kernel;
using Lashup.Plugins.LoadBalancer.Ipvs.Tests.Fakes;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests.Kernel;

/// <summary>
/// The IPVS messages byte for byte (literal arrays written from include/uapi/linux/ip_vs.h and linux/netlink.h, not
/// from the encoder), and each command against the fake kernel's independent decoder.
/// </summary>
public sealed class IpvsClientTests
{
    private static readonly VipKey Web = new(IPAddress.Parse("10.0.0.1"), 80, TransportProtocol.Tcp);

    [Fact]
    public void AddService_Bytes_AreIpVsHLayout()
    {
        var kernel = new FakeIpvsKernel();
        using var client = IpvsClient.Open(kernel.Open());

        client.AddService(Web, "wlc");

        byte[] expected =
        [
            0x68, 0x00, 0x00, 0x00, // nlmsghdr.nlmsg_len = 104
            0x2a, 0x00,             // nlmsg_type = the IPVS family id nlctrl gave
            0x05, 0x00,             // NLM_F_REQUEST | NLM_F_ACK
            0x02, 0x00, 0x00, 0x00, // nlmsg_seq = 2 (1 was CTRL_CMD_GETFAMILY)
            0x00, 0x00, 0x00, 0x00, // nlmsg_pid = 0: the kernel fills it in
            0x01, 0x01, 0x00, 0x00, // genlmsghdr: IPVS_CMD_NEW_SERVICE, version 1, reserved
            0x54, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 84 bytes
            0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // IPVS_SVC_ATTR_AF: u16 AF_INET, padded
            0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // IPVS_SVC_ATTR_PROTOCOL: u16 IPPROTO_TCP
            0x14, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x01, // IPVS_SVC_ATTR_ADDR: union nf_inet_addr, 10.0.0.1 ...
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ... zero to 16 bytes
            0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // IPVS_SVC_ATTR_PORT: __be16 80 (nla_len 6: the padding is not counted)
            0x08, 0x00, 0x06, 0x00, 0x77, 0x6c, 0x63, 0x00, // IPVS_SVC_ATTR_SCHED_NAME: "wlc\0"
            0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // IPVS_SVC_ATTR_FLAGS: struct ip_vs_flags {0, ~0}
            0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // IPVS_SVC_ATTR_TIMEOUT: 0, not persistent
            0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // IPVS_SVC_ATTR_NETMASK: 255.255.255.255
        ];
        Assert.Equal(expected, kernel.Requests[^1].Bytes);
        Assert.Equal("wlc", kernel.Services["tcp/10.0.0.1:80"].Scheduler);
    }

    [Fact]
    public void AddDestination_Bytes_AreIpVsHLayout()
    {
        var kernel = new FakeIpvsKernel();
        using var client = IpvsClient.Open(kernel.Open());
        client.AddService(Web, "wlc");

        client.AddDestination(Web, IPEndPoint.Parse("10.1.0.2:8080"), 3);

        byte[] expected =
        [
            0x8c, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nlmsghdr: 140 bytes, seq 3
            0x05, 0x01, 0x00, 0x00, // IPVS_CMD_NEW_DEST, version 1
            0x30, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 48 bytes: the service's identity only
            0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00,
            0x48, 0x00, 0x02, 0x80, // IPVS_CMD_ATTR_DEST | NLA_F_NESTED, 72 bytes
            0x14, 0x00, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_ADDR 10.1.0.2
            0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, // IPVS_DEST_ATTR_PORT: __be16 8080
            0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_ADDR_FAMILY: u16 AF_INET
            0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_FWD_METHOD: IP_VS_CONN_F_MASQ
            0x08, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_WEIGHT: 3
            0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_U_THRESH: none
            0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // IPVS_DEST_ATTR_L_THRESH: none
        ];
        Assert.Equal(expected, kernel.Requests[^1].Bytes);
        Assert.Equal(3u, kernel.Services["tcp/10.0.0.1:80"].Destinations["10.1.0.2:8080"].Weight);
    }

    [Fact]
    public void ResolveFamily_Bytes_AreGenetlinkControllerRequest()
    {
        var kernel = new FakeIpvsKernel();

        using var client = IpvsClient.Open(kernel.Open());

        byte[] expected =
        [
            0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // 32 bytes (the last attribute's padding counts here) to GENL_ID_CTRL, seq 1
            0x03, 0x01, 0x00, 0x00, // CTRL_CMD_GETFAMILY, version 1
            0x09, 0x00, 0x02, 0x00, 0x49, 0x50, 0x56, 0x53, 0x00, 0x00, 0x00, 0x00, // CTRL_ATTR_FAMILY_NAME "IPVS\0", padded
        ];
        Assert.Equal(expected, kernel.Requests[0].Bytes);
        Assert.Equal(FakeIpvsKernel.IpvsFamilyId, client.Family);
    }

    [Fact]
    public void Ipv6Service_Netmask128_AddressWhole_PortBigEndian()
    {
        var kernel = new FakeIpvsKernel();
        using var client = IpvsClient.Open(kernel.Open());
        var vip = new VipKey(IPAddress.Parse("fd00::1"), 5353, TransportProtocol.Udp);

        client.AddService(vip, "rr");
        client.AddDestination(vip, IPEndPoint.Parse("[fd00::2]:53"), 1);

        var service = kernel.Services["udp/[fd00::1]:5353"];
        Assert.Equal(128u, service.Netmask);
        Assert.Equal(["[fd00::2]:53"], service.Destinations.Keys);
        var listed = Assert.Single(client.ListServices());
        Assert.Equal(vip, listed.Key);
        Assert.Equal(IPEndPoint.Parse("[fd00::2]:53"), Assert.Single(client.ListDestinations(vip)).Endpoint);
    }

    [Fact]
    public void ListServices_ManyAcrossDatagrams_AllDecoded()
    {
        var kernel = new FakeIpvsKernel { MessagesPerDatagram = 4 };
        using var client = IpvsClient.Open(kernel.Open());
        for (var i = 1; i <= 10; i++)
        {
            client.AddService(new VipKey(IPAddress.Parse($"10.0.0.{i}"), (ushort)(1000 + i), i % 2 == 0 ? TransportProtocol.Udp : TransportProtocol.Tcp), "wlc");
        }

        var services = client.ListServices();

        Assert.Equal(10, services.Count);
        Assert.Contains(services, s => s.Key == new VipKey(IPAddress.Parse("10.0.0.10"), 1010, TransportProtocol.Udp) && s.Scheduler == "wlc" && s.Netmask == uint.MaxValue);
        Assert.All(services, s => Assert.Equal(0x2u, s.Flags)); // the kernel's IP_VS_SVC_F_HASHED only
    }

    [Fact]
    public void ListDestinations_DecodesWeightAndForwarding()
    {
        var kernel = new FakeIpvsKernel();
        using var client = IpvsClient.Open(kernel.Open());
        kernel.AddForeign("tcp/10.0.0.1:80", "wlc", ("10.1.0.1:80", 5), ("10.1.0.2:80", 0));

        var destinations = client.ListDestinations(Web).OrderBy(d => d.Endpoint.ToString()).ToList();

        Assert.Equal([(IPEndPoint.Parse("10.1.0.1:80"), 5), (IPEndPoint.Parse("10.1.0.2:80"), 0)], destinations.Select(d => (d.Endpoint, d.Weight)));
        Assert.All(destinations, d => Assert.Equal(IpvsProtocol.IP_VS_CONN_F_MASQ, d.ForwardMethod));
    }

    [Theory]
    [InlineData("new service twice", "IPVS_CMD_NEW_SERVICE tcp/10.0.0.1:80: EEXIST (File exists)", 17)]
    [InlineData("delete a service that is not there", "IPVS_CMD_DEL_SERVICE tcp/10.0.0.2:80: ESRCH (No such process)", 3)]
    [InlineData("delete a destination that is not there", "IPVS_CMD_DEL_DEST tcp/10.0.0.1:80 10.9.9.9:80: ENOENT (No such file or directory)", 2)]
    [InlineData("an unknown scheduler", "IPVS_CMD_SET_SERVICE tcp/10.0.0.1:80: ENOENT (No such file or directory)", 2)]
    public void KernelError_ThrownWithCommandAndErrnoText(string what, string message, int errno)
    {
        var kernel = new FakeIpvsKernel();
        using var client = IpvsClient.Open(kernel.Open());
        client.AddService(Web, "wlc");

        var e = Assert.Throws<NetlinkException>(() =>
        {
            switch (what)
            {
                case "new service twice":
                    client.AddService(Web, "wlc");
                    break;
                case "delete a service that is not there":
                    client.DeleteService(Web with { Address = IPAddress.Parse("10.0.0.2") });
                    break;
                case "delete a destination that is not there":
                    client.DeleteDestination(Web, IPEndPoint.Parse("10.9.9.9:80"));
                    break;
                default:
                    client.UpdateService(Web, "nonesuch");
                    break;
            }
        });

        Assert.Equal(message, e.Message);
        Assert.Equal(errno, e.Errno);
    }

    [Fact]
    public void Open_KernelWithoutIpvs_Enoent()
    {
        var kernel = new FakeIpvsKernel { HasIpvs = false };

        var e = Assert.Throws<NetlinkException>(() => IpvsClient.Open(kernel.Open()));

        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("CTRL_CMD_GETFAMILY IPVS: ENOENT (No such file or directory)", e.Message);
    }
}
