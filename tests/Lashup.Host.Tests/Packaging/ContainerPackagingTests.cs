using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Lashup.Host.Configuration;
using Lashup.Host.Tests.Support;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace Lashup.Host.Tests.Packaging;

/// <summary>
/// The container image (<c>packaging/container/</c>) and the Kubernetes DaemonSet (<c>packaging/kubernetes/</c>),
/// checked without a container runtime or a cluster: the manifest parses; the ConfigMap's config, rendered for a node
/// by the init container's own script, and the image's config pass <c>lashup config check</c>; the probes, the grace
/// period, the capabilities and the paths agree with those configs and with what the host and the plugins need.
/// </summary>
public sealed class ContainerPackagingTests
{
    private static readonly string Packaging = Path.Combine(TestEnvironment.RepoRoot, "packaging");
    private static readonly string ManifestPath = Path.Combine(Packaging, "kubernetes", "lashup-daemonset.yaml");
    private static readonly string ContainerfilePath = Path.Combine(Packaging, "container", "Containerfile");
    private static readonly string ImageConfigPath = Path.Combine(Packaging, "container", "lashup.toml");

    // The install layout the image has and the configs name.
    private const string InstallDir = "/usr/lib/lashup";
    private const string ConfigFile = "/etc/lashup/lashup.toml";
    private const string DataDir = "/var/lib/lashup";

    /// <summary>
    /// What each selected plugin needs beyond an unprivileged process (from the plugins' code and READMEs); a plugin
    /// missing here fails the capability test until it is added.
    /// </summary>
    private static readonly Dictionary<string, string[]> CapabilitiesByPlugin = new(StringComparer.OrdinalIgnoreCase)
    {
        ["core/lashup"] = [],
        ["dns/lashup"] = [],
        ["loadbalancer/lashup"] = [],
        ["overlay/lashup"] = [],
        // Kernel DNAT from its own nft table.
        ["loadbalancer.backend/nftables"] = ["NET_ADMIN"],
        // IPVS over generic netlink, and VIP addresses on lo.
        ["loadbalancer.backend/ipvs"] = ["NET_ADMIN"],
        // VIP addresses on lo (named VIPs are never on 127.0.0.0/8), and VIP ports below 1024.
        ["loadbalancer.backend/userspace"] = ["NET_ADMIN", "NET_BIND_SERVICE"],
        // A VXLAN device, neighbours, FDB entries and routes; routes.
        ["overlay.backend/vxlan"] = ["NET_ADMIN"],
        ["overlay.backend/host-routes"] = ["NET_ADMIN"],
    };

    [Fact]
    public void Manifest_Parses_NamespaceConfigMapAndDaemonSet()
    {
        var documents = LoadManifest();

        Assert.Equal(["v1/Namespace", "v1/ConfigMap", "apps/v1/DaemonSet"], documents.Select(d => $"{Scalar(d, "apiVersion")}/{Scalar(d, "kind")}"));
        Assert.All(documents.Skip(1), d => Assert.Equal(Scalar(documents[0], "metadata", "name"), Scalar(d, "metadata", "namespace")));
        var daemonSet = documents[2];
        var labels = Mapping(daemonSet, "spec", "template", "metadata", "labels");
        Assert.All(Mapping(daemonSet, "spec", "selector", "matchLabels").Children, l => Assert.Equal(l.Value.ToString(), labels.Children[l.Key].ToString()));
    }

    [Fact]
    public void ConfigMapConfig_RenderedForANode_PassesConfigCheck()
    {
        using var temp = new TempFolder();
        var rendered = RenderForNode(temp.Path, "node-a.example", "127.0.0.1", $"{NewKey()},{NewKey()}");

        Assert.DoesNotContain("@", rendered, StringComparison.Ordinal);
        Assert.Matches("""(?m)^name = "node-a\.example"$""", rendered);
        Assert.Matches("""(?m)^keyring = \["[A-Za-z0-9+/=]+", "[A-Za-z0-9+/=]+"\]$""", rendered);
        var (code, output) = Check(temp.Path, rendered);
        Assert.True(code == 0, output);
        Assert.Contains("ok (4 plugin(s) selected: core/lashup, dns/lashup, loadbalancer/lashup, loadbalancer.backend/nftables)", output, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigMapConfig_WithoutKeyringSecretAndOnIPv6_PassesConfigCheck()
    {
        using var temp = new TempFolder();
        var rendered = RenderForNode(temp.Path, "node-b", "::1", keyring: null);

        Assert.Matches("""(?m)^keyring = \[\]$""", rendered);
        Assert.Matches("""(?m)^listen = "\[::1\]:7470"$""", rendered);
        var (code, output) = Check(temp.Path, rendered);
        Assert.True(code == 0, output);
    }

    [Fact]
    public void ImageConfig_PassesConfigCheck_AndNeedsNoCapability()
    {
        using var temp = new TempFolder();
        var text = File.ReadAllText(ImageConfigPath);

        var (code, output) = Check(temp.Path, text);
        Assert.True(code == 0, output);
        var config = Load(temp.Path, text);
        Assert.Empty(NeededCapabilities(config));
        Assert.Equal(DataDir, ConfiguredValue(text, "data_dir"));
        // The built-in folder (/usr/lib/lashup/plugins, beside the host) is always searched; listing it is redundant.
        Assert.Empty(ConfiguredPluginDirectories(text));
    }

    [Fact]
    public void Probes_TargetTheAdminListenerOnTheRealEndpoints()
    {
        var container = MainContainer();
        var config = Load(Path.GetTempPath(), RenderedText());
        Assert.True(IPEndPoint.TryParse(config.Admin.Listen, out var admin), config.Admin.Listen);

        // /ready asks for the token when one is set; the probes send none.
        Assert.Equal("", config.Admin.Token);
        foreach (var (probe, path) in new[] { ("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready") })
        {
            var get = Mapping(container, probe, "httpGet");
            Assert.Equal(path, Scalar(get, "path"));
            Assert.Equal(admin.Port.ToString(CultureInfo.InvariantCulture), Scalar(get, "port"));
            // Off the pod IP: the admin API is on loopback, the pod in the node's network namespace.
            Assert.True(IPAddress.IsLoopback(admin.Address), "a probe without host targets the pod IP; the admin API is on loopback");
            Assert.Equal(admin.Address.ToString(), Scalar(get, "host"));
        }

        Assert.Equal("true", Scalar(PodSpec(), "hostNetwork"));
    }

    [Fact]
    public async Task ProbePaths_OnARunningDaemonWithTheImageConfig_Answer200()
    {
        using var temp = new TempFolder();
        var admin = TestEnvironment.FreePort();
        var text = SwapInstallPaths(temp.Path, File.ReadAllText(ImageConfigPath), admin)
            .Replace("127.0.0.1:7470", $"127.0.0.1:{TestEnvironment.FreePort()}", StringComparison.Ordinal)
            .Replace("127.0.0.1:8053", $"127.0.0.1:{TestEnvironment.FreePort()}", StringComparison.Ordinal);
        var path = Path.Combine(temp.Path, "lashup.toml");
        File.WriteAllText(path, text);
        using var daemon = LashupProcess.Start("run", "--config", path);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}/"), Timeout = TimeSpan.FromSeconds(5) };

        var paths = new[] { "startupProbe", "livenessProbe", "readinessProbe" }.Select(p => Scalar(MainContainer(), p, "httpGet", "path")).Distinct().ToList();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var answers = new Dictionary<string, HttpStatusCode?>();
        while (DateTime.UtcNow < deadline && !daemon.HasExited)
        {
            foreach (var p in paths)
            {
                answers[p] = await StatusOf(http, p);
            }

            if (answers.Values.All(s => s == HttpStatusCode.OK))
            {
                break;
            }

            await Task.Delay(200);
        }

        Assert.True(answers.Values.All(s => s == HttpStatusCode.OK),
            $"{string.Join(", ", answers.Select(a => $"{a.Key}: {a.Value?.ToString() ?? "no answer"}"))}\n{daemon.Output}");
        daemon.Terminate();
        await daemon.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(daemon.ExitCode == 0, daemon.Output);
    }

    [Fact]
    public void TerminationGracePeriod_ExceedsShutdownTimeout()
    {
        var config = Load(Path.GetTempPath(), RenderedText());
        var grace = TimeSpan.FromSeconds(int.Parse(Scalar(PodSpec(), "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture));

        Assert.True(grace > config.Node.ShutdownTimeout.Value, $"terminationGracePeriodSeconds {grace} <= node.shutdown_timeout {config.Node.ShutdownTimeout.Value}");
    }

    [Fact]
    public void Capabilities_AreWhatTheEnabledPluginsNeed()
    {
        var config = Load(Path.GetTempPath(), RenderedText());
        var security = Mapping(MainContainer(), "securityContext");

        Assert.Equal(NeededCapabilities(config).Order(StringComparer.Ordinal), Sequence(security, "capabilities", "add").Select(c => c.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal(["ALL"], Sequence(security, "capabilities", "drop").Select(c => c.ToString()));
        Assert.Equal("false", Scalar(security, "allowPrivilegeEscalation"));
        Assert.Equal("false", Scalar(security, "privileged"));
        // Root in the container: added capabilities reach no other user (no ambient capabilities), see the manifest.
        Assert.Equal("0", Scalar(security, "runAsUser"));

        var init = Assert.Single(Sequence(PodSpec(), "initContainers"));
        Assert.Equal(["ALL"], Sequence(init, "securityContext", "capabilities", "drop").Select(c => c.ToString()));
        Assert.Equal("true", Scalar(init, "securityContext", "runAsNonRoot"));
    }

    [Fact]
    public void DaemonSet_RunsOnEveryNodeInTheHostNetworkWithDataOnTheHost()
    {
        var daemonSet = LoadManifest()[2];
        var pod = PodSpec();
        var container = MainContainer();

        Assert.Equal("ClusterFirstWithHostNet", Scalar(pod, "dnsPolicy"));
        Assert.Equal("RollingUpdate", Scalar(daemonSet, "spec", "updateStrategy", "type"));
        Assert.Equal("1", Scalar(daemonSet, "spec", "updateStrategy", "rollingUpdate", "maxUnavailable"));
        Assert.Contains(Sequence(pod, "tolerations"), t => Scalar(t, "operator") == "Exists" && !((YamlMappingNode)t).Children.ContainsKey("key"));
        foreach (var kind in new[] { "requests", "limits" })
        {
            Assert.NotEmpty(Scalar(container, "resources", kind, "cpu"));
            Assert.NotEmpty(Scalar(container, "resources", kind, "memory"));
        }

        // data_dir is the hostPath, mounted at the same path.
        Assert.Equal(DataDir, ConfiguredValue(RenderedText(), "data_dir"));
        var data = Sequence(pod, "volumes").Single(v => ((YamlMappingNode)v).Children.ContainsKey("hostPath"));
        Assert.Equal(DataDir, Scalar(data, "hostPath", "path"));
        Assert.Equal(DataDir, MountPath(container, Scalar(data, "name")));

        // The rendered config is where the daemon reads it; the plugins are the image's built-in ones.
        Assert.Equal(["run", "--config", ConfigFile], Sequence(container, "args").Select(a => a.ToString()));
        Assert.Equal(Path.GetDirectoryName(ConfigFile), MountPath(container, "config"));
        Assert.Equal(Path.GetDirectoryName(ConfigFile), MountPath(Assert.Single(Sequence(pod, "initContainers")), "config"));
        Assert.Empty(ConfiguredPluginDirectories(RenderedText()));
    }

    [Fact]
    public void Containerfile_PublishesWithPublishShIntoTheLayoutTheHostExpects()
    {
        var lines = Instructions(File.ReadAllText(ContainerfilePath));
        var from = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();

        Assert.Equal(["FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", "FROM mcr.microsoft.com/dotnet/aspnet:10.0"], from);
        var build = lines.SkipWhile(l => l != from[0]).TakeWhile(l => l != from[1]).ToList();
        var run = lines.SkipWhile(l => l != from[1]).ToList();
        Assert.Contains("COPY . .", build);
        Assert.Contains("RUN packaging/publish.sh /out", build);
        // The host needs ASP.NET Core's shared framework, which the aspnet image has and the runtime image has not.
        Assert.Contains("<FrameworkReference Include=\"Microsoft.AspNetCore.App\" />", File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "host", "Lashup.Host", "Lashup.Host.csproj")), StringComparison.Ordinal);

        Assert.Contains($"COPY --from=build /out {InstallDir}", run);
        Assert.Contains(run, l => l.StartsWith("RUN ", StringComparison.Ordinal) && l.Contains($"ln -s {InstallDir}/lashup /usr/bin/lashup", StringComparison.Ordinal));
        Assert.Contains($"COPY packaging/container/lashup.toml {ConfigFile}", run);
        Assert.Contains($"VOLUME {DataDir}", run);
        Assert.Contains("ENTRYPOINT [\"/usr/bin/lashup\"]", run);
        Assert.Contains("CMD [\"run\"]", run);
        var user = Assert.Single(run, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Matches("^USER [1-9][0-9]*:[1-9][0-9]*$", user);
        Assert.Contains(run, l => l.Contains("useradd", StringComparison.Ordinal) && l.Contains($"--uid {user[5..user.IndexOf(':', StringComparison.Ordinal)]}", StringComparison.Ordinal) && l.Contains("lashup", StringComparison.Ordinal));
        // nft (libnftables.so.1 in process, else the nft command) for the nftables backend the DaemonSet selects.
        Assert.Contains(run, l => l.StartsWith("RUN ", StringComparison.Ordinal) && Regex.IsMatch(l, @"apt-get install .*\bnftables\b"));
        Assert.Contains("libnftables.so.1", File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "plugins", "Lashup.Plugins.LoadBalancer.Nftables", "Nft", "LibNftablesRunner.cs")), StringComparison.Ordinal);
        // The same uid runs the init container.
        Assert.Equal(user[5..user.IndexOf(':', StringComparison.Ordinal)], Scalar(Assert.Single(Sequence(PodSpec(), "initContainers")), "securityContext", "runAsUser"));

        var ignored = File.ReadAllLines(Path.Combine(TestEnvironment.RepoRoot, ".dockerignore")).Select(l => l.Trim()).ToList();
        Assert.All(new[] { ".git", "artifacts/", "**/bin/", "**/obj/" }, p => Assert.Contains(p, ignored));
    }

    [SkippableFact]
    public async Task Kubectl_KustomizeOffline_ReadsEveryResource()
    {
        var kubectl = new[] { "/usr/bin/kubectl", "/usr/local/bin/kubectl" }.FirstOrDefault(File.Exists);
        Skip.If(kubectl is null, "kubectl is not installed");
        using var temp = new TempFolder();
        File.Copy(ManifestPath, Path.Combine(temp.Path, "lashup-daemonset.yaml"));
        File.WriteAllText(Path.Combine(temp.Path, "kustomization.yaml"), "resources:\n- lashup-daemonset.yaml\n");

        // kubectl kustomize builds the resources locally; `kubectl apply|create --dry-run=client` asks a server for its
        // API groups even then, and no server is contacted here (no kubeconfig).
        var info = new ProcessStartInfo(kubectl!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "kustomize", temp.Path })
        {
            info.ArgumentList.Add(a);
        }

        info.Environment["KUBECONFIG"] = Path.Combine(temp.Path, "no-kubeconfig");
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(process.ExitCode == 0, await stderr);
        var kinds = Regex.Matches(await stdout, "(?m)^kind: (.+)$").Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal);
        Assert.Equal(["ConfigMap", "DaemonSet", "Namespace"], kinds);
    }

    /// <summary>What <paramref name="config"/>'s selected plugins and listen ports need (see <see cref="CapabilitiesByPlugin"/>).</summary>
    private static SortedSet<string> NeededCapabilities(LoadedConfiguration config)
    {
        var needed = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var plugin in config.Selected)
        {
            var key = $"{plugin.Descriptor.Capability}/{plugin.Descriptor.Name}";
            Assert.True(CapabilitiesByPlugin.TryGetValue(key, out var capabilities), $"{key}: add what it needs to {nameof(CapabilitiesByPlugin)}");
            needed.UnionWith(capabilities);
        }

        // Listen keys of every section (admin.listen, core.listen, dns.listen[i], ...): a port below 1024 is privileged.
        var ports = config.Configuration.AsEnumerable()
            .Where(kv => kv.Value is { Length: > 0 } && Regex.IsMatch(kv.Key, @"(^|:)listen(:\d+)?$"))
            .Select(kv => IPEndPoint.TryParse(kv.Value!, out var ep) ? ep.Port : -1)
            .ToList();
        Assert.DoesNotContain(-1, ports);
        if (ports.Any(p => p is > 0 and < 1024))
        {
            needed.Add("NET_BIND_SERVICE");
        }

        return needed;
    }

    /// <summary>
    /// Runs the ConfigMap's <c>render.sh</c> (the init container's script, as written) for a node and returns the
    /// config it wrote.
    /// </summary>
    private static string RenderForNode(string folder, string nodeName, string hostIp, string? keyring)
    {
        var data = Mapping(LoadManifest()[1], "data");
        var template = Path.Combine(folder, "template.toml");
        var script = Path.Combine(folder, "render.sh");
        var output = Path.Combine(folder, "rendered.toml");
        File.WriteAllText(template, Scalar(data, "lashup.toml"));
        File.WriteAllText(script, Scalar(data, "render.sh"));

        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.Environment["NODE_NAME"] = nodeName;
        info.Environment["HOST_IP"] = hostIp;
        info.Environment.Remove("LASHUP_KEYRING");
        if (keyring is not null)
        {
            info.Environment["LASHUP_KEYRING"] = keyring;
        }

        info.Environment["LASHUP_TEMPLATE"] = template;
        info.Environment["LASHUP_OUT"] = output;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), "render.sh did not finish");
        Assert.True(process.ExitCode == 0, stdout + stderr);
        Assert.Contains($"for node {nodeName}", stdout, StringComparison.Ordinal);
        return File.ReadAllText(output);
    }

    /// <summary>The ConfigMap's config rendered for a node at 127.0.0.1 (an address every test machine has).</summary>
    private static string RenderedText()
    {
        using var temp = new TempFolder();
        return RenderForNode(temp.Path, "node-a", "127.0.0.1", keyring: null);
    }

    /// <summary>
    /// <c>lashup config check</c>, in-process, on <paramref name="text"/> with the install paths moved to this machine's
    /// (the host to the build's, see <see cref="Layout"/>; <c>/var/lib/lashup</c> to a temporary folder) and the
    /// admin port moved to a free one (the check wants it free; another daemon on this shared machine may hold 9470).
    /// </summary>
    private static (int Code, string Output) Check(string folder, string text)
    {
        var path = Path.Combine(folder, "check.toml");
        File.WriteAllText(path, SwapInstallPaths(folder, text, TestEnvironment.FreePort()));
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = Daemon.Check(path, stdout, stderr, Layout(folder));
        return (code, stdout.ToString() + stderr);
    }

    private static LoadedConfiguration Load(string folder, string text)
    {
        var path = Path.Combine(folder, $"load-{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, SwapInstallPaths(folder, text, adminPort: null));
        try
        {
            var errors = new List<ConfigException>();
            var config = ConfigLoader.Load(path, errors, Layout(folder));
            Assert.True(errors.Count == 0, string.Join("\n", errors.Select(e => e.Message)));
            return config;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string SwapInstallPaths(string folder, string text, int? adminPort)
    {
        Assert.Contains($"\"{DataDir}\"", text, StringComparison.Ordinal);
        text = text.Replace($"\"{DataDir}\"", $"\"{Path.Combine(folder, "data")}\"", StringComparison.Ordinal);
        return adminPort is null ? text : Regex.Replace(text, @"(?m)^listen = ""127\.0\.0\.1:9470""$", $"listen = \"127.0.0.1:{adminPort}\"");
    }

    /// <summary>
    /// The host as installed, its built-in plugins beside it, moved to this machine's build: the checkout's
    /// <c>artifacts/bin/lashup</c> with <c>artifacts/plugins</c>; no system config or vendor folder.
    /// </summary>
    private static InstallLayout Layout(string folder)
    {
        var plugins = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins");
        Assert.True(Directory.Exists(Path.Combine(plugins, "Lashup.Plugins.Core")), $"the built-in plugins are not built in {plugins}: dotnet build Lashup.sln");
        return new InstallLayout
        {
            BaseDirectory = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bin", "lashup"),
            SystemConfigPath = TestEnvironment.NoSystemConfig,
            VendorPluginDirectory = TestEnvironment.NoVendorPlugins,
            WorkingDirectory = folder,
        };
    }

    private static string? ConfiguredValue(string text, string key) =>
        Regex.Match(text, $@"(?m)^{Regex.Escape(key)} = ""([^""]*)""$") is { Success: true } m ? m.Groups[1].Value : null;

    private static string[] ConfiguredPluginDirectories(string text) =>
        [.. Regex.Matches(Regex.Match(text, @"(?m)^directories = \[(.*)\]$").Groups[1].Value, "\"([^\"]*)\"").Select(m => m.Groups[1].Value)];

    private static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static async Task<HttpStatusCode?> StatusOf(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>The Containerfile's instructions, continuation lines joined and comments dropped.</summary>
    private static List<string> Instructions(string text)
    {
        var joined = Regex.Replace(string.Join("\n", text.Split('\n').Where(l => !l.TrimStart().StartsWith('#'))), @"\\\n\s*", " ");
        return [.. joined.Split('\n').Select(l => Regex.Replace(l.Trim(), @"\s+", " ")).Where(l => l.Length > 0)];
    }

    private static List<YamlMappingNode> LoadManifest()
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(ManifestPath))
        {
            stream.Load(reader);
        }

        return [.. stream.Documents.Select(d => Assert.IsType<YamlMappingNode>(d.RootNode))];
    }

    private static YamlMappingNode PodSpec() => Mapping(LoadManifest()[2], "spec", "template", "spec");

    private static YamlNode MainContainer() => Sequence(PodSpec(), "containers").Single(c => Scalar(c, "name") == "lashup");

    private static string MountPath(YamlNode container, string volume) =>
        Scalar(Sequence(container, "volumeMounts").Single(m => Scalar(m, "name") == volume), "mountPath");

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            var mapping = Assert.IsType<YamlMappingNode>(node);
            Assert.True(mapping.Children.TryGetValue(new YamlScalarNode(key), out var child), $"no \"{key}\" in {string.Join(".", path)}");
            node = child;
        }

        return node;
    }

    private static YamlMappingNode Mapping(YamlNode node, params string[] path) => Assert.IsType<YamlMappingNode>(Node(node, path));

    private static IReadOnlyList<YamlNode> Sequence(YamlNode node, params string[] path) => Assert.IsType<YamlSequenceNode>(Node(node, path)).Children.ToList();

    private static string Scalar(YamlNode node, params string[] path) => Assert.IsType<YamlScalarNode>(Node(node, path)).Value ?? "";

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("lashup-packaging-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
