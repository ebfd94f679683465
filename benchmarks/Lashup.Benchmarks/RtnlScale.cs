using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Lashup.Netlink.Route;

namespace Lashup.Benchmarks;

/// <summary>
/// <c>rtnl-scale NETNS N [CHANGES]</c>: in network namespace NETNS (which must exist; run as root), creates a VXLAN
/// device, programs N peers (permanent neighbour + FDB entry + onlink route each) in one rtnetlink batch and times it,
/// then times CHANGES single-peer changes (the three entries of one peer replaced in one batch) and prints p50/p99, then
/// deletes the device. benchmarks/overlay-netlink.sh runs it beside <c>ip -batch</c> + <c>bridge -batch</c>.
/// </summary>
internal static class RtnlScale
{
    private const byte Protocol = 0x4c;

    public static void Run(string[] args)
    {
        if (args.Length < 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var count) || count is < 1 or > 32000)
        {
            Console.Error.WriteLine("usage: rtnl-scale NETNS N [CHANGES]   (N: 1-32000)");
            Environment.Exit(2);
            return;
        }

        var changes = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
        using var client = RtnlClient.Open(TimeSpan.FromSeconds(10), args[0]);
        client.CreateVxlan(new VxlanLinkSpec("lashupbench", new VxlanSettings(4242, IPAddress.Parse("192.168.200.1"), 4789), Mtu: 1450, Alias: "lashup-bench", Up: true));
        var index = client.GetLink("lashupbench")!.Index;
        try
        {
            client.AddAddress(new RtnlAddress(index, IPAddress.Parse("10.128.0.0"), 32));
            var batch = new RtnlBatch();
            for (var i = 1; i <= count; i++)
            {
                Peer(batch, index, i, i);
            }

            var watch = Stopwatch.StartNew();
            var failures = client.Execute(batch);
            watch.Stop();
            if (failures.Count > 0)
            {
                throw failures[0].Error;
            }

            Console.WriteLine($"rtnl-scale: {count} peers ({batch.Count} messages) in one batch: {watch.Elapsed.TotalMilliseconds:F1} ms");
            var samples = new double[changes];
            for (var c = 0; c < changes; c++)
            {
                var change = Peer(new RtnlBatch(), index, 1 + (c % count), count + c + 1, replace: true);
                var one = Stopwatch.StartNew();
                client.ExecuteOrThrow(change);
                samples[c] = one.Elapsed.TotalMilliseconds;
            }

            Array.Sort(samples);
            Console.WriteLine($"rtnl-scale: one peer's change at {count} peers ({changes} changes): p50 {samples[changes / 2]:F3} ms, p99 {samples[Math.Min(changes - 1, changes * 99 / 100)]:F3} ms");
        }
        finally
        {
            client.DeleteLink(index);
        }
    }

    /// <summary>Peer <paramref name="i"/>: subnet 10.(128+i/256).(i%256).0/24 style addressing inside 10.128.0.0/9.</summary>
    private static RtnlBatch Peer(RtnlBatch batch, int index, int i, int macSeed, bool replace = false)
    {
        var vtep = new IPAddress([10, (byte)(128 + (i >> 8)), (byte)i, 0]);
        var mac = new PhysicalAddress([0x02, 0x4c, 0, (byte)(macSeed >> 16), (byte)(macSeed >> 8), (byte)macSeed]);
        var underlay = new IPAddress([192, 168, (byte)(i >> 8), (byte)i]);
        var route = new RtnlRoute(vtep, 24, vtep, index, OnLink: true, Protocol);
        batch.ReplaceNeighbour(new RtnlNeighbour(index, vtep, mac)).ReplaceFdb(new RtnlFdbEntry(index, mac, underlay));
        return replace ? batch.ReplaceRoute(route) : batch.AddRoute(route);
    }
}
