using System.Text.Json;
using Lashup.Host.Tests.Support;

namespace Lashup.Plugins.LoadBalancer.Tests.Integration;

/// <summary>
/// A VIP whose address is not one of the host's, on one real daemon with the default load-balancer settings (no
/// <c>listen_address</c>): the proxy needs the address local, so the load balancer adds it to <c>lo</c> (labelled
/// <c>lo:lashup</c>) when it runs as root, and otherwise lists the VIP as not programmed, with why. The root case runs
/// in a network namespace the test creates and deletes (the host's <c>lo</c> is never touched); the unprivileged case
/// runs the daemon as <c>nobody</c> when the test runs as root.
/// </summary>
[Collection(LoadBalancerDaemonCollection.Name)]
public sealed class VipAddressDaemonTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const string VipAddress = "192.0.2.10";

    [SkippableFact]
    public async Task NonLocalVip_WithoutRoot_ListedNotProgrammed_WithTheReason()
    {
        var asNobody = Environment.IsPrivilegedProcess;
        Skip.If(asNobody && !TestEnvironment.HasCommand("setpriv"), "running the daemon unprivileged needs setpriv (util-linux)");
        using var node = new SingleNode(world: asNobody);
        // Root's test drops the daemon's privileges: setpriv runs it as nobody, with a home it may write.
        IReadOnlyList<string> wrapper = asNobody
            ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", $"HOME={node.Folder}", $"DOTNET_CLI_HOME={node.Folder}"]
            : [];
        node.Start(wrapper, keepOnStop: true);
        await node.WaitReadyAsync([]);
        var port = TestEnvironment.FreePort();

        var (code, output) = await LashupProcess.RunAsync(Timeout, "vip", "add", $"{VipAddress}:{port}/tcp", "--backend", "127.0.0.1:9", "--json", "--api", node.Api);

        Assert.True(code == 0, output + node.Output);
        var vip = Json(output);
        Assert.False(vip.GetProperty("programmed").GetBoolean());
        Assert.Equal($"{VipAddress}: it is not an address of this host, and adding it to lo needs root (CAP_NET_ADMIN)", vip.GetProperty("reason").GetString());
        var list = await LashupProcess.RunAsync(Timeout, "vip", "list", "--api", node.Api);
        Assert.Contains("no: 192.0.2.10: it is not an address of this host", list.Output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task NonLocalVip_AsRoot_AddedToLoLabelled_ServesTraffic_RemovedOnStopUnlessKept()
    {
        Skip.If(!Environment.IsPrivilegedProcess && !TestEnvironment.IsCi, "needs root (network namespaces, addresses on lo)");
        Skip.If(!TestEnvironment.HasCommand("ip"), "needs ip (iproute2)");
        using var ns = await NetworkNamespace.CreateAsync();
        using var node = new SingleNode(world: false);
        IReadOnlyList<string> inside = ["ip", "netns", "exec", ns.Name];
        var port = TestEnvironment.FreePort();
        var backendPort = TestEnvironment.FreePort();
        ns.Start("python3", "-m", "http.server", backendPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1");

        // keep_on_stop = false: what the daemon programmed goes when it stops.
        node.Start(inside, keepOnStop: false);
        await node.WaitReadyAsync(inside);
        var (code, output) = await LashupProcess.RunWithAsync(inside, Timeout, "vip", "add", $"{VipAddress}:{port}/tcp", "--backend", $"127.0.0.1:{backendPort}", "--json", "--api", node.Api);
        Assert.True(code == 0, output + node.Output);
        Assert.True(Json(output).GetProperty("programmed").GetBoolean(), output);
        Assert.Contains($"inet {VipAddress}/32 scope global lo:lashup", await ns.RunAsync("ip", "-4", "-o", "addr", "show", "dev", "lo"), StringComparison.Ordinal);
        var status = "";
        for (var i = 0; i < 50 && status != "200"; i++)
        {
            // The backend (python) may still be starting.
            status = (await ns.RunAsync("curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", $"http://{VipAddress}:{port}/")).Trim();
            await Task.Delay(200);
        }

        Assert.Equal("200", status);
        await node.StopAsync();
        Assert.DoesNotContain(VipAddress, await ns.RunAsync("ip", "-4", "-o", "addr", "show", "dev", "lo"), StringComparison.Ordinal);

        // keep_on_stop = true (the default): a restart adds the address again from the store, and a stop leaves it.
        node.Start(inside, keepOnStop: true);
        await node.WaitReadyAsync(inside);
        await WaitAsync(async () => (await ns.RunAsync("ip", "-4", "-o", "addr", "show", "dev", "lo")).Contains($"{VipAddress}/32", StringComparison.Ordinal), "the restarted daemon puts the address back");
        await node.StopAsync();
        Assert.Contains($"inet {VipAddress}/32 scope global lo:lashup", await ns.RunAsync("ip", "-4", "-o", "addr", "show", "dev", "lo"), StringComparison.Ordinal);
        // Deleting the namespace (Dispose) removes it with everything else.
    }

    private static JsonElement Json(string output) =>
        JsonDocument.Parse(output.Split('\n').First(l => l.StartsWith('{'))).RootElement.Clone();

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"never: {what}");
            await Task.Delay(200);
        }
    }

    /// <summary>One daemon with its own folder; the config is the default one's load balancer, nothing else but the core.</summary>
    private sealed class SingleNode : IDisposable
    {
        private readonly int _adminPort = TestEnvironment.FreePort();
        private readonly int _corePort = TestEnvironment.FreePort();
        private LashupProcess? _process;

        public SingleNode(bool world)
        {
            Folder = Directory.CreateTempSubdirectory("lashup-lb-").FullName;
            if (world && !OperatingSystem.IsWindows())
            {
                // The daemon runs as another user: it writes its data folder here.
                File.SetUnixFileMode(Folder, (UnixFileMode)0x1FF);
            }
        }

        public string Folder { get; }

        public string Api => $"127.0.0.1:{_adminPort}";

        public string Output => _process?.Output ?? "";

        public void Start(IReadOnlyList<string> wrapper, bool keepOnStop)
        {
            var config = Path.Combine(Folder, "lashup.toml");
            File.WriteAllText(config, TestEnvironment.NodeToml("node-1", "lb", Api, $"127.0.0.1:{_corePort}") + $"""
                [loadbalancer]
                backend = "userspace"
                keep_on_stop = {(keepOnStop ? "true" : "false")}

                """);
            _process?.Dispose();
            _process = LashupProcess.StartWith(wrapper, "run", "--config", config);
        }

        public async Task WaitReadyAsync(IReadOnlyList<string> wrapper)
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (true)
            {
                Assert.False(_process!.HasExited, $"the daemon exited:\n{_process.Output}");
                var (code, _) = await LashupProcess.RunWithAsync(wrapper, Timeout, "vip", "list", "--api", Api);
                if (code == 0)
                {
                    return;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the daemon never answered:\n{_process.Output}");
                await Task.Delay(300);
            }
        }

        /// <summary>SIGTERM, and waits for the graceful stop.</summary>
        public async Task StopAsync()
        {
            _process!.Terminate();
            await _process.WaitForExitAsync(Timeout);
        }

        public void Dispose()
        {
            _process?.Dispose();
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
