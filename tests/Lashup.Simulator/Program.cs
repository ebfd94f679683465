using System.Diagnostics;
using System.Globalization;
using Lashup.Simulator;

// The simulator's command line: runs the scenarios of docs/benchmarks.md and prints one table row per run.
//   dotnet run -c Release --project tests/Lashup.Simulator -- [scenario] [--nodes N,N,...] [--seed S] [--runs R]
//   dotnet run -c Release --project tests/Lashup.Simulator -- kv-churn [--seed S] [--live N] [--churns C] [--keys K] [--rate W/s] [--loss L] [--skew SECONDS]
//   dotnet run -c Release --project tests/Lashup.Simulator -- kv [--nodes N,...] [--seed S] [--keys K] [--rate W/s] [--loss L] [--stream-loss L] [--before SECONDS] [--partition SECONDS] [--warm]
var scenario = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
var nodes = Arg("--nodes", "10,100,1000").Split(',').Select(int.Parse).ToArray();
var seed = int.Parse(Arg("--seed", "1"), CultureInfo.InvariantCulture);
var runs = int.Parse(Arg("--runs", "5"), CultureInfo.InvariantCulture);

if (scenario == "kv-churn")
{
    var churn = StoreScenarios.Churn(new StoreScenarios.ChurnOptions
    {
        Seed = seed,
        Live = int.Parse(Arg("--live", "6"), CultureInfo.InvariantCulture),
        Churns = int.Parse(Arg("--churns", "12"), CultureInfo.InvariantCulture),
        Keys = int.Parse(Arg("--keys", "6"), CultureInfo.InvariantCulture),
        WritesPerSecond = double.Parse(Arg("--rate", "10"), CultureInfo.InvariantCulture),
        Loss = double.Parse(Arg("--loss", "0.02"), CultureInfo.InvariantCulture),
        ClockSkew = TimeSpan.FromSeconds(double.Parse(Arg("--skew", "0"), CultureInfo.InvariantCulture)),
    });
    return churn.Violations.Count == 0 ? 0 : 1;
}

if (scenario == "inject")
{
    await Inject.RunAsync(Arg("--target", "127.0.0.1:7470"), Arg("--cluster", "lashup"), int.Parse(Arg("--members", "1000"), CultureInfo.InvariantCulture));
    return 0;
}

var sw = Stopwatch.StartNew();
foreach (var n in nodes)
{
    if (scenario is "all" or "join")
    {
        Scenarios.JoinAndLeaveRounds(n, seed);
    }

    if (scenario is "all" or "broadcast")
    {
        Scenarios.Broadcast(n, seed);
    }

    if (scenario is "all" or "churn")
    {
        Scenarios.HalfCrash(n, seed, runs);
    }

    if (scenario is "all" or "detect")
    {
        Scenarios.Detection(n, seed, runs);
    }

    if (scenario is "kv")
    {
        var result = StoreScenarios.PartitionAndHeal(new StoreScenarios.PartitionOptions
        {
            Nodes = n,
            Seed = seed,
            Keys = int.Parse(Arg("--keys", "200"), CultureInfo.InvariantCulture),
            WritesPerSecond = double.Parse(Arg("--rate", "20"), CultureInfo.InvariantCulture),
            Loss = double.Parse(Arg("--loss", "0.1"), CultureInfo.InvariantCulture),
            StreamLoss = double.Parse(Arg("--stream-loss", "0"), CultureInfo.InvariantCulture),
            Partition = TimeSpan.FromSeconds(double.Parse(Arg("--partition", "60"), CultureInfo.InvariantCulture)),
            Before = TimeSpan.FromSeconds(double.Parse(Arg("--before", "20"), CultureInfo.InvariantCulture)),
            WarmStart = args.Contains("--warm"),
        });
        if (result.Violations.Count > 0)
        {
            Console.WriteLine($"# FAILED at seed {seed}: replay with the same arguments ({string.Join(' ', args)})");
            return 1;
        }
    }
}

if (scenario is "all" or "loss")
{
    Scenarios.FalsePositives(nodes.Min(), seed, 0.10);
    Scenarios.FalsePositives(nodes.Min(), seed, 0.30);
}

if (scenario is "traffic")
{
    Scenarios.Traffic(nodes.Max(), seed);
}

Console.WriteLine($"# done in {sw.Elapsed.TotalSeconds:F1} s wall");
return 0;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
