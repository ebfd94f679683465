using System.Diagnostics;
using System.Net;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Dns.Authority;

namespace Lashup.Benchmarks;

/// <summary>
/// Managed memory of the DNS index alone: <c>dotnet run -c Release --project benchmarks/Lashup.Benchmarks -- index-memory
/// [SERVICES=1000] [INSTANCES=25]</c>. Builds the records of that many services (4 records per instance) the way the
/// indexer does, one SetOwner per service, and prints the live heap before and after.
/// </summary>
public static class IndexMemory
{
    public static void Run(string[] args)
    {
        var services = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1000;
        var instances = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 25;
        string[] zones = ["lashup.directory"];
        var before = Live();
        var index = new RecordIndex(zones, new ZoneSettings(5, 5, 1));
        var watch = Stopwatch.StartNew();
        for (var s = 0; s < services; s++)
        {
            var list = new List<ServiceInstance>();
            for (var i = 0; i < instances; i++)
            {
                var n = (s * instances) + i;
                list.Add(new ServiceInstance($"svc{s}", $"i{i}", new IPAddress([10, (byte)(n >> 16), (byte)(n >> 8), (byte)n]), "node-1", [new ServicePort(80, TransportProtocol.Tcp)]));
            }

            index.SetOwner(ClusterRecords.ServiceOwner($"svc{s}"), ClusterRecords.ForService($"svc{s}", list, _ => true, zones));
        }

        var elapsed = watch.Elapsed;
        var after = Live();
        Console.WriteLine($"{index.RecordCount} records, {index.NameCount} names indexed in {elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"live managed heap: {(after - before) / 1048576.0:F1} MiB ({(after - before) / (double)index.RecordCount:F0} bytes per record)");
        GC.KeepAlive(index);
    }

    /// <summary>The live managed heap after full, compacting collections.</summary>
    internal static long Live()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
