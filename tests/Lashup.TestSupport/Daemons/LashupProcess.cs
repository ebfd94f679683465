using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Lashup.Host.Tests.Support;

/// <summary>Runs the real <c>lashup</c> binary. Every wait is bounded; the process is killed on dispose if still running.</summary>
public sealed partial class LashupProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly StringBuilder _standardOutput = new();
    private readonly Lock _lock = new();

    private LashupProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data, standardOutput: true);
        _process.ErrorDataReceived += (_, e) => Append(e.Data, standardOutput: false);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_lock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>What the process wrote to stdout alone (<see cref="Output"/> has stdout and stderr as they came).</summary>
    public string StandardOutput
    {
        get
        {
            lock (_lock)
            {
                return _standardOutput.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static LashupProcess Start(params string[] args) => StartWith([], args);

    /// <summary>
    /// Starts <c>lashup ARGS</c> with <paramref name="environment"/> on top of the defaults (see <see cref="StartWith"/>;
    /// a null value removes a variable).
    /// </summary>
    public static LashupProcess StartWithEnvironment(IReadOnlyDictionary<string, string?> environment, params string[] args) =>
        StartProcess([], environment, args);

    /// <summary>
    /// Starts <c>lashup ARGS</c> through <paramref name="wrapper"/>, a command that runs the rest of its command line
    /// (<c>ip netns exec NS</c>, <c>setpriv --reuid ...</c>) and becomes it (exec), so that signals reach the daemon.
    /// </summary>
    public static LashupProcess StartWith(IReadOnlyList<string> wrapper, params string[] args) => StartProcess(wrapper, new Dictionary<string, string?>(), args);

    private static LashupProcess StartProcess(IReadOnlyList<string> wrapper, IReadOnlyDictionary<string, string?> environment, string[] args)
    {
        var info = new ProcessStartInfo(wrapper.Count > 0 ? wrapper[0] : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // The test runner's own config and systemd context must not leak into the daemons: a machine may have a real
        // /etc/lashup/lashup.toml (a package test installs one while other tests run), and a runner started by systemd
        // has NOTIFY_SOCKET set. Nor do a machine's vendor plugins (/usr/lib/lashup/plugins.d) load into them.
        foreach (var name in (string[])["LASHUP_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"])
        {
            info.Environment.Remove(name);
        }

        info.Environment["LASHUP_SYSTEM_CONFIG"] = TestEnvironment.NoSystemConfig;
        info.Environment["LASHUP_VENDOR_PLUGINS"] = TestEnvironment.NoVendorPlugins;
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        foreach (var part in wrapper.Skip(1).Concat(wrapper.Count > 0 ? ["dotnet"] : []))
        {
            info.ArgumentList.Add(part);
        }

        info.ArgumentList.Add(TestEnvironment.HostDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return new LashupProcess(Process.Start(info) ?? throw new InvalidOperationException("cannot start lashup"));
    }

    /// <summary>Runs a CLI command to completion (bounded) and returns its exit code and output.</summary>
    public static Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, params string[] args) => RunWithAsync([], timeout, args);

    /// <summary>As <see cref="RunAsync"/>, through <paramref name="wrapper"/> (see <see cref="StartWith"/>).</summary>
    public static async Task<(int ExitCode, string Output)> RunWithAsync(IReadOnlyList<string> wrapper, TimeSpan timeout, params string[] args)
    {
        using var p = StartWith(wrapper, args);
        await p.WaitForExitAsync(timeout);
        return (p.ExitCode, p.Output);
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"lashup did not exit within {timeout}; output:\n{Output}");
        }
    }

    /// <summary>Sends SIGTERM, as systemd or kubelet would.</summary>
    public void Terminate()
    {
        if (!_process.HasExited && Kill(_process.Id, 15) != 0)
        {
            throw new InvalidOperationException($"kill failed: {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>SIGKILL: no goodbye, as a crash.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process.Dispose();
    }

    private void Append(string? line, bool standardOutput)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _output.AppendLine(line);
            if (standardOutput)
            {
                _standardOutput.AppendLine(line);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
