using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Lashup.Host.Tests.Support;
using Xunit.Abstractions;

namespace Lashup.Examples.Tests.FiveHosts;

/// <summary>
/// Runs <c>examples/five-hosts/run.sh</c> as shipped (root; CI runs as root): five daemons from the installed layout in
/// network namespaces, a partition with writes on both sides, the heal. The script checks every claim itself and exits
/// non-zero on the first that fails; this test asserts its exit code and key lines, then that nothing is left behind
/// (no namespace, no process, no nft table), calling <c>run.sh --down</c> whatever happened.
/// </summary>
public sealed partial class FiveHostsExampleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromMinutes(10);
    private static readonly string Script = Path.Combine(TestEnvironment.RepoRoot, "examples", "five-hosts", "run.sh");
    private static readonly string Layout = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "install");
    private static readonly string[] OurNamespaces = ["lashup-h1", "lashup-h2", "lashup-h3", "lashup-h4", "lashup-h5", "lashup-five-br"];

    [SkippableFact]
    public async Task RunSh_PartitionAndHeal_EveryCheckPassesAndNothingIsLeft()
    {
        var root = Environment.UserName == "root";
        var tools = new[] { "ip", "nft", "dig" }.All(TestEnvironment.HasCommand);
        if (TestEnvironment.IsCi)
        {
            Assert.True(root && tools, "CI runs as root with iproute2, nftables and dnsutils: this test must run there");
        }

        Skip.IfNot(root && tools, "needs root, ip, nft and dig (network namespaces, nftables, DNS on port 53)");
        if (!File.Exists(Path.Combine(Layout, "lashup")))
        {
            // Off CI (test.sh publishes it after the build): build the installed layout the script runs.
            var publish = await RunAsync(PublishTimeout, Path.Combine(TestEnvironment.RepoRoot, "packaging", "publish.sh"), Layout);
            Assert.True(publish.ExitCode == 0, $"packaging/publish.sh {Layout} exited {publish.ExitCode}:\n{publish.Output}");
        }

        var clock = Stopwatch.StartNew();
        (int ExitCode, string Output) run;
        try
        {
            run = await RunAsync(ScriptTimeout, Script, "--layout", Layout);
        }
        finally
        {
            var down = await RunAsync(TimeSpan.FromSeconds(60), Script, "--down");
            output.WriteLine($"run.sh --down: exit {down.ExitCode} {down.Output.Trim()}");
        }

        output.WriteLine($"run.sh took {clock.Elapsed.TotalSeconds:F1} s:\n{run.Output}");
        var leftovers = await LeftoversAsync();
        Assert.True(leftovers.Count == 0, "left behind: " + string.Join("; ", leftovers) + "\n" + run.Output);
        Assert.True(run.ExitCode == 0, $"run.sh exited {run.ExitCode}:\n{run.Output}");
        Assert.Contains("all 5 alive on every host", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"\$ dig @10\.77\.0\.5 \+short web\.lashup\.directory .*\n10\.77\.0\.1\n", run.Output);
        Assert.Contains("detected on both sides after", run.Output, StringComparison.Ordinal);
        Assert.Equal(7, Regex.Matches(run.Output, "-> acknowledged").Count);
        Assert.Contains("(on h1): 10.77.0.2\n", run.Output, StringComparison.Ordinal);
        Assert.Contains("(on h5): 10.77.0.4\n", run.Output, StringComparison.Ordinal);
        var converged = Converged().Match(run.Output);
        Assert.True(converged.Success, "no convergence line:\n" + run.Output);
        output.WriteLine($"converged {converged.Groups[1].Value} s after the heal");
        Assert.True(double.Parse(converged.Groups[1].Value, CultureInfo.InvariantCulture) < 60);
        Assert.Contains("(on h5): 10.77.0.2 10.77.0.4\n", run.Output, StringComparison.Ordinal);
        Assert.Contains("five-hosts: all checks passed", run.Output, StringComparison.Ordinal);
        Assert.Contains("five-hosts: torn down", run.Output, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"converged (\d+\.\d{3}) s after the heal: \d+ keys, the same on h1\.\.h5, all 7 acknowledged writes present")]
    private static partial Regex Converged();

    /// <summary>What the example could have left: its namespaces, a process of its state folder, an nft table of its name.</summary>
    private static async Task<List<string>> LeftoversAsync()
    {
        var leftovers = new List<string>();
        var namespaces = (await RunAsync(TimeSpan.FromSeconds(30), "ip", "netns", "list")).Output
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0]);
        leftovers.AddRange(namespaces.Where(OurNamespaces.Contains).Select(n => "namespace " + n));
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            try
            {
                var cmdline = (await File.ReadAllTextAsync(Path.Combine(dir, "cmdline"))).Replace('\0', ' ');
                if (cmdline.Contains("/tmp/lashup-five-hosts/", StringComparison.Ordinal))
                {
                    leftovers.Add($"process {Path.GetFileName(dir)}: {cmdline}");
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        if ((await RunAsync(TimeSpan.FromSeconds(30), "nft", "list", "tables")).Output.Contains("lashup_five", StringComparison.Ordinal))
        {
            leftovers.Add("nft table lashup_five in the root namespace");
        }

        if (Directory.Exists("/tmp/lashup-five-hosts"))
        {
            leftovers.Add("folder /tmp/lashup-five-hosts");
        }

        return leftovers;
    }

    /// <summary>Runs a command to completion within <paramref name="timeout"/> (killed with its children after it); exit code and output.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, string command, params string[] args)
    {
        var info = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestEnvironment.RepoRoot };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var text = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            lock (text)
            {
                return (-1, $"{command} {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s (killed):\n{text}");
            }
        }

        // The asynchronous readers are done only after the parameterless wait.
        await process.WaitForExitAsync();
        lock (text)
        {
            return (process.ExitCode, text.ToString());
        }

        void Append(string? line)
        {
            if (line is not null)
            {
                lock (text)
                {
                    text.Append(line).Append('\n');
                }
            }
        }
    }
}
