using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Lashup.Host.Tests.Support;

/// <summary>
/// A lab for overlay backends (root): <c>N</c> "hosts", each a network namespace with a veth on one bridge (in an
/// underlay namespace of its own; host <c>i</c> is 192.168.77.<c>i+1</c>/24), each running a real <c>lashup</c> daemon
/// (<c>ip netns exec</c>) with the overlay on and the backend named in <see cref="StartAsync"/>, and a "container"
/// namespace per host: a veth to its host, <c>&lt;subnet&gt;.2</c> with a default route via the host's
/// <c>&lt;subnet&gt;.1</c>, the subnet read from the daemon (<c>lashup overlay show --json</c>). Nodes are numbered from 0.
/// Every wait is bounded; <see cref="Dispose"/> kills every daemon and deletes every namespace (and with them every link
/// and route), even after a failure half-way through <see cref="StartAsync"/>.
/// </summary>
public sealed class OverlayLab : IDisposable
{
    /// <summary>The underlay network of the hosts.</summary>
    public const string UnderlayPrefix = "192.168.77.";

    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(30);
    private readonly string _root = Directory.CreateTempSubdirectory("lashup-overlay-lab-").FullName;
    private readonly List<NetworkNamespace> _namespaces = [];
    private readonly List<LabNode> _nodes = [];
    private NetworkNamespace? _underlay;

    private OverlayLab(string backend) => Backend = backend;

    /// <summary>The overlay backend every daemon runs (<c>host-routes</c>, <c>vxlan</c>).</summary>
    public string Backend { get; }

    /// <summary>How many hosts.</summary>
    public int Count => _nodes.Count;

    /// <summary>
    /// Builds the lab with <paramref name="nodes"/> hosts running <paramref name="backend"/>, waits (bounded by
    /// <paramref name="timeout"/>, default 90 s) until every daemon holds a subnet and lists every other node as
    /// <c>programmed</c>, then wires each container. <paramref name="overlayToml"/> is appended to every <c>[overlay]</c>
    /// section's config (e.g. an <c>[overlay.vxlan]</c> section).
    /// </summary>
    public static async Task<OverlayLab> StartAsync(string backend, int nodes = 3, string overlayToml = "", TimeSpan? timeout = null, int underlayLossPercent = 0)
    {
        var lab = await CreateAsync(backend, nodes, overlayToml);
        try
        {
            if (underlayLossPercent > 0)
            {
                await lab.SetUnderlayLossAsync(underlayLossPercent);
            }

            await lab.StartAllAsync(timeout ?? TimeSpan.FromSeconds(90));
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Builds the lab's namespaces, links and configs like <see cref="StartAsync"/> but starts no daemon (and wires no
    /// container): for a test that prepares a host first, e.g. a daemon expected to fail (<see cref="RunUntilExitAsync"/>).
    /// </summary>
    public static async Task<OverlayLab> CreateAsync(string backend, int nodes = 3, string overlayToml = "")
    {
        var lab = new OverlayLab(backend);
        try
        {
            await lab.BuildAsync(nodes, overlayToml);
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts node <paramref name="i"/>'s daemon expecting it to exit (a refused start) and waits (bounded by
    /// <paramref name="timeout"/>) until it has; returns it (exit code, output). Throws when it is still running.
    /// </summary>
    public async Task<LashupProcess> RunUntilExitAsync(int i, TimeSpan timeout)
    {
        var node = _nodes[i];
        node.Process?.Dispose();
        node.KilledOnPurpose = true;
        node.Process = LashupProcess.StartWith(node.Host.Exec, "run", "--config", node.ConfigPath);
        await node.Process.WaitForExitAsync(timeout);
        return node.Process;
    }

    /// <summary>Node <paramref name="i"/>'s name (<c>node-1</c> for 0).</summary>
    public string NodeName(int i) => _nodes[i].Name;

    /// <summary>Node <paramref name="i"/>'s underlay address.</summary>
    public IPAddress Underlay(int i) => _nodes[i].Underlay;

    /// <summary>Node <paramref name="i"/>'s overlay subnet, as its daemon reported it when its container was wired.</summary>
    public IPNetwork Subnet(int i) => _nodes[i].Subnet ?? throw new InvalidOperationException($"{_nodes[i].Name} holds no subnet yet");

    /// <summary>The address of node <paramref name="i"/>'s container: its subnet's second address (<c>.2</c> of a /24).</summary>
    public IPAddress ContainerAddress(int i) => Offset(Subnet(i), 2);

    /// <summary>The host namespace of node <paramref name="i"/> (for <c>ip route</c>, <c>ip link</c> there).</summary>
    public NetworkNamespace HostNamespace(int i) => _nodes[i].Host;

    /// <summary>The container namespace of node <paramref name="i"/>.</summary>
    public NetworkNamespace ContainerNamespace(int i) => _nodes[i].Container;

    /// <summary>The daemon of node <paramref name="i"/> (its output, whether it exited).</summary>
    public LashupProcess Daemon(int i) => _nodes[i].Process ?? throw new InvalidOperationException($"{_nodes[i].Name} is not running");

    /// <summary>One ping (<c>ping -c1 -W1</c>) from node <paramref name="from"/>'s container to node <paramref name="to"/>'s; whether it was answered.</summary>
    public async Task<bool> PingAsync(int from, int to)
    {
        if (!TestEnvironment.HasCommand("ping"))
        {
            throw new InvalidOperationException("the overlay lab needs ping (iputils-ping) on the PATH");
        }

        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var part in (string[])["netns", "exec", _nodes[from].Container.Name, "ping", "-c1", "-W1", ContainerAddress(to).ToString()])
        {
            info.ArgumentList.Add(part);
        }

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        _ = process.StandardOutput.ReadToEndAsync(timeout.Token);
        _ = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return false;
        }

        return process.ExitCode == 0;
    }

    /// <summary>Pings until answered or <paramref name="timeout"/> passed; whether it was answered.</summary>
    public async Task<bool> PingUntilAsync(int from, int to, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            if (await PingAsync(from, to))
            {
                return true;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return false;
    }

    /// <summary>SIGKILL to node <paramref name="i"/>'s daemon (a crash: what it programmed stays).</summary>
    public void Kill(int i)
    {
        var node = _nodes[i];
        node.KilledOnPurpose = true;
        node.Process?.Kill();
    }

    /// <summary>
    /// Starts node <paramref name="i"/>'s daemon again (same config and data folder) and waits (bounded) until it holds a
    /// subnet again; returns it. The container keeps its address: a different subnet is the caller's to assert.
    /// </summary>
    public async Task<IPNetwork> RestartAsync(int i, TimeSpan? timeout = null)
    {
        var node = _nodes[i];
        node.Process?.Dispose();
        node.KilledOnPurpose = false;
        node.Process = LashupProcess.StartWith(node.Host.Exec, "run", "--config", node.ConfigPath);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            ThrowIfExited(node);
            if (await ShowAsync(i) is { } show && Text(show, "subnet") is { } subnet)
            {
                return IPNetwork.Parse(subnet);
            }

            await Task.Delay(300);
        }

        throw new TimeoutException($"{node.Name} holds no subnet {timeout ?? TimeSpan.FromSeconds(60)} after its restart:\n{node.Process.Output}");
    }

    /// <summary>
    /// Stops node <paramref name="i"/>'s daemon with SIGTERM (as an operator's restart would; bounded), changes its
    /// config's <c>[overlay] backend</c> to <paramref name="backend"/>, and starts it again like <see cref="RestartAsync"/>.
    /// </summary>
    public async Task<IPNetwork> RestartWithBackendAsync(int i, string backend, TimeSpan? timeout = null)
    {
        var node = _nodes[i];
        if (node.Process is { HasExited: false } running)
        {
            node.KilledOnPurpose = true;
            running.Terminate();
            await running.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }

        var config = File.ReadAllLines(node.ConfigPath);
        var line = Array.FindIndex(config, l => l.StartsWith("backend = ", StringComparison.Ordinal));
        config[line] = $"backend = \"{backend}\"";
        File.WriteAllLines(node.ConfigPath, config);
        return await RestartAsync(i, timeout);
    }

    /// <summary><c>lashup overlay show --json</c> on node <paramref name="i"/>, or null when the daemon does not answer.</summary>
    public Task<JsonElement?> ShowAsync(int i) => CliJsonAsync(i, "overlay", "show", "--json");

    /// <summary><c>lashup overlay peers --json</c> on node <paramref name="i"/>: node → state (<c>local</c>, <c>programmed</c>, ...); empty when the daemon does not answer.</summary>
    public async Task<Dictionary<string, string>> PeersAsync(int i)
    {
        if (await CliJsonAsync(i, "overlay", "peers", "--json") is not { } json || Property(json, "peers") is not { ValueKind: JsonValueKind.Array } peers)
        {
            return [];
        }

        return peers.EnumerateArray().ToDictionary(p => Text(p, "node") ?? "", p => Text(p, "state") ?? "");
    }

    /// <summary><c>ip route show proto 0x4c</c> (the overlay's routes) in node <paramref name="i"/>'s host namespace, one a line.</summary>
    public async Task<string[]> OverlayRoutesAsync(int i) =>
        (await _nodes[i].Host.RunCheckedAsync("ip", "route", "show", "proto", "0x4c")).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary><c>ip neigh show dev <paramref name="device"/></c> in node <paramref name="i"/>'s host namespace, one a line.</summary>
    public async Task<string[]> NeighboursAsync(int i, string device) =>
        Lines(await _nodes[i].Host.RunCheckedAsync("ip", "neigh", "show", "dev", device));

    /// <summary><c>bridge fdb show dev <paramref name="device"/></c> in node <paramref name="i"/>'s host namespace, one a line.</summary>
    public async Task<string[]> FdbAsync(int i, string device) =>
        Lines(await _nodes[i].Host.RunCheckedAsync("bridge", "fdb", "show", "dev", device));

    /// <summary>The daemon's <c>/metrics</c> (admin API, <c>curl</c> in node <paramref name="i"/>'s host namespace).</summary>
    public Task<string> MetricsAsync(int i) =>
        _nodes[i].Host.RunCheckedAsync("curl", "-sf", "--max-time", "10", "http://127.0.0.1:9470/metrics");

    /// <summary>Node <paramref name="i"/>'s host's routes, and the neighbours and FDB of <paramref name="device"/>, for a failed assertion's message.</summary>
    public async Task<string> KernelStateAsync(int i, string device)
    {
        var host = _nodes[i].Host;
        return $"{_nodes[i].Name} ({host.Name}):\n" + await host.RunAsync("ip", "route") + await host.RunAsync("ip", "neigh", "show", "dev", device) + await host.RunAsync("bridge", "fdb", "show", "dev", device);
    }

    /// <summary>Polls <paramref name="condition"/> every 300 ms until it holds or <paramref name="timeout"/> passed; a daemon that exited unasked fails it.</summary>
    public async Task<bool> WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var node in _nodes)
            {
                ThrowIfExited(node);
            }

            if (await condition())
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(300);
        }
    }

    /// <summary>Every daemon's output, for a failed assertion's message.</summary>
    public string Logs() => string.Join("\n", _nodes.Select(n => $"--- {n.Name} ({n.Host.Name})\n{n.Process?.Output}"));

    public void Dispose()
    {
        foreach (var node in _nodes)
        {
            try
            {
                node.Process?.Dispose();
            }
            catch (InvalidOperationException)
            {
            }
        }

        // Containers and hosts first (their veths go with them), the bridge's namespace last.
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            ns.Dispose();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>
    /// Drops <paramref name="percent"/> % of the frames the underlay bridge forwards, chosen at random (nft's
    /// <c>numgen random</c>: this kernel has no netem), so gossip, the store and VXLAN all see the loss; 0 removes it.
    /// </summary>
    public async Task SetUnderlayLossAsync(int percent)
    {
        var script = $"add table bridge lab_loss\ndelete table bridge lab_loss\n"
            + (percent > 0 ? $"add table bridge lab_loss\nadd chain bridge lab_loss forward {{ type filter hook forward priority 0; policy accept; }}\nadd rule bridge lab_loss forward numgen random mod 100 < {percent.ToString(CultureInfo.InvariantCulture)} counter drop\n" : "");
        var path = Path.Combine(Path.GetTempPath(), $"lashup-lab-loss-{Guid.NewGuid():N}.nft");
        await File.WriteAllTextAsync(path, script);
        try
        {
            await _underlay!.RunCheckedAsync("nft", "-f", path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Frames the underlay loss (<see cref="SetUnderlayLossAsync"/>) has dropped so far.</summary>
    public async Task<long> UnderlayDroppedAsync()
    {
        var listing = await _underlay!.RunCheckedAsync("nft", "list", "table", "bridge", "lab_loss");
        var match = System.Text.RegularExpressions.Regex.Match(listing, @"counter packets (\d+)");
        return match.Success ? long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private async Task BuildAsync(int count, string overlayToml)
    {
        _underlay = await NetworkNamespace.CreateAsync("ul");
        _namespaces.Add(_underlay);
        await _underlay.RunCheckedAsync("ip", "link", "add", "br0", "type", "bridge");
        await _underlay.RunCheckedAsync("ip", "link", "set", "br0", "up");
        for (var i = 0; i < count; i++)
        {
            var host = await NetworkNamespace.CreateAsync($"h{i + 1}");
            _namespaces.Add(host);
            var container = await NetworkNamespace.CreateAsync($"c{i + 1}");
            _namespaces.Add(container);
            var underlay = IPAddress.Parse(UnderlayPrefix + (i + 1).ToString(CultureInfo.InvariantCulture));
            var port = $"ul{i + 1}";
            await NetworkNamespace.RunHostAsync(true, "ip", "link", "add", "eth0", "netns", host.Name, "type", "veth", "peer", "name", port, "netns", _underlay.Name);
            await _underlay.RunCheckedAsync("ip", "link", "set", port, "master", "br0", "up");
            await host.RunCheckedAsync("ip", "addr", "add", $"{underlay}/24", "dev", "eth0");
            await host.RunCheckedAsync("ip", "link", "set", "eth0", "up");
            await host.RunCheckedAsync("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
            await NetworkNamespace.RunHostAsync(true, "ip", "link", "add", "ct0", "netns", host.Name, "type", "veth", "peer", "name", "eth0", "netns", container.Name);
            var node = new LabNode($"node-{i + 1}", host, container, underlay, Path.Combine(_root, $"node-{i + 1}"));
            Directory.CreateDirectory(node.Folder);
            File.WriteAllText(node.ConfigPath, Config(node, i == 0 ? null : _nodes[0].Underlay, overlayToml));
            _nodes.Add(node);
        }
    }

    private async Task StartAllAsync(TimeSpan timeout)
    {
        foreach (var node in _nodes)
        {
            node.Process = LashupProcess.StartWith(node.Host.Exec, "run", "--config", node.ConfigPath);
        }

        var names = _nodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var ready = await WaitAsync(async () =>
        {
            for (var i = 0; i < _nodes.Count; i++)
            {
                var peers = await PeersAsync(i);
                if (!names.Where(n => n != _nodes[i].Name).All(n => peers.GetValueOrDefault(n) == "programmed"))
                {
                    return false;
                }
            }

            return true;
        }, timeout);
        if (!ready)
        {
            var states = new List<string>();
            for (var i = 0; i < _nodes.Count; i++)
            {
                states.Add($"{_nodes[i].Name}: {string.Join(", ", (await PeersAsync(i)).Select(p => $"{p.Key}={p.Value}"))}");
            }

            throw new TimeoutException($"the overlay ({Backend}) did not program every peer on every node within {timeout}:\n{string.Join('\n', states)}\n{Logs()}");
        }

        for (var i = 0; i < _nodes.Count; i++)
        {
            var subnet = await ShowAsync(i) is { } show && Text(show, "subnet") is { } text
                ? IPNetwork.Parse(text)
                : throw new InvalidOperationException($"{_nodes[i].Name} reports no subnet:\n{Logs()}");
            await WireContainerAsync(_nodes[i], subnet);
        }
    }

    /// <summary>The container's veth: <c>.1</c> on the host side, <c>.2</c> in the container with a default route via <c>.1</c>.</summary>
    private static async Task WireContainerAsync(LabNode node, IPNetwork subnet)
    {
        node.Subnet = subnet;
        var gateway = Offset(subnet, 1);
        await node.Host.RunCheckedAsync("ip", "addr", "add", $"{gateway}/{subnet.PrefixLength}", "dev", "ct0");
        await node.Host.RunCheckedAsync("ip", "link", "set", "ct0", "up");
        await node.Container.RunCheckedAsync("ip", "addr", "add", $"{Offset(subnet, 2)}/{subnet.PrefixLength}", "dev", "eth0");
        await node.Container.RunCheckedAsync("ip", "link", "set", "eth0", "up");
        await node.Container.RunCheckedAsync("ip", "route", "add", "default", "via", gateway.ToString());
    }

    private string Config(LabNode node, IPAddress? seed, string overlayToml) => TestEnvironment.NodeToml(node.Name, "overlay-lab", "127.0.0.1:9470", $"{node.Underlay}:7946") + $"""
        seeds = [{(seed is null ? "" : $"\"{seed}:7946\"")}]
        join_retry_interval = "500ms"
        relink_interval = "3s"
        kv_sync_interval = "1s"

        [dns]
        enabled = false

        [loadbalancer]
        enabled = false

        [overlay]
        enabled = true
        backend = "{Backend}"
        peer_grace = "2s"
        reconcile_interval = "2s"

        """ + overlayToml;

    private async Task<JsonElement?> CliJsonAsync(int i, params string[] args)
    {
        var node = _nodes[i];
        if (node.Process is null or { HasExited: true })
        {
            return null;
        }

        var (code, output) = await LashupProcess.RunWithAsync(node.Host.Exec, CliTimeout, [.. args, "--api", "127.0.0.1:9470"]);
        if (code != 0 || output.Split('\n').FirstOrDefault(l => l.StartsWith('{')) is not { } json)
        {
            return null;
        }

        return JsonDocument.Parse(json).RootElement.Clone();
    }

    private static void ThrowIfExited(LabNode node)
    {
        if (node.Process is { HasExited: true } process && !node.KilledOnPurpose)
        {
            throw new InvalidOperationException($"{node.Name} exited with {process.ExitCode}:\n{process.Output}");
        }
    }

    /// <summary>A property by name, whatever the JSON's casing (<c>subnet</c>, <c>Subnet</c>).</summary>
    private static JsonElement? Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object
            ? element.EnumerateObject().Where(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)).Select(p => (JsonElement?)p.Value).FirstOrDefault()
            : null;

    private static string? Text(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static IPAddress Offset(IPNetwork subnet, int offset)
    {
        var bytes = subnet.BaseAddress.GetAddressBytes();
        var value = ((uint)bytes[0] << 24 | (uint)bytes[1] << 16 | (uint)bytes[2] << 8 | bytes[3]) + (uint)offset;
        return new IPAddress([(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value]);
    }

    private sealed class LabNode(string name, NetworkNamespace host, NetworkNamespace container, IPAddress underlay, string folder)
    {
        public string Name { get; } = name;

        public NetworkNamespace Host { get; } = host;

        public NetworkNamespace Container { get; } = container;

        public IPAddress Underlay { get; } = underlay;

        public string Folder { get; } = folder;

        public string ConfigPath => Path.Combine(Folder, "lashup.toml");

        public IPNetwork? Subnet { get; set; }

        public LashupProcess? Process { get; set; }

        public bool KilledOnPurpose { get; set; }
    }
}
