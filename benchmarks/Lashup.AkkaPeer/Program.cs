// One node of a three-node Akka.NET DistributedData cluster on loopback, the peer that benchmarks/akka-compare.sh
// measures side by side with Lashup. Node 1 adds one element per update with a Replicator Update and WriteLocal:
// --mode keys (default) to a new OR-set key each time (as Lashup's kv-propagation.sh adds one endpoint to a new key per
// put), --mode set always to the one OR-set "bench/set". Node 3 subscribes to the keys and timestamps the first Changed
// notification that holds each update. Timestamps are Stopwatch ticks (CLOCK_MONOTONIC on Linux), shared
// by the processes of one machine. The script drives node 1 through files in --control:
//   warm  -> node 1 writes the warm-up keys warm/0..W-1;  run -> node 1 writes bench/0..N-1, one every --interval-ms.
// Output lines (stdout): "up" once the cluster has three members up; node 1 "sent ID ISSUED ACKED" per update and
// "done"; node 3 "seen ID TICKS" per update. ID is the key (warm/K, bench/K) or, with --mode set, the element added.
//   Lashup.AkkaPeer --node I --port P --seed-port S [--tuned] [--mode keys|set] [--keys N] [--warmup W]
//                   [--interval-ms MS] [--control DIR]
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.DistributedData;

var options = new Dictionary<string, string>();
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--tuned")
    {
        options["tuned"] = "true";
    }
    else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i][2..]] = args[++i];
    }
}

var node = int.Parse(options["node"], System.Globalization.CultureInfo.InvariantCulture);
var port = int.Parse(options["port"], System.Globalization.CultureInfo.InvariantCulture);
var seedPort = int.Parse(options["seed-port"], System.Globalization.CultureInfo.InvariantCulture);
var keys = int.Parse(options.GetValueOrDefault("keys", "500"), System.Globalization.CultureInfo.InvariantCulture);
var warmup = int.Parse(options.GetValueOrDefault("warmup", "50"), System.Globalization.CultureInfo.InvariantCulture);
var intervalMs = double.Parse(options.GetValueOrDefault("interval-ms", "20"), System.Globalization.CultureInfo.InvariantCulture);
var control = options.GetValueOrDefault("control", ".");
var tuned = options.ContainsKey("tuned");
var oneSet = options.GetValueOrDefault("mode", "keys") == "set";

// Akka's defaults (gossip-interval 2 s, notify-subscribers-interval 500 ms, delta-crdt on), or the tuned intervals.
var distributedData = tuned
    ? "akka.cluster.distributed-data { gossip-interval = 100ms, notify-subscribers-interval = 20ms }"
    : string.Empty;
var config = ConfigurationFactory.ParseString($$"""
    akka {
      loglevel = WARNING
      stdout-loglevel = WARNING
      actor.provider = cluster
      remote.dot-netty.tcp { hostname = "127.0.0.1", port = {{port}} }
      cluster.seed-nodes = ["akka.tcp://lashupbench@127.0.0.1:{{seedPort}}"]
    }
    {{distributedData}}
    """);

var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
var system = ActorSystem.Create("lashupbench", config);
var cluster = Cluster.Get(system);
var replicator = DistributedData.Get(system).Replicator;
output.WriteLine($"frequency {Stopwatch.Frequency}");

if (node == 3)
{
    system.ActorOf(Props.Create(() => new Observer(replicator, warmup, keys, oneSet, output)), "observer");
}

while (cluster.State.Members.Count(m => m.Status == MemberStatus.Up) < 3)
{
    await Task.Delay(50);
}

output.WriteLine("up");

if (node == 1)
{
    var self = cluster.SelfUniqueAddress;
    async Task WriteAsync(string prefix, int count, double pacingMs)
    {
        var start = Stopwatch.GetTimestamp();
        for (var k = 0; k < count; k++)
        {
            var due = start + (long)(k * pacingMs * Stopwatch.Frequency / 1000);
            while (Stopwatch.GetTimestamp() < due)
            {
                var left = TimeSpan.FromSeconds((due - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
                if (left > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(left - TimeSpan.FromMilliseconds(1));
                }
            }

            var element = $"10.0.{k / 250}.{k % 250}:80";
            var key = oneSet && prefix == "bench" ? "bench/set" : $"{prefix}/{k}";
            var issued = Stopwatch.GetTimestamp();
            var reply = await replicator.Ask<IUpdateResponse>(
                Dsl.Update(new ORSetKey<string>(key), ORSet<string>.Empty, WriteLocal.Instance, set => set.Add(self, element)),
                TimeSpan.FromSeconds(5));
            var acked = Stopwatch.GetTimestamp();
            if (!reply.IsSuccessful)
            {
                output.WriteLine($"failed {key} {reply}");
                continue;
            }

            if (prefix == "bench")
            {
                output.WriteLine($"sent {(oneSet ? element : key)} {issued} {acked}");
            }
        }
    }

    await WaitForAsync(Path.Combine(control, "warm"));
    await WriteAsync("warm", warmup, 10);
    output.WriteLine("warmed");
    await WaitForAsync(Path.Combine(control, "run"));
    await WriteAsync("bench", keys, intervalMs);
    output.WriteLine("done");
}

await system.WhenTerminated;

static async Task WaitForAsync(string file)
{
    while (!File.Exists(file))
    {
        await Task.Delay(5);
    }
}

/// <summary>Node 3: subscribes to every key the run will write and timestamps the first change of each.</summary>
internal sealed class Observer : ReceiveActor
{
    private readonly HashSet<string> _seen = [];

    public Observer(IActorRef replicator, int warmup, int keys, bool oneSet, StreamWriter output)
    {
        for (var k = 0; k < warmup; k++)
        {
            replicator.Tell(Dsl.Subscribe(new ORSetKey<string>($"warm/{k}"), Self));
        }

        for (var k = 0; k < (oneSet ? 0 : keys); k++)
        {
            replicator.Tell(Dsl.Subscribe(new ORSetKey<string>($"bench/{k}"), Self));
        }

        if (oneSet)
        {
            replicator.Tell(Dsl.Subscribe(new ORSetKey<string>("bench/set"), Self));
        }

        Receive<Changed>(changed =>
        {
            var now = Stopwatch.GetTimestamp();
            if (changed.Key.Id == "bench/set")
            {
                foreach (var element in changed.Get(new ORSetKey<string>("bench/set")).Elements)
                {
                    if (_seen.Add(element))
                    {
                        output.WriteLine($"seen {element} {now}");
                    }
                }
            }
            else if (_seen.Add(changed.Key.Id))
            {
                output.WriteLine($"seen {changed.Key.Id} {now}");
            }
        });
    }
}
