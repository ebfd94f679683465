using System.Diagnostics;

namespace Lashup.Plugins.LoadBalancer.Nftables.Nft;

/// <summary>
/// Runs the <c>nft</c> tool. nftables has a netlink API, but its rule bytecode is what <c>nft</c> compiles from text:
/// writing that compiler again would be the bulk of this backend, and <c>nft -f</c> already sends a whole script as one
/// atomic netlink transaction, which is what each change needs. So the backend speaks nft's language and reads the
/// kernel's state back as <c>nft -j</c> JSON.
/// </summary>
internal interface INftRunner
{
    /// <summary>Runs <paramref name="script"/> as one transaction (<c>nft -f -</c>): all of it applies, or none.</summary>
    /// <param name="script">The script.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>When it applied.</returns>
    /// <exception cref="NftException">nft refused the script (nothing of it applied).</exception>
    Task RunAsync(string script, CancellationToken cancellationToken);

    /// <summary>Lists <paramref name="table"/> of family <c>inet</c> as JSON (<c>nft -j list table inet T</c>); null when it does not exist.</summary>
    /// <param name="table">The table.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The JSON, or null.</returns>
    Task<string?> ListTableAsync(string table, CancellationToken cancellationToken);
}

/// <summary>nft refused a command; what it said is in the message.</summary>
internal sealed class NftException(string message) : Exception(message);

/// <summary>
/// The <c>nft</c> executable (from the <c>nftables</c> package), with a bound on every call; inside a named network
/// namespace (<c>ip netns exec</c>) when given one (tests).
/// </summary>
internal sealed class ProcessNftRunner(string? netns = null) : INftRunner
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The nft found on the PATH (or in /usr/sbin, /sbin), or null when it is not installed.</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Append("/usr/sbin").Append("/sbin")
            .Where(dir => dir.Length > 0)
            .Select(dir => Path.Combine(dir, "nft"))
            .FirstOrDefault(File.Exists);

    public async Task RunAsync(string script, CancellationToken cancellationToken)
    {
        var (code, _, error) = await ExecuteAsync(["-f", "-"], script, cancellationToken).ConfigureAwait(false);
        if (code != 0)
        {
            throw new NftException($"nft -f refused the change (nothing of it applied): {Summarize(error)}");
        }
    }

    public async Task<string?> ListTableAsync(string table, CancellationToken cancellationToken)
    {
        var (code, output, error) = await ExecuteAsync(["-j", "list", "table", "inet", table], null, cancellationToken).ConfigureAwait(false);
        if (code == 0)
        {
            return output;
        }

        if (error.Contains("No such file or directory", StringComparison.Ordinal))
        {
            return null;
        }

        throw new NftException($"nft list table inet {table} failed: {Summarize(error)}");
    }

    /// <summary>The first lines of nft's complaint (it quotes the offending line of a long script, which is enough).</summary>
    internal static string Summarize(string error)
    {
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var text = string.Join("; ", lines.Take(6));
        return text.Length > 1000 ? text[..1000] + "..." : text.Length == 0 ? "(no message)" : text;
    }

    private async Task<(int Code, string Output, string Error)> ExecuteAsync(string[] arguments, string? input, CancellationToken cancellationToken)
    {
        if (netns is not null)
        {
            arguments = ["netns", "exec", netns, Find() ?? "nft", .. arguments];
        }

        var info = new ProcessStartInfo(netns is null ? Find() ?? "nft" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(info) ?? throw new NftException("cannot start nft");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new NftException($"cannot start nft ({e.Message}): install the nftables package");
        }

        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(CommandTimeout);
            try
            {
                var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var error = process.StandardError.ReadToEndAsync(timeout.Token);
                if (input is not null)
                {
                    try
                    {
                        await process.StandardInput.WriteAsync(input.AsMemory(), timeout.Token).ConfigureAwait(false);
                        process.StandardInput.Close();
                    }
                    catch (IOException)
                    {
                        // nft stopped reading (it exits with its complaint, read below).
                    }
                }

                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
            }
            catch (OperationCanceledException)
            {
                try
                {
                    process.Kill();
                }
                catch (InvalidOperationException)
                {
                }

                if (cancellationToken.IsCancellationRequested)
                {
                    throw;
                }

                throw new TimeoutException($"nft {string.Join(' ', arguments)} did not finish within {CommandTimeout.TotalSeconds:0}s");
            }
        }
    }
}
