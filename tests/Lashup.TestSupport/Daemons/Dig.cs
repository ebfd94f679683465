using System.Diagnostics;
using System.Globalization;

namespace Lashup.Host.Tests.Support;

/// <summary>The real <c>dig</c> (dnsutils) against a DNS server on 127.0.0.1, for the tests of real daemons.</summary>
public static class Dig
{
    /// <summary>Skips the test when dig is not on the PATH, except on CI, where a missing dig fails it instead.</summary>
    public static void SkipIfMissing() =>
        Skip.If(!TestEnvironment.HasCommand("dig") && !TestEnvironment.IsCi, "dig (dnsutils) is not installed");

    /// <summary>
    /// Runs <c>dig @127.0.0.1 -p PORT +time=2 +tries=TRIES ARGS...</c> and returns what it printed on standard output.
    /// Every run is bounded (15 s).
    /// </summary>
    public static Task<string> RunAsync(int port, int tries, params string[] args) => RunAsync("127.0.0.1", port, tries, args);

    /// <summary>As <see cref="RunAsync(int, int, string[])"/>, against <paramref name="server"/> (a loopback address).</summary>
    public static async Task<string> RunAsync(string server, int port, int tries, params string[] args)
    {
        var info = new ProcessStartInfo("dig") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in (string[])["@" + server, "-p", port.ToString(CultureInfo.InvariantCulture), "+time=2", $"+tries={tries.ToString(CultureInfo.InvariantCulture)}", .. args])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return output;
    }
}
