using System.Globalization;
using System.Net;
using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Benchmarks;

/// <summary>
/// TCP throughput through the overlay (benchmarks/overlay-iperf.sh): the daemon tests' namespace lab with two nodes on
/// <c>BACKEND</c>, iperf3 from one container namespace to the other, alternately through what the daemons programmed
/// and through the same path programmed by hand with <c>ip</c>/<c>bridge</c> (the daemons killed and their state
/// deleted, then restarted): for <c>vxlan</c> a VXLAN device with the VNI, port, MTU and local address read back from the
/// daemon's, a /32 VTEP address, and per peer a permanent neighbour, an FDB entry and an onlink route, as flannel
/// programs them; for <c>host-routes</c> a plain route to the peer's subnet via its underlay address. A third path, host
/// to host over the bare underlay, shows what the overlay costs at all. Prints the medians and the ratios.
/// Usage: overlay-iperf BACKEND SECONDS ROUNDS
/// </summary>
internal static class OverlayIperf
{
    private const string ReferenceDevice = "vxref0";

    public static void Run(string[] args) =>
        RunAsync(args[0], int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture)).GetAwaiter().GetResult();

    private static async Task RunAsync(string backend, int seconds, int rounds)
    {
        using var lab = await OverlayLab.StartAsync(backend, nodes: 2);
        await ExpectPingAsync(lab, "the daemons' overlay");
        var settings = backend == "vxlan" ? await VxlanSettings.ReadAsync(lab) : null;
        if (settings is not null)
        {
            Console.WriteLine($"vxlan: the daemons' device: vni {settings.Vni}, port {settings.Port}, mtu {settings.Mtu}; the reference is made with the same");
            Console.WriteLine("vxlan: the daemons' device: " + (await lab.HostNamespace(0).RunCheckedAsync("ip", "-d", "link", "show", "lashup0")).Trim());
        }

        var overlay = new List<double>();
        var paused = new List<double>();
        var reference = new List<double>();
        var underlay = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Alternating, so that a slower moment of the machine does not fall on one path only.
            overlay.Add(await MeasureAsync(lab.ContainerNamespace(1), lab.ContainerNamespace(0), lab.ContainerAddress(1).ToString(), seconds));

            // The same kernel state with the daemons paused (SIGSTOP): the data path alone, without the daemons' CPU.
            await SignalDaemonsAsync(lab, "STOP");
            try
            {
                paused.Add(await MeasureAsync(lab.ContainerNamespace(1), lab.ContainerNamespace(0), lab.ContainerAddress(1).ToString(), seconds));
            }
            finally
            {
                await SignalDaemonsAsync(lab, "CONT");
            }

            for (var i = 0; i < 2; i++)
            {
                lab.Kill(i);
            }

            await Task.Delay(300);
            for (var i = 0; i < 2; i++)
            {
                await DeleteDaemonStateAsync(lab, i, backend);
                await ProgramByHandAsync(lab, i, backend, settings);
            }

            await ExpectPingAsync(lab, "the hand-made " + backend);
            if (round == 0 && settings is not null)
            {
                // Both devices as the kernel has them: what the comparison compares.
                Console.WriteLine("vxlan: the hand-made device: " + (await lab.HostNamespace(0).RunCheckedAsync("ip", "-d", "link", "show", ReferenceDevice)).Trim());
            }

            reference.Add(await MeasureAsync(lab.ContainerNamespace(1), lab.ContainerNamespace(0), lab.ContainerAddress(1).ToString(), seconds));
            underlay.Add(await MeasureAsync(lab.HostNamespace(1), lab.HostNamespace(0), lab.Underlay(1).ToString(), seconds));

            for (var i = 0; i < 2; i++)
            {
                await DeleteHandMadeAsync(lab, i, backend);
            }

            for (var i = 0; i < 2; i++)
            {
                await lab.RestartAsync(i);
            }

            await ExpectPingAsync(lab, "the daemons' overlay after their restart");
        }

        var o = Median(overlay);
        var r = Median(reference);
        var u = Median(underlay);
        Console.WriteLine($"{backend}: container to container, programmed by lashup: {Describe(overlay)}");
        Console.WriteLine($"{backend}: the same, the daemons paused (SIGSTOP):      {Describe(paused)}");
        Console.WriteLine($"{backend}: container to container, programmed by hand:   {Describe(reference)}");
        Console.WriteLine($"{backend}: host to host over the bare underlay:          {Describe(underlay)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{backend}: lashup / by hand = {o / r:0.000}; paused / by hand = {Median(paused) / r:0.000}; lashup / bare underlay = {o / u:0.000}"));
    }

    private static async Task ExpectPingAsync(OverlayLab lab, string what)
    {
        if (!await lab.PingUntilAsync(0, 1, TimeSpan.FromSeconds(60)) || !await lab.PingUntilAsync(1, 0, TimeSpan.FromSeconds(10)))
        {
            throw new InvalidOperationException($"the containers do not reach each other through {what}:\n" + lab.Logs());
        }
    }

    /// <summary>What the daemon of node <paramref name="i"/> left after its kill: the VXLAN device (its neighbours, FDB
    /// entries and routes go with it) or its routes (protocol 0x4c).</summary>
    private static async Task DeleteDaemonStateAsync(OverlayLab lab, int i, string backend)
    {
        var host = lab.HostNamespace(i);
        if (backend == "vxlan")
        {
            await host.RunCheckedAsync("ip", "link", "del", "lashup0");
        }
        else
        {
            await host.RunCheckedAsync("ip", "route", "flush", "proto", "76");
        }
    }

    private static async Task ProgramByHandAsync(OverlayLab lab, int i, string backend, VxlanSettings? settings)
    {
        var host = lab.HostNamespace(i);
        var peer = 1 - i;
        var peerSubnet = lab.Subnet(peer).ToString();
        if (backend != "vxlan")
        {
            await host.RunCheckedAsync("ip", "route", "add", peerSubnet, "via", lab.Underlay(peer).ToString(), "dev", "eth0");
            return;
        }

        var s = settings!;
        await host.RunCheckedAsync("ip", "link", "add", ReferenceDevice, "type", "vxlan", "id", s.Vni, "dstport", s.Port,
            "local", lab.Underlay(i).ToString(), "dev", "eth0", "nolearning");
        await host.RunCheckedAsync("ip", "link", "set", ReferenceDevice, "mtu", s.Mtu, "address", Mac(i), "up");
        await host.RunCheckedAsync("ip", "addr", "add", $"{Vtep(lab, i)}/32", "dev", ReferenceDevice);
        await host.RunCheckedAsync("ip", "neigh", "add", Vtep(lab, peer).ToString(), "lladdr", Mac(peer), "dev", ReferenceDevice, "nud", "permanent");
        await host.RunCheckedAsync("bridge", "fdb", "append", Mac(peer), "dev", ReferenceDevice, "dst", lab.Underlay(peer).ToString());
        await host.RunCheckedAsync("ip", "route", "add", peerSubnet, "via", Vtep(lab, peer).ToString(), "dev", ReferenceDevice, "onlink");
    }

    private static async Task DeleteHandMadeAsync(OverlayLab lab, int i, string backend)
    {
        var host = lab.HostNamespace(i);
        if (backend == "vxlan")
        {
            await host.RunCheckedAsync("ip", "link", "del", ReferenceDevice);
        }
        else
        {
            await host.RunCheckedAsync("ip", "route", "del", lab.Subnet(1 - i).ToString());
        }
    }

    private static async Task SignalDaemonsAsync(OverlayLab lab, string signal)
    {
        for (var i = 0; i < 2; i++)
        {
            await NetworkNamespace.RunHostAsync(true, "kill", "-" + signal, lab.Daemon(i).Id.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>The VTEP address as the daemons use it: the subnet's first address.</summary>
    private static IPAddress Vtep(OverlayLab lab, int i) => lab.Subnet(i).BaseAddress;

    /// <summary>A locally administered MAC per node for the hand-made devices.</summary>
    private static string Mac(int i) => string.Create(CultureInfo.InvariantCulture, $"0a:58:00:00:00:{i + 1:x2}");

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static string Describe(List<double> values) => string.Create(CultureInfo.InvariantCulture,
        $"median {Median(values) / 1e9:0.00} Gbit/s ({string.Join(", ", values.Select(v => (v / 1e9).ToString("0.00", CultureInfo.InvariantCulture)))})");

    private static async Task<double> MeasureAsync(NetworkNamespace server, NetworkNamespace client, string address, int seconds)
    {
        using var iperf = server.Start("iperf3", "-s", "-1");
        await Task.Delay(500);
        var json = await client.RunCheckedAsync("iperf3", "-c", address, "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble();
    }

    /// <summary>The daemons' VXLAN device as the kernel reports it (<c>ip -d -j link show lashup0</c> on node 0).</summary>
    private sealed record VxlanSettings(string Vni, string Port, string Mtu)
    {
        public static async Task<VxlanSettings> ReadAsync(OverlayLab lab)
        {
            using var document = JsonDocument.Parse(await lab.HostNamespace(0).RunCheckedAsync("ip", "-d", "-j", "link", "show", "lashup0"));
            var link = document.RootElement[0];
            var data = link.GetProperty("linkinfo").GetProperty("info_data");
            if (data.TryGetProperty("learning", out var learning) && learning.GetBoolean())
            {
                throw new InvalidOperationException("the daemons' device learns addresses; the reference would not be the same device");
            }

            return new VxlanSettings(
                data.GetProperty("id").GetInt32().ToString(CultureInfo.InvariantCulture),
                data.GetProperty("port").GetInt32().ToString(CultureInfo.InvariantCulture),
                link.GetProperty("mtu").GetInt32().ToString(CultureInfo.InvariantCulture));
        }
    }
}
