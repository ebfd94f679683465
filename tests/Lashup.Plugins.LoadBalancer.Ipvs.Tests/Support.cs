using System.Diagnostics;
using Lashup.Netlink;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests;

/// <summary>What this machine's kernel says to the real backend.</summary>
internal static class RealKernel
{
    /// <summary>
    /// The message the real backend's <see cref="IpvsBackend.EnsureSupportedAsync"/> fails with on this machine (no
    /// IPVS, no CAP_NET_ADMIN, no netlink), or null when it can program IPVS here.
    /// </summary>
    public static async Task<string?> UnsupportedMessageAsync()
    {
        var state = Directory.CreateTempSubdirectory("lashup-ipvs-probe-").FullName;
        try
        {
            using var backend = new IpvsBackend(() => NetlinkSocket.Open(NetlinkSocket.NETLINK_GENERIC, TimeSpan.FromSeconds(5)), "wlc", state, Environment.IsPrivilegedProcess, NullLogger<IpvsBackend>.Instance);
            await backend.EnsureSupportedAsync(default);
            return null;
        }
        catch (InvalidOperationException e)
        {
            return e.Message;
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>Runs a command to completion (30 s at most); its exit code and output.</summary>
    public static async Task<(int Code, string Output)> RunAsync(params string[] command)
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
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
