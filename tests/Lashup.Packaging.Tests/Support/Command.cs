using System.Diagnostics;

namespace Lashup.Packaging.Tests.Support;

/// <summary>What a finished command returned.</summary>
public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError)
{
    /// <summary>Both streams, for assertion messages.</summary>
    public string Output => StandardOutput + StandardError;
}

/// <summary>Runs system commands (dpkg, ip, setpriv, dig, curl) to completion, each bounded.</summary>
public static class Command
{
    /// <summary>
    /// Runs <paramref name="command"/> (the file, then its arguments) with at most <paramref name="timeout"/>; killed and
    /// reported as a timeout past it. <paramref name="environment"/> is applied on top of this process's (null removes).
    /// </summary>
    public static async Task<CommandResult> RunAsync(TimeSpan timeout, IReadOnlyList<string> command, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var part in command.Skip(1))
        {
            info.ArgumentList.Add(part);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
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

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {command[0]}");
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        var output = process.StandardOutput.ReadToEndAsync(cts.Token);
        var error = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return new CommandResult(process.ExitCode, await output, await error);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', command)} did not finish within {timeout}");
        }
    }

    /// <summary>As <see cref="RunAsync"/>, and fails the test unless the command exits 0.</summary>
    public static async Task<CommandResult> RunCheckedAsync(TimeSpan timeout, params string[] command)
    {
        var result = await RunAsync(timeout, command);
        Assert.True(result.ExitCode == 0, $"{string.Join(' ', command)} exited {result.ExitCode}:\n{result.Output}");
        return result;
    }
}
