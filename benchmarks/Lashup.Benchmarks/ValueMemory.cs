using System.Diagnostics;
using System.Net;
using Lashup.Abstractions.Data;
using Lashup.Crdt;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Core.Store;

namespace Lashup.Benchmarks;

/// <summary>
/// Managed memory of the store's values for the DNS memory benchmark's data, as live objects and encoded:
/// <c>dotnet run -c Release --project benchmarks/Lashup.Benchmarks -- value-memory [SERVICES=1000] [INSTANCES=25]</c>.
/// Builds each service's value the way the admin API's writes do (the catalog's ops for every instance, applied by
/// one replica) and prints the live heap they hold and their MessagePack size.
/// </summary>
public static class ValueMemory
{
    public static void Run(string[] args)
    {
        var services = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1000;
        var instances = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 25;
        var before = IndexMemory.Live();
        var values = new CrdtMap[services];
        var watch = Stopwatch.StartNew();
        var timestamp = 1L;
        for (var s = 0; s < services; s++)
        {
            var ops = new List<CrdtOp>();
            for (var i = 0; i < instances; i++)
            {
                var n = (s * instances) + i;
                ops.AddRange(ServiceCatalog.Register(new ServiceInstance($"svc{s}", $"i{i}", new IPAddress([10, (byte)(n >> 16), (byte)(n >> 8), (byte)n]), "node-1", [new ServicePort(80, TransportProtocol.Tcp)])));
            }

            values[s] = CrdtMap.Empty.Apply(ops, "node-1", timestamp++).Value;
        }

        var elapsed = watch.Elapsed;
        var after = IndexMemory.Live();
        var encoded = values.Sum(v => (long)CrdtCodec.EncodeMap(v).Length);
        var total = services * instances;
        Console.WriteLine($"{services} values of {instances} instances built in {elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"live managed heap: {(after - before) / 1048576.0:F1} MiB ({(after - before) / (double)total:F0} bytes per instance); " +
            $"encoded: {encoded / 1048576.0:F1} MiB ({encoded / (double)total:F0} bytes per instance)");
        GC.KeepAlive(values);
    }
}
