using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core.Runtime;
using Lashup.TestSupport.Conformance;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Lashup.Plugins.Core.Tests.Conformance;

/// <summary>
/// The core's membership (a real runtime on loopback, UDP and TCP on ephemeral ports; peers are more runtimes seeded
/// with its address) held to the conformance suite the kit's fake passes (FakeClusterMembershipConformanceTests).
/// </summary>
public sealed class CoreRuntimeMembershipConformanceTests : ClusterMembershipConformance, IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-membership-conformance-").FullName;
    private readonly Dictionary<string, CoreRuntime> _runtimes = new(StringComparer.Ordinal);

    protected override int WatchBacklog => 16;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes.Values)
        {
            await runtime.StopAsync(CancellationToken.None);
            await runtime.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    protected override async Task<IClusterMembership> StartAsync(string localName) => await StartRuntimeAsync(localName, []);

    protected override Task JoinAsync(IClusterMembership membership, string name) =>
        StartRuntimeAsync(name, [((CoreRuntime)membership).Address!]);

    protected override async Task LeaveAsync(IClusterMembership membership, string name)
    {
        // Stopping leaves gracefully (a "left" record is flooded) and disposes the runtime.
        await _runtimes[name].StopAsync(CancellationToken.None);
        _runtimes.Remove(name);
    }

    private async Task<CoreRuntime> StartRuntimeAsync(string name, List<string> seeds)
    {
        var options = new CoreOptions { Listen = "127.0.0.1:0", Seeds = seeds };
        var runtime = new CoreRuntime(Options.Create(options), new NodeInfo(name, "conformance", Path.Combine(_dir, name)), TimeProvider.System, NullLoggerFactory.Instance)
        {
            WatchBacklog = WatchBacklog,
        };
        _runtimes.Add(name, runtime);
        await runtime.StartAsync(CancellationToken.None);
        return runtime;
    }
}
