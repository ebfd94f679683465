using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Lashup.Plugins.LoadBalancer.Addresses;

/// <summary>
/// The VIP addresses this node adds to <c>lo</c>: IPv4 addresses labelled <see cref="Label"/>, which marks them as the
/// load balancer's (it never touches another address). A fake in tests; <see cref="IpAddressTable"/> for real.
/// </summary>
internal interface ILocalAddressTable
{
    /// <summary>The label of the addresses the load balancer owns.</summary>
    public const string Label = "lo:lashup";

    /// <summary>Null when this table can add and remove addresses; else why not (shown as the reason a VIP is not served).</summary>
    string? Unavailable { get; }

    /// <summary>The addresses on <c>lo</c> labelled <see cref="Label"/>.</summary>
    Task<IReadOnlySet<IPAddress>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="addresses"/> to <c>lo</c> with the label (ones already there are fine).</summary>
    Task AddAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken);

    /// <summary>Removes <paramref name="addresses"/> (labelled ones only; ones already gone are fine).</summary>
    Task RemoveAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken);

    /// <summary>Whether this host has <paramref name="address"/> (on any interface, or through a route of type local).</summary>
    bool IsLocal(IPAddress address);
}

/// <summary>
/// <see cref="ILocalAddressTable"/> through iproute2: <c>ip -j -4 addr show dev lo</c> to list, <c>ip -force -batch -</c>
/// to add or remove many addresses in one process. Needs root, or CAP_NET_ADMIN as an ambient capability (the package's
/// systemd unit), which <c>ip</c> inherits. With <c>netns</c>, works inside that network namespace (<c>ip -n</c>), which
/// is how its tests run.
/// </summary>
internal sealed class IpAddressTable : ILocalAddressTable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);
    private readonly string? _netns;

    /// <param name="netns">The network namespace to work in (tests), or null for the daemon's own.</param>
    /// <param name="netAdmin">Whether <c>ip</c> gets CAP_NET_ADMIN; null: <see cref="NetAdmin.PassedToChildren"/>.</param>
    public IpAddressTable(string? netns = null, bool? netAdmin = null)
    {
        _netns = netns;
        Unavailable = !OperatingSystem.IsLinux() ? "adding VIP addresses to lo needs Linux"
            : !(netAdmin ?? NetAdmin.PassedToChildren()) ? "it is not an address of this host, and adding it to lo needs root (CAP_NET_ADMIN)"
            : FindIp() is null ? "it is not an address of this host, and adding it to lo needs the ip command (iproute2), which is not installed"
            : null;
    }

    public string? Unavailable { get; }

    public async Task<IReadOnlySet<IPAddress>> ListAsync(CancellationToken cancellationToken)
    {
        var json = await RunAsync(["-j", "-4", "addr", "show", "dev", "lo"], null, cancellationToken).ConfigureAwait(false);
        var result = new HashSet<IPAddress>();
        using var document = JsonDocument.Parse(json.Length == 0 ? "[]" : json);
        foreach (var link in document.RootElement.EnumerateArray())
        {
            if (!link.TryGetProperty("addr_info", out var infos))
            {
                continue;
            }

            foreach (var info in infos.EnumerateArray())
            {
                if (info.TryGetProperty("label", out var label) && label.GetString() == ILocalAddressTable.Label
                    && info.TryGetProperty("local", out var local) && IPAddress.TryParse(local.GetString(), out var address))
                {
                    result.Add(address);
                }
            }
        }

        return result;
    }

    public Task AddAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken) =>
        BatchAsync("add", addresses, cancellationToken);

    public Task RemoveAsync(IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken) =>
        BatchAsync("del", addresses, cancellationToken);

    public bool IsLocal(IPAddress address)
    {
        if (_netns is not null)
        {
            return false;
        }

        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task BatchAsync(string verb, IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken)
    {
        if (addresses.Count == 0)
        {
            return;
        }

        var script = new StringBuilder();
        foreach (var address in addresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork))
        {
            script.Append("addr ").Append(verb).Append(' ').Append(address).Append("/32 dev lo label ").Append(ILocalAddressTable.Label).Append('\n');
        }

        // -force: one address already there (add) or already gone (del) does not stop the others; the next list tells.
        await RunAsync(["-force", "-batch", "-"], script.ToString(), cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> RunAsync(string[] arguments, string? input, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(FindIp() ?? "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        if (_netns is not null)
        {
            info.ArgumentList.Add("-n");
            info.ArgumentList.Add(_netns);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start ip");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input.AsMemory(), timeout.Token).ConfigureAwait(false);
                process.StandardInput.Close();
            }

            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            // With -force, ip reports each failed line and exits 1; lines that failed because the address was already
            // there (or already gone) are what we wanted.
            var stderr = (await error.ConfigureAwait(false)).Trim();
            var failures = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(l => !l.Contains("File exists", StringComparison.Ordinal) && !l.Contains("Cannot assign requested address", StringComparison.Ordinal)
                    && !l.StartsWith("Command failed", StringComparison.Ordinal))
                .ToList();
            if (process.ExitCode != 0 && failures.Count > 0)
            {
                throw new InvalidOperationException($"ip {string.Join(' ', arguments)} failed: {string.Join("; ", failures)}");
            }

            return await output.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill();
            throw new TimeoutException($"ip {string.Join(' ', arguments)} did not finish within {CommandTimeout.TotalSeconds:0}s");
        }
    }

    private static string? FindIp() => Executables.Find("ip");
}
