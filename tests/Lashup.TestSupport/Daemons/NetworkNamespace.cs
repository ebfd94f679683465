using System.Diagnostics;

namespace Lashup.Host.Tests.Support;

/// <summary>
/// A network namespace of the test's own with <c>lo</c> up (root only); deleted on dispose, with every address, link,
/// nft table and process in it (processes started with <see cref="Start"/> are killed first).
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private readonly List<Process> _processes = [];

    private NetworkNamespace(string name) => Name = name;

    /// <summary>The namespace's name (<c>ip netns</c>).</summary>
    public string Name { get; }

    /// <summary>The prefix that runs a command inside the namespace.</summary>
    public IReadOnlyList<string> Exec => ["ip", "netns", "exec", Name];

    /// <summary>Creates a namespace named <c>lashup-&lt;tag&gt;-&lt;random&gt;</c>.</summary>
    public static async Task<NetworkNamespace> CreateAsync(string tag = "lb")
    {
        var ns = new NetworkNamespace($"lashup-{tag}-{Guid.NewGuid().ToString("N")[..8]}");
        await RunHostAsync(check: true, "ip", "netns", "add", ns.Name);
        await RunHostAsync(check: true, "ip", "-n", ns.Name, "link", "set", "lo", "up");
        return ns;
    }

    /// <summary>
    /// Links this namespace to <paramref name="other"/> with a veth pair, <paramref name="address"/> (CIDR) here and
    /// <paramref name="otherAddress"/> there (and the IPv6 pair when given), both up. Names are random so that several
    /// links coexist.
    /// </summary>
    public async Task LinkAsync(NetworkNamespace other, string address, string otherAddress, string? address6 = null, string? otherAddress6 = null)
    {
        var id = Guid.NewGuid().ToString("N")[..6];
        var here = "vh" + id;
        var there = "vt" + id;
        await RunHostAsync(check: true, "ip", "link", "add", here, "netns", Name, "type", "veth", "peer", "name", there, "netns", other.Name);
        await RunHostAsync(check: true, "ip", "-n", Name, "addr", "add", address, "dev", here);
        await RunHostAsync(check: true, "ip", "-n", other.Name, "addr", "add", otherAddress, "dev", there);
        if (address6 is not null && otherAddress6 is not null)
        {
            // nodad: usable at once (duplicate detection would hold them tentative for a second or two).
            await RunHostAsync(check: true, "ip", "-n", Name, "addr", "add", address6, "dev", here, "nodad");
            await RunHostAsync(check: true, "ip", "-n", other.Name, "addr", "add", otherAddress6, "dev", there, "nodad");
        }

        await RunHostAsync(check: true, "ip", "-n", Name, "link", "set", here, "up");
        await RunHostAsync(check: true, "ip", "-n", other.Name, "link", "set", there, "up");
    }

    /// <summary>Runs a command inside the namespace to completion (bounded); its standard output.</summary>
    public Task<string> RunAsync(params string[] command) => RunHostAsync(check: false, ["ip", "netns", "exec", Name, .. command]);

    /// <summary>Runs a command inside the namespace to completion (bounded); throws with its error when it fails.</summary>
    public Task<string> RunCheckedAsync(params string[] command) => RunHostAsync(check: true, ["ip", "netns", "exec", Name, .. command]);

    /// <summary>Starts a long-running command inside the namespace; killed on dispose.</summary>
    public Process Start(params string[] command) => StartInteractive(null, command);

    /// <summary>
    /// Starts a long-running command inside the namespace with its standard input open to the caller and each line it
    /// prints handed to <paramref name="onLine"/>; killed on dispose.
    /// </summary>
    public Process StartInteractive(Action<string>? onLine, params string[] command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = onLine is not null };
        foreach (var part in (string[])["netns", "exec", Name, .. command])
        {
            info.ArgumentList.Add(part);
        }

        var process = Process.Start(info)!;
        if (onLine is not null)
        {
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    onLine(line);
                }
            };
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            try
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        using var delete = Process.Start("ip", ["netns", "del", Name]);
        delete.WaitForExit(10_000);
    }

    /// <summary>Runs a command on the host to completion (30 s at most); its standard output.</summary>
    public static async Task<string> RunHostAsync(bool check, params string[] command)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var part in command.Skip(1))
        {
            info.ArgumentList.Add(part);
        }

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish within 30s");
        }

        if (check && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', command)} exited {process.ExitCode}: {await error}");
        }

        return await output;
    }
}
