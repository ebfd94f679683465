using System.Net;
using System.Net.Sockets;
using System.Text;
using Lashup.Host.Tests.Support;
using Lashup.TestSupport;

namespace Lashup.Host.Tests.Cli;

/// <summary>
/// The real daemon under a stand-in for systemd: a Unix datagram socket bound by the test and named in NOTIFY_SOCKET
/// (a path, or an abstract name written with '@' as systemd does).
/// </summary>
public sealed class SystemdNotifyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Run_WithNotifySocket_SendsReadyWatchdogAndStopping(bool abstractName)
    {
        using var setup = new TempSetup("Fixture.Good");
        var port = TestEnvironment.FreePort();
        var config = setup.WriteConfig("[fixture]\n", port);
        var name = abstractName ? $"@lashup-test-{Guid.NewGuid():N}" : Path.Combine(setup.Root, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(abstractName ? "\0" + name[1..] : name));
        var environment = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = name, ["WATCHDOG_USEC"] = "400000" };
        using var daemon = LashupProcess.StartWithEnvironment(environment, "run", "--config", config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        var messages = new List<string>();

        await ReceiveUntilAsync(socket, messages, m => m.StartsWith("READY=1\n", StringComparison.Ordinal), daemon);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/ready")).StatusCode);
        Assert.Equal("STATUS=starting", messages[0]);
        Assert.Contains("READY=1\nSTATUS=ready", messages);
        var watchdogs = messages.Count(m => m == "WATCHDOG=1");
        await ReceiveUntilAsync(socket, messages, _ => messages.Count(m => m == "WATCHDOG=1") >= watchdogs + 2, daemon);

        daemon.Terminate();
        await ReceiveUntilAsync(socket, messages, m => m.StartsWith("STOPPING=1", StringComparison.Ordinal), daemon, exitAllowed: true);
        await daemon.WaitForExitAsync(Timeout);

        Assert.True(daemon.ExitCode == 0, daemon.Output);
        Assert.Contains("STOPPING=1\nSTATUS=stopping", messages);
        Assert.DoesNotContain(messages, m => m.StartsWith("STATUS=not ready", StringComparison.Ordinal));
        // Logs (journald's) go to stderr; stdout stays for command output.
        Assert.Contains("is up; admin API on", daemon.Output, StringComparison.Ordinal);
        Assert.Equal(string.Empty, daemon.StandardOutput);
    }

    [Fact]
    public async Task Run_SeedsDoNotAnswer_ReadyAnywayWithNotReadyStatusNamingTheReason()
    {
        // A cold start with the seeds down: the service is up (READY=1, so systemd's TimeoutStartSec= does not kill
        // it), and STATUS= and /ready say why it is not ready for traffic.
        using var setup = new TempSetup();
        var port = TestEnvironment.FreePort();
        var deadSeed = $"127.0.0.1:{TestEnvironment.FreePort()}";
        var config = Path.Combine(setup.Root, "node.toml");
        File.WriteAllText(config, TestEnvironment.NodeToml("node-1", "seedless", $"127.0.0.1:{port}", $"127.0.0.1:{TestEnvironment.FreePort()}") +
            $"seeds = [\"{deadSeed}\"]\n");
        var name = Path.Combine(setup.Root, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(name));
        using var daemon = LashupProcess.StartWithEnvironment(new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = name }, "run", "--config", config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };
        var messages = new List<string>();

        await ReceiveUntilAsync(socket, messages, m => m.StartsWith("READY=1\n", StringComparison.Ordinal), daemon);

        Assert.Equal("STATUS=starting", messages[0]);
        var ready = messages[^1];
        Assert.StartsWith("READY=1\nSTATUS=not ready: ", ready, StringComparison.Ordinal);
        Assert.Contains($"no seed has answered yet ({deadSeed})", ready, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/ready")).StatusCode);
        Assert.False(daemon.HasExited, daemon.Output);

        daemon.Terminate();
        await ReceiveUntilAsync(socket, messages, m => m.StartsWith("STOPPING=1", StringComparison.Ordinal), daemon, exitAllowed: true);
        await daemon.WaitForExitAsync(Timeout);
        Assert.True(daemon.ExitCode == 0, daemon.Output);
    }

    [Fact]
    public async Task Run_NotifySocketMissing_WarnsOnceNamingIt()
    {
        using var setup = new TempSetup("Fixture.Good");
        var port = TestEnvironment.FreePort();
        var config = setup.WriteConfig("[fixture]\n", port);
        var missing = Path.Combine(setup.Root, "missing.sock");
        // A watchdog tick every 5 ms: a warning per tick would be hundreds by the time /ready has answered twice.
        var environment = new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = missing, ["WATCHDOG_USEC"] = "10000" };
        using var daemon = LashupProcess.StartWithEnvironment(environment, "run", "--config", config);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(5) };

        using (var cts = new CancellationTokenSource(Timeout))
        {
            while (await StatusOf(http, "/ready") != HttpStatusCode.OK)
            {
                Assert.False(daemon.HasExited, daemon.Output);
                await Task.Delay(50, cts.Token);
            }
        }

        Assert.True(await Poll.UntilAsync(() => daemon.Output.Contains("Cannot notify systemd", StringComparison.Ordinal), Timeout), daemon.Output);
        daemon.Terminate();
        await daemon.WaitForExitAsync(Timeout);

        Assert.True(daemon.ExitCode == 0, daemon.Output);
        var warnings = daemon.Output.Split('\n').Where(l => l.Contains("Cannot notify systemd", StringComparison.Ordinal)).ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains($"Cannot notify systemd through {missing}: no such socket", warning, StringComparison.Ordinal);
    }

    private static async Task<HttpStatusCode?> StatusOf(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>Receives datagrams into <paramref name="messages"/> until one satisfies <paramref name="done"/>; bounded by <see cref="Timeout"/>.</summary>
    private static async Task ReceiveUntilAsync(Socket socket, List<string> messages, Func<string, bool> done, LashupProcess daemon, bool exitAllowed = false)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var buffer = new byte[4096];
        while (true)
        {
            int read;
            try
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                tick.CancelAfter(TimeSpan.FromSeconds(1));
                read = await socket.ReceiveAsync(buffer, SocketFlags.None, tick.Token);
            }
            catch (OperationCanceledException) when (!cts.IsCancellationRequested)
            {
                if (daemon.HasExited && !exitAllowed)
                {
                    throw new InvalidOperationException($"lashup exited with {daemon.ExitCode}; messages: {string.Join(" | ", messages)}\n{daemon.Output}");
                }

                continue;
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no such notification within {Timeout}; messages: {string.Join(" | ", messages)}\n{daemon.Output}");
            }

            var message = Encoding.UTF8.GetString(buffer, 0, read);
            messages.Add(message);
            if (done(message))
            {
                return;
            }
        }
    }
}
