using System.Net;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Kernel;
using Lashup.Plugins.LoadBalancer.Ipvs.Netlink;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests.Kernel;

/// <summary>
/// The real netlink socket against this machine's kernel. The generic netlink controller is in every Linux kernel, so
/// the socket, the framing and the family lookup are checked here always; IPVS itself only where the kernel has it and
/// the test is root — then a VIP is programmed inside a network namespace the test creates and deletes (the host's
/// IPVS table is never touched). Elsewhere that test is skipped with the backend's own message.
/// </summary>
public sealed class RealKernelTests
{
    [SkippableFact]
    public void NetlinkSocket_RealKernel_ResolvesTheControllerItself()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "netlink is Linux only");
        using var client = new GenericNetlinkClient(NetlinkSocket.Open(NetlinkSocket.NETLINK_GENERIC, TimeSpan.FromSeconds(5)));

        Assert.Equal(GenericNetlinkClient.GENL_ID_CTRL, client.ResolveFamily("nlctrl"));
        // (A name over GENL_NAMSIZ, 16 with the NUL, is EINVAL instead.)
        var e = Assert.Throws<NetlinkException>(() => client.ResolveFamily("lashupnone"));
        Assert.Equal(Errno.ENOENT, e.Errno);
    }

    [SkippableFact]
    public async Task RealIpvs_InOwnNetworkNamespace_VipProgrammedReconciledCleared()
    {
        var unsupported = await RealKernel.UnsupportedMessageAsync();
        Skip.If(unsupported is not null, unsupported);
        Skip.IfNot(File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip"), "needs ip (iproute2) for a network namespace");

        var name = $"lashup-ipvs-{Guid.NewGuid().ToString("N")[..8]}";
        var state = Directory.CreateTempSubdirectory("lashup-ipvs-").FullName;
        Assert.Equal(0, (await RealKernel.RunAsync("ip", "netns", "add", name)).Code);
        try
        {
            Assert.Equal(0, (await RealKernel.RunAsync("ip", "-n", name, "link", "set", "lo", "up")).Code);
            Assert.Equal(0, (await RealKernel.RunAsync("ip", "-n", name, "addr", "add", "10.99.0.1/32", "dev", "lo")).Code);
            using var backend = new IpvsBackend(() => OpenIn(name), "wlc", state, true, NullLogger<IpvsBackend>.Instance);
            await backend.EnsureSupportedAsync(default);
            var vip = new VipKey(IPAddress.Parse("10.99.0.1"), 80, TransportProtocol.Tcp);
            var table = LoadBalancerTable.From([new VipEntry(vip, [
                new VipBackend(IPEndPoint.Parse("10.99.1.1:8080"), "node-1", 1),
                new VipBackend(IPEndPoint.Parse("10.99.1.2:8080"), "node-1", 0)])]);

            await backend.ApplyAsync(LoadBalancerDelta.Between(LoadBalancerTable.Empty, table), default);

            // Read back with a client of its own, in the namespace.
            using (var client = IpvsClient.Open(OpenIn(name)))
            {
                var service = Assert.Single(client.ListServices());
                Assert.Equal((vip, "wlc"), (service.Key, service.Scheduler));
                Assert.Equal(
                    [("10.99.1.1:8080", 1), ("10.99.1.2:8080", 0)],
                    client.ListDestinations(vip).Select(d => (d.Endpoint.ToString(), d.Weight)).Order());
            }

            Assert.Equal(0, await backend.ReconcileAsync(table, default));
            await backend.ClearAsync(default);
            using (var client = IpvsClient.Open(OpenIn(name)))
            {
                Assert.Empty(client.ListServices());
            }
        }
        finally
        {
            await RealKernel.RunAsync("ip", "netns", "del", name);
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>A generic netlink socket of network namespace <paramref name="name"/> (a socket stays in the namespace it was made in).</summary>
    private static NetlinkSocket OpenIn(string name) => NetlinkSocket.Open(NetlinkSocket.NETLINK_GENERIC, TimeSpan.FromSeconds(5), name);
}
