using System.Globalization;
using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Benchmarks;

/// <summary>
/// TCP throughput through the overlay (benchmarks/overlay-iperf.sh): the daemon tests' namespace lab with two nodes on
/// <c>BACKEND</c>, iperf3 from one container namespace to the other (through the host namespaces and the overlay), and in
/// the same run iperf3 between the two host namespaces over the bare underlay (no overlay, no container hop), as the
/// reference. Prints one line per path and their ratio.
/// Usage: overlay-iperf BACKEND SECONDS ROUNDS
/// </summary>
internal static class OverlayIperf
{
    public static void Run(string[] args) =>
        RunAsync(args[0], int.Parse(args[1], CultureInfo.InvariantCulture), int.Parse(args[2], CultureInfo.InvariantCulture)).GetAwaiter().GetResult();

    private static async Task RunAsync(string backend, int seconds, int rounds)
    {
        using var lab = await OverlayLab.StartAsync(backend, nodes: 2);
        if (!await lab.PingUntilAsync(0, 1, TimeSpan.FromSeconds(30)))
        {
            throw new InvalidOperationException("the containers do not reach each other:\n" + lab.Logs());
        }

        var overlay = new List<double>();
        var underlay = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Alternating, so that a slower moment of the machine does not fall on one path only.
            overlay.Add(await MeasureAsync(lab.ContainerNamespace(1), lab.ContainerNamespace(0), lab.ContainerAddress(1).ToString(), seconds));
            underlay.Add(await MeasureAsync(lab.HostNamespace(1), lab.HostNamespace(0), lab.Underlay(1).ToString(), seconds));
        }

        var o = overlay.Order().ElementAt(overlay.Count / 2);
        var u = underlay.Order().ElementAt(underlay.Count / 2);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{backend}: container to container through the overlay: median {o / 1e9:0.00} Gbit/s ({string.Join(", ", overlay.Select(v => (v / 1e9).ToString("0.00", CultureInfo.InvariantCulture)))})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{backend}: host to host over the bare underlay: median {u / 1e9:0.00} Gbit/s ({string.Join(", ", underlay.Select(v => (v / 1e9).ToString("0.00", CultureInfo.InvariantCulture)))})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{backend}: overlay / underlay = {o / u:0.000}"));
    }

    private static async Task<double> MeasureAsync(NetworkNamespace server, NetworkNamespace client, string address, int seconds)
    {
        using var iperf = server.Start("iperf3", "-s", "-1");
        await Task.Delay(500);
        var json = await client.RunCheckedAsync("iperf3", "-c", address, "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble();
    }
}
