using System.Diagnostics;
using System.Text.RegularExpressions;
using Lashup.Plugins.LoadBalancer.Addresses;

namespace Lashup.Plugins.LoadBalancer.Leftovers;

/// <summary>
/// The table an earlier <c>nftables</c> backend left, when the backend has been switched to another one: the nftables
/// backend records its table's name in the load balancer's state folder (<c>nftables.table</c>), and since that plugin is
/// not loaded once another backend is chosen, the load balancer deletes the table itself before the new backend
/// programs anything (two data planes must not both DNAT one VIP).
/// </summary>
internal static partial class NftablesLeftover
{
    /// <summary>The file the nftables backend writes (kept in step with its <c>NftablesBackend.StateFile</c>).</summary>
    public const string StateFile = "nftables.table";

    /// <summary>Deletes the recorded table, if any, then the record; the table's name, or null when there was none.</summary>
    /// <param name="stateDirectory">The load balancer's state folder.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The table deleted, or null.</returns>
    public static async Task<string?> RemoveAsync(string stateDirectory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(stateDirectory, StateFile);
        if (!File.Exists(path))
        {
            return null;
        }

        var table = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
        if (TableName().IsMatch(table))
        {
            if (Executables.Find("nft") is not { } nft)
            {
                // No nft on this host any more: no nftables table can be there either.
                File.Delete(path);
                return null;
            }

            var info = new ProcessStartInfo(nft) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add("-f");
            info.ArgumentList.Add("-");
            using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start nft");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            string error;
            try
            {
                var reading = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.StandardInput.WriteAsync($"add table inet {table}\ndelete table inet {table}\n".AsMemory(), timeout.Token).ConfigureAwait(false);
                process.StandardInput.Close();
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                error = (await reading.ConfigureAwait(false)).Trim();
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw;
            }

            if (process.ExitCode != 0)
            {
                // Two data planes would serve the VIPs: this load balancer stays unready until the table is gone.
                throw new InvalidOperationException($"the table inet {table} the nftables backend left (it would go on DNATing the VIPs) could not be deleted: {error}; delete it (nft delete table inet {table}) or run the daemon with CAP_NET_ADMIN, or set backend = \"nftables\" again");
            }
        }

        File.Delete(path);
        return table;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex TableName();
}
