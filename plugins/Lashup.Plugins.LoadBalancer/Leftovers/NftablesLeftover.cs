using System.Diagnostics;
using System.Text.RegularExpressions;

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
            var info = new ProcessStartInfo("nft") { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add("-f");
            info.ArgumentList.Add("-");
            Process? started;
            try
            {
                started = Process.Start(info);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No nft on this host any more: no nftables table can be there either.
                File.Delete(path);
                return null;
            }

            using var process = started ?? throw new InvalidOperationException("cannot start nft");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.StandardInput.WriteAsync($"add table inet {table}\ndelete table inet {table}\n".AsMemory(), timeout.Token).ConfigureAwait(false);
            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"the nftables backend's table inet {table} could not be deleted: {(await error.ConfigureAwait(false)).Trim()}");
            }
        }

        File.Delete(path);
        return table;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex TableName();
}
