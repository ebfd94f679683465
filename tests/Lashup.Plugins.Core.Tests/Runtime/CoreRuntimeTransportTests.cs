using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Plugins;
using Lashup.Plugins.Core.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Lashup.TestSupport;

namespace Lashup.Plugins.Core.Tests.Runtime;

/// <summary>What the runtime tells its transport: the addresses of the members it sees alive (two runtimes on loopback).</summary>
public sealed class CoreRuntimeTransportTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _dir = Directory.CreateTempSubdirectory("lashup-runtime-transport-").FullName;
    private readonly List<CoreRuntime> _runtimes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var runtime in _runtimes)
        {
            await runtime.StopAsync(CancellationToken.None);
            await runtime.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Members_AMemberSeenAlive_ItsAddressIsExemptFromTheCapsPerSourceUntilItLeaves()
    {
        // Linux answers the whole of 127/8: b runs at another address than a.
        var a = await StartAsync("node-a", "127.0.0.1:0", []);
        var transport = a.Transport!;
        Assert.False(transport.IsMember(IPAddress.Loopback), "a's own address is not a member's");

        var b = await StartAsync("node-b", "127.0.0.2:0", [a.Address!]);
        Assert.True(await WaitAsync(() => a.Members.Any(m => m.Name == "node-b" && m.State == MemberState.Alive)), "b did not join");
        Assert.True(await WaitAsync(() => transport.IsMember(IPAddress.Parse("127.0.0.2"))), "b's address was not passed to the transport");
        Assert.False(transport.IsMember(IPAddress.Loopback));

        await b.StopAsync(CancellationToken.None);
        _runtimes.Remove(b);

        Assert.True(await WaitAsync(() => !transport.IsMember(IPAddress.Parse("127.0.0.2"))), "b left, its address is still exempt");
    }

    private async Task<CoreRuntime> StartAsync(string name, string listen, List<string> seeds)
    {
        var options = new CoreOptions { Listen = listen, Seeds = seeds };
        var runtime = new CoreRuntime(Options.Create(options), new NodeInfo(name, "runtime-transport", Path.Combine(_dir, name)), TimeProvider.System, NullLoggerFactory.Instance);
        _runtimes.Add(runtime);
        await runtime.StartAsync(CancellationToken.None);
        return runtime;
    }

    private static Task<bool> WaitAsync(Func<bool> condition) => Poll.UntilAsync(condition, Timeout);
}
