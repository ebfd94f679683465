using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests.Integration;

/// <summary>
/// The real <c>lashup</c> binary with the ipvs backend: on a kernel without IPVS (this machine's) the daemon does not
/// start, and says why and what to do; <c>config check</c> locates a bad scheduler.
/// </summary>
public sealed class IpvsDaemonTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _folder = Directory.CreateTempSubdirectory("lashup-ipvs-daemon-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [SkippableFact]
    public async Task Run_KernelWithoutIpvs_FailsToStartWithTheBackendsMessage()
    {
        var expected = await RealKernel.UnsupportedMessageAsync();
        Skip.If(expected is null, "this kernel has IPVS and the test may use it: the daemon would start");
        var config = WriteConfig("");

        using var daemon = LashupProcess.Start("run", "--config", config);
        await daemon.WaitForExitAsync(Timeout);

        Assert.NotEqual(0, daemon.ExitCode);
        Assert.Contains("lashup: failed to start: loadbalancer failed to start: " + expected, daemon.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_BogusScheduler_ErrorWithFileAndLine()
    {
        var config = WriteConfig("[loadbalancer.ipvs]\nscheduler = \"bogus\"\n");

        var (code, output) = await LashupProcess.RunAsync(Timeout, "config", "check", config);

        Assert.Equal(2, code);
        Assert.Contains(
            $"error: {config}:19:1: loadbalancer.ipvs.scheduler: expected one of the kernel's IPVS schedulers (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos), got \"bogus\"",
            output,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_IpvsWithDefaults_Ok()
    {
        var config = WriteConfig("[loadbalancer.ipvs]\nscheduler = \"sh\"\n");

        var (code, output) = await LashupProcess.RunAsync(Timeout, "config", "check", config);

        Assert.True(code == 0, output);
        Assert.Contains("loadbalancer.backend/ipvs", output, StringComparison.Ordinal);
    }

    /// <summary>A config of the core and the load balancer with backend = "ipvs"; <paramref name="extra"/> starts at line 18.</summary>
    private string WriteConfig(string extra)
    {
        var path = Path.Combine(_folder, "lashup.toml");
        File.WriteAllText(path, TestEnvironment.NodeToml("node-1", "ipvs", $"127.0.0.1:{TestEnvironment.FreePort()}", $"127.0.0.1:{TestEnvironment.FreePort()}") + """
            [loadbalancer]
            backend = "ipvs"

            """ + extra);
        return path;
    }
}
