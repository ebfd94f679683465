using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process: the repository's build rules (warnings as errors, central package versions) would trip the projects
// BenchmarkDotNet otherwise generates. The toolchain is a mutator, so it applies to every job, including those a class
// asks for ([ShortRunJob], [Config]); a class that asks for none runs BenchmarkDotNet's default job.
if (args is ["index-memory", .. var rest])
{
    Lashup.Benchmarks.IndexMemory.Run(rest);
    return;
}

if (args is ["overlay-iperf", .. var iperfArgs])
{
    Lashup.Benchmarks.OverlayIperf.Run(iperfArgs);
    return;
}

if (args is ["nft-scale", .. var nftArgs])
{
    Lashup.Benchmarks.NftScale.Run(nftArgs);
    return;
}

if (args is ["rtnl-scale", .. var rtnlArgs])
{
    Lashup.Benchmarks.RtnlScale.Run(rtnlArgs);
    return;
}

if (args is ["value-memory", .. var valueArgs])
{
    Lashup.Benchmarks.ValueMemory.Run(valueArgs);
    return;
}

var config = DefaultConfig.Instance.AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).AsMutator());
BenchmarkSwitcher.FromAssembly(typeof(Lashup.Benchmarks.DnsCodecBenchmarks).Assembly).Run(args, config);
