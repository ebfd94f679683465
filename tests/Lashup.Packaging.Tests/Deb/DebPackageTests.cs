using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lashup.Host.Tests.Support;
using Lashup.Packaging.Tests.Support;

namespace Lashup.Packaging.Tests.Deb;

/// <summary>
/// The Debian package, end to end on this machine: packaging/deb/build.sh over the publish.sh layout that ./test.sh
/// makes in artifacts/install, dpkg -i, the files, the CLI, the daemon run as the systemd unit would run it (the
/// lashup user, the unit's ambient capabilities, $NOTIFY_SOCKET, $WATCHDOG_USEC), an upgrade that keeps the edited
/// conffile, then dpkg --purge and nothing left.
/// The daemon runs in a network namespace of its own, so the packaged config's ports (admin 9470, gossip 7470, DNS
/// 8053) cannot collide with other tests' daemons. While the package is installed /etc/lashup/lashup.toml exists; other
/// tests' daemons do not read it (LashupProcess sets $LASHUP_SYSTEM_CONFIG).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DebPackageTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    private const string Vip = "192.0.2.10";

    /// <summary>What the unit sets (User=lashup: HOME and the rest; StateDirectory=lashup), with a fast watchdog.</summary>
    private static readonly string[] UnitEnvironment =
    [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/var/lib/lashup", "USER=lashup", "LOGNAME=lashup", "SHELL=/usr/sbin/nologin",
        "STATE_DIRECTORY=/var/lib/lashup", "WATCHDOG_USEC=2000000",
    ];

    /// <summary>The unit's User=, Group= and AmbientCapabilities=, through setpriv (util-linux).</summary>
    private static readonly string[] AsTheUnit =
    [
        "setpriv", "--reuid=lashup", "--regid=lashup", "--init-groups",
        "--inh-caps=+net_admin,+net_bind_service", "--ambient-caps=+net_admin,+net_bind_service",
    ];

    [SkippableFact]
    public async Task Package_BuildInstallRunPurge_WorksAndLeavesNothing()
    {
        Skip.If(!Environment.IsPrivilegedProcess && !TestEnvironment.IsCi, "needs root (dpkg -i, a network namespace, the lashup user); runs on CI");
        Skip.If(!TestEnvironment.IsCi && (await Command.RunAsync(Short, ["dpkg-query", "-W", "-f=${Status}", "lashup"])).StandardOutput.Contains("installed", StringComparison.Ordinal),
            "a lashup package is installed on this machine; the test would replace and purge it");
        Skip.If(!TestEnvironment.IsCi && (await Command.RunAsync(Short, ["getent", "passwd", "lashup"])).ExitCode == 0,
            "a lashup user exists on this machine; the test's purge would delete it");
        foreach (var tool in (string[])["dpkg-deb", "setpriv", "ip", "dig", "curl"])
        {
            Skip.If(!TestEnvironment.HasCommand(tool) && !TestEnvironment.IsCi, $"needs {tool}");
        }

        var layout = await LayoutAsync();
        using var output = new TempFolder();
        var build = await Command.RunCheckedAsync(TimeSpan.FromMinutes(5), Path.Combine(TestEnvironment.RepoRoot, "packaging", "deb", "build.sh"), "--layout", layout, "--out", output.Path);
        var package = build.StandardOutput.Trim();
        Assert.Equal(Path.Combine(output.Path, $"lashup_{Version}_amd64.deb"), package);

        // The runtime here is a tarball in /usr/share/dotnet, not a dpkg package, so dpkg cannot satisfy Depends; the
        // install below forces past it, and this asserts the dependency is declared.
        var control = (await Command.RunCheckedAsync(Short, "dpkg-deb", "-f", package, "Package", "Architecture", "Depends", "Recommends", "Section")).StandardOutput;
        Assert.Contains("Package: lashup\n", control, StringComparison.Ordinal);
        Assert.Contains("Architecture: amd64\n", control, StringComparison.Ordinal);
        Assert.Matches(@"Depends: (.*, )?aspnetcore-runtime-10\.0(,|\n)", control);
        Assert.Contains("Recommends: nftables, iproute2\n", control, StringComparison.Ordinal);
        Assert.Contains("Section: net\n", control, StringComparison.Ordinal);

        try
        {
            await Command.RunCheckedAsync(TimeSpan.FromMinutes(2), "dpkg", "-i", "--force-depends", package);
            await AssertInstalledAsync();
            await AssertCliAsync();
            await RunDaemonAsync();
            await UpgradeAsync(layout, output.Path);
        }
        finally
        {
            // A process still running as lashup at the purge (a daemon started by hand, outside systemd): postrm stops
            // it, or userdel would refuse and the user would stay behind.
            using var straggler = Process.Start(new ProcessStartInfo("setpriv", ["--reuid=lashup", "--regid=lashup", "--init-groups", "sleep", "300"]))!;
            try
            {
                // Whatever failed above: the package goes (the daemon is dead by now: RunDaemonAsync kills it).
                await Command.RunAsync(TimeSpan.FromMinutes(2), ["dpkg", "--purge", "lashup"]);
                Assert.True(straggler.WaitForExit(10_000), "postrm left a process of the lashup user running");
            }
            finally
            {
                if (!straggler.HasExited)
                {
                    straggler.Kill();
                }
            }
        }

        await AssertPurgedAsync();
    }

    [SkippableFact]
    public async Task Purge_LashupUserMadeByTheAdministratorBefore_KeepsItAndItsGroup()
    {
        Skip.If(!Environment.IsPrivilegedProcess && !TestEnvironment.IsCi, "needs root (dpkg -i, adduser); runs on CI");
        Skip.If(!TestEnvironment.IsCi && (await Command.RunAsync(Short, ["dpkg-query", "-W", "-f=${Status}", "lashup"])).StandardOutput.Contains("installed", StringComparison.Ordinal),
            "a lashup package is installed on this machine; the test would replace and purge it");
        Skip.If(!TestEnvironment.IsCi && (await Command.RunAsync(Short, ["getent", "passwd", "lashup"])).ExitCode == 0,
            "a lashup user exists on this machine; the test makes its own");
        Skip.If(!TestEnvironment.HasCommand("dpkg-deb") && !TestEnvironment.IsCi, "needs dpkg-deb");

        var layout = await LayoutAsync();
        using var output = new TempFolder();
        var package = (await Command.RunCheckedAsync(TimeSpan.FromMinutes(5), Path.Combine(TestEnvironment.RepoRoot, "packaging", "deb", "build.sh"), "--layout", layout, "--out", output.Path)).StandardOutput.Trim();
        await Command.RunCheckedAsync(Short, "adduser", "--system", "--group", "--quiet", "--home", "/srv/lashup-admin", "--no-create-home", "lashup");
        try
        {
            await Command.RunCheckedAsync(TimeSpan.FromMinutes(2), "dpkg", "-i", "--force-depends", package);
            await Command.RunCheckedAsync(TimeSpan.FromMinutes(2), "dpkg", "--purge", "lashup");
            var user = (await Command.RunCheckedAsync(Short, "getent", "passwd", "lashup")).StandardOutput.Trim().Split(':');
            Assert.Equal("/srv/lashup-admin", user[5]);
            Assert.Equal(0, (await Command.RunAsync(Short, ["getent", "group", "lashup"])).ExitCode);
        }
        finally
        {
            await Command.RunAsync(TimeSpan.FromMinutes(2), ["dpkg", "--purge", "lashup"]);
            await Command.RunAsync(Short, ["deluser", "--system", "--quiet", "lashup"]);
            await Command.RunAsync(Short, ["delgroup", "--system", "--quiet", "lashup"]);
        }

        Assert.Equal(2, (await Command.RunAsync(Short, ["getent", "passwd", "lashup"])).ExitCode);
    }

    /// <summary>&lt;Version&gt; of Directory.Build.props, the package's default version.</summary>
    private static string Version => Regex.Match(File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "Directory.Build.props")), "<Version>([^<]+)</Version>").Groups[1].Value;

    private static async Task AssertInstalledAsync()
    {
        var listed = (await Command.RunCheckedAsync(Short, "dpkg", "-L", "lashup")).StandardOutput.Split('\n');
        foreach (var path in (string[])
                 [
                     "/usr/bin/lashup", "/usr/lib/lashup/lashup", "/usr/lib/lashup/lashup.dll", "/usr/lib/lashup/plugins.d",
                     "/usr/lib/lashup/plugins/Lashup.Plugins.Core/Lashup.Plugins.Core.dll",
                     "/usr/lib/lashup/plugins/Lashup.Plugins.Dns/Lashup.Plugins.Dns.dll",
                     "/usr/lib/lashup/plugins/Lashup.Plugins.LoadBalancer.Userspace/Lashup.Plugins.LoadBalancer.Userspace.dll",
                     "/etc/lashup/lashup.toml", "/lib/systemd/system/lashup.service", "/usr/share/doc/lashup/copyright",
                     "/usr/share/doc/lashup/changelog.gz", "/usr/share/man/man1/lashup.1.gz",
                 ])
        {
            Assert.Contains(path, listed);
        }

        Assert.Equal("/usr/lib/lashup/lashup", Path.GetFullPath(new FileInfo("/usr/bin/lashup").ResolveLinkTarget(returnFinalTarget: true)!.FullName));
        Assert.Empty(Directory.GetFileSystemEntries("/usr/lib/lashup/plugins.d"));
        Assert.Contains("/etc/lashup/lashup.toml", (await Command.RunCheckedAsync(Short, "dpkg-query", "-W", "-f=${Conffiles}", "lashup")).StandardOutput, StringComparison.Ordinal);

        // postinst: the system user, its state folder, and the config readable by it alone besides root.
        var user = (await Command.RunCheckedAsync(Short, "getent", "passwd", "lashup")).StandardOutput.Trim().Split(':');
        Assert.Equal(("/var/lib/lashup", "/usr/sbin/nologin"), (user[5], user[6]));
        Assert.True(int.Parse(user[2], CultureInfo.InvariantCulture) < 1000, $"lashup is not a system user: {string.Join(':', user)}");
        Assert.Equal("lashup:lashup 750", (await Command.RunCheckedAsync(Short, "stat", "-c", "%U:%G %a", "/var/lib/lashup")).StandardOutput.Trim());
        Assert.Equal("root:lashup 640", (await Command.RunCheckedAsync(Short, "stat", "-c", "%U:%G %a", "/etc/lashup/lashup.toml")).StandardOutput.Trim());

        var config = await File.ReadAllTextAsync("/etc/lashup/lashup.toml");
        Assert.Contains("\ndata_dir = \"/var/lib/lashup\"\n", config, StringComparison.Ordinal);
        Assert.Contains("\n# The node's unique name in the cluster (default: the host name, lower case).\n", config, StringComparison.Ordinal);
        var unit = await File.ReadAllTextAsync("/lib/systemd/system/lashup.service");
        Assert.Contains("\nExecStart=/usr/bin/lashup run --config /etc/lashup/lashup.toml\n", unit, StringComparison.Ordinal);
        Assert.Contains("\nType=notify\n", unit, StringComparison.Ordinal);
        if (TestEnvironment.HasCommand("systemd-analyze"))
        {
            // Checks the unit's syntax, that ExecStart is executable and the man page its Documentation= names exists.
            var verify = await Command.RunAsync(Short, ["systemd-analyze", "verify", "--man=no", "/lib/systemd/system/lashup.service"]);
            Assert.True(verify.ExitCode == 0 && verify.Output.Trim().Length == 0, verify.Output);
        }
    }

    private static async Task AssertCliAsync()
    {
        var version = await RunAsUnitAsync(Short, "/usr/bin/lashup", "--version");
        Assert.True(version.ExitCode == 0, version.Output);
        Assert.Equal($"lashup {Version} (plugin contract 1)", version.StandardOutput.Trim());

        var check = await RunAsUnitAsync(Short, "/usr/bin/lashup", "config", "check", "/etc/lashup/lashup.toml");
        Assert.True(check.ExitCode == 0, check.Output);

        var plugins = await RunAsUnitAsync(Short, "/usr/bin/lashup", "plugins", "--config", "/etc/lashup/lashup.toml");
        Assert.True(plugins.ExitCode == 0, plugins.Output);
        Assert.Contains("/usr/lib/lashup/plugins/Lashup.Plugins.Core", plugins.StandardOutput, StringComparison.Ordinal);
    }

    private static async Task RunDaemonAsync()
    {
        using var ns = await NetworkNamespace.CreateAsync("deb");
        using var notify = new NotifySocket();
        // ip netns exec, setpriv and env each exec the next, so the process started is the daemon itself.
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var part in (string[])
                 [
                     "netns", "exec", ns.Name, .. AsTheUnit, "env", "-i", .. UnitEnvironment, $"NOTIFY_SOCKET={notify.Path}",
                     "/usr/bin/lashup", "run", "--config", "/etc/lashup/lashup.toml",
                 ])
        {
            info.ArgumentList.Add(part);
        }

        using var daemon = Process.Start(info)!;
        var log = new System.Text.StringBuilder();
        daemon.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        daemon.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        daemon.BeginOutputReadLine();
        daemon.BeginErrorReadLine();
        string Log()
        {
            lock (log)
            {
                return $"\ndaemon output:\n{log}\nnotifications: {string.Join(" | ", notify.Messages)}";
            }
        }

        try
        {
            Assert.True(await notify.WaitForAsync("READY=1", Startup), "no READY=1" + Log());
            Assert.True(await notify.WaitForAsync("WATCHDOG=1", Short), "no WATCHDOG=1 with WATCHDOG_USEC set" + Log());

            var health = await Command.RunAsync(Short, [.. ns.Exec, "curl", "-fsS", "--max-time", "10", "http://127.0.0.1:9470/health"]);
            Assert.True(health.ExitCode == 0, health.Output + Log());

            // The packaged DNS listener (127.0.0.1:8053), its own zone and this node's record.
            var soa = await Command.RunAsync(Short, [.. ns.Exec, "dig", "@127.0.0.1", "-p", "8053", "+time=2", "+tries=3", "lashup.directory", "SOA"]);
            Assert.True(soa.StandardOutput.Contains("status: NOERROR", StringComparison.Ordinal), soa.Output + Log());

            // A client command without --config finds the daemon through /etc/lashup/lashup.toml.
            var members = await Command.RunAsync(Short, [.. ns.Exec, "/usr/bin/lashup", "members"], Clean);
            Assert.True(members.ExitCode == 0, members.Output + Log());
            Assert.Contains(Environment.MachineName.ToLowerInvariant(), members.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("alive", members.StandardOutput, StringComparison.Ordinal);

            // The unit's capabilities at work: a VIP that is no address of the host goes onto lo (CAP_NET_ADMIN, passed to
            // `ip` as an ambient capability), on port 80 (CAP_NET_BIND_SERVICE), though the daemon is not root.
            var vip = await Command.RunAsync(Short, [.. ns.Exec, "/usr/bin/lashup", "vip", "add", $"{Vip}:80/tcp", "--backend", "127.0.0.1:9", "--json"], Clean);
            Assert.True(vip.ExitCode == 0, vip.Output + Log());
            Assert.True(await ProgrammedAsync(ns, vip.StandardOutput), vip.Output + Log());
            Assert.Contains($"inet {Vip}/32", (await ns.RunCheckedAsync("ip", "-4", "addr", "show", "dev", "lo")), StringComparison.Ordinal);

            // What the daemon wrote is the lashup user's.
            var owners = await Command.RunCheckedAsync(Short, "find", "/var/lib/lashup", "-mindepth", "1", "-not", "-user", "lashup");
            Assert.True(owners.StandardOutput.Length == 0, "not the lashup user's: " + owners.StandardOutput);
            Assert.NotEmpty(Directory.GetFileSystemEntries("/var/lib/lashup"));

            // systemctl stop: SIGTERM, STOPPING=1, exit 0 well within TimeoutStopSec.
            await Command.RunCheckedAsync(Short, "kill", "-TERM", daemon.Id.ToString(CultureInfo.InvariantCulture));
            using (var exit = new CancellationTokenSource(Short))
            {
                await daemon.WaitForExitAsync(exit.Token);
            }

            Assert.True(daemon.ExitCode == 0, $"exit {daemon.ExitCode}" + Log());
            Assert.True(await notify.WaitForAsync("STOPPING=1", TimeSpan.FromSeconds(5)), "no STOPPING=1" + Log());
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill(entireProcessTree: true);
                daemon.WaitForExit(10_000);
            }
        }
    }

    /// <summary>An upgrade to a newer version keeps the edited conffile, the user and the daemon's state.</summary>
    private static async Task UpgradeAsync(string layout, string output)
    {
        const string edit = "\n# edited by DebPackageTests\n";
        await File.AppendAllTextAsync("/etc/lashup/lashup.toml", edit);
        var state = Directory.GetFileSystemEntries("/var/lib/lashup").Order(StringComparer.Ordinal).ToList();
        var newer = $"{Version}+1";
        var build = await Command.RunCheckedAsync(TimeSpan.FromMinutes(5), Path.Combine(TestEnvironment.RepoRoot, "packaging", "deb", "build.sh"), "--layout", layout, "--out", output, "--version", newer);

        await Command.RunCheckedAsync(TimeSpan.FromMinutes(2), "dpkg", "-i", "--force-depends", build.StandardOutput.Trim());

        Assert.Equal(newer, (await Command.RunCheckedAsync(Short, "dpkg-query", "-W", "-f=${Version}", "lashup")).StandardOutput);
        Assert.EndsWith(edit, await File.ReadAllTextAsync("/etc/lashup/lashup.toml"), StringComparison.Ordinal);
        Assert.Equal(["/etc/lashup/lashup.toml"], Directory.GetFileSystemEntries("/etc/lashup"));
        Assert.Equal("root:lashup 640", (await Command.RunCheckedAsync(Short, "stat", "-c", "%U:%G %a", "/etc/lashup/lashup.toml")).StandardOutput.Trim());
        Assert.Equal("lashup:lashup 750", (await Command.RunCheckedAsync(Short, "stat", "-c", "%U:%G %a", "/var/lib/lashup")).StandardOutput.Trim());
        Assert.Equal(state, Directory.GetFileSystemEntries("/var/lib/lashup").Order(StringComparer.Ordinal));
    }

    private static async Task<bool> ProgrammedAsync(NetworkNamespace ns, string added)
    {
        if (JsonDocument.Parse(added).RootElement.GetProperty("programmed").GetBoolean())
        {
            return true;
        }

        // Not yet on the first answer: the next reconcile must get there.
        var deadline = DateTime.UtcNow + Short;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            var list = await Command.RunAsync(Short, [.. ns.Exec, "/usr/bin/lashup", "vip", "list", $"{Vip}:80/tcp", "--json"], Clean);
            if (list.ExitCode == 0 && Regex.IsMatch(list.StandardOutput, "\"programmed\":\\s*true"))
            {
                return true;
            }
        }

        return false;
    }

    private static async Task AssertPurgedAsync()
    {
        var status = await Command.RunAsync(Short, ["dpkg-query", "-W", "-f=${Status}", "lashup"]);
        Assert.False(status.StandardOutput.Contains("installed", StringComparison.Ordinal) || status.StandardOutput.Contains("config-files", StringComparison.Ordinal), status.Output);
        foreach (var path in (string[])
                 [
                     "/usr/lib/lashup", "/etc/lashup", "/var/lib/lashup", "/usr/bin/lashup", "/lib/systemd/system/lashup.service",
                     "/etc/systemd/system/multi-user.target.wants/lashup.service", "/var/lib/systemd/deb-systemd-helper-enabled/lashup.service",
                     "/var/lib/systemd/deb-systemd-helper-masked/lashup.service",
                     "/usr/share/doc/lashup", "/usr/share/man/man1/lashup.1.gz",
                 ])
        {
            // stat does not follow a symlink: a dangling one counts as left too.
            Assert.True((await Command.RunAsync(Short, ["stat", path])).ExitCode != 0, $"{path} is left after dpkg --purge");
        }

        Assert.Equal(2, (await Command.RunAsync(Short, ["getent", "passwd", "lashup"])).ExitCode);
        Assert.Equal(2, (await Command.RunAsync(Short, ["getent", "group", "lashup"])).ExitCode);
    }

    /// <summary>The test runner's environment, without what would point lashup elsewhere than the package's files.</summary>
    private static readonly Dictionary<string, string?> Clean = new()
    {
        ["LASHUP_CONFIG"] = null, ["LASHUP_SYSTEM_CONFIG"] = null, ["DOTNET_ROOT"] = null, ["DOTNET_ROOT_X64"] = null,
        ["NOTIFY_SOCKET"] = null, ["WATCHDOG_USEC"] = null, ["WATCHDOG_PID"] = null,
    };

    private static Task<CommandResult> RunAsUnitAsync(TimeSpan timeout, params string[] command) =>
        Command.RunAsync(timeout, [.. AsTheUnit, "env", "-i", .. UnitEnvironment, .. command]);

    /// <summary>
    /// The publish.sh layout ./test.sh makes in artifacts/install. Off CI (a developer running this project alone)
    /// a missing one is published here; on CI it is a broken test.sh.
    /// </summary>
    private static async Task<string> LayoutAsync()
    {
        var layout = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "install");
        if (!File.Exists(Path.Combine(layout, "lashup.dll")))
        {
            Assert.False(TestEnvironment.IsCi, $"{layout} is missing: ./test.sh publishes it (packaging/publish.sh artifacts/install) before the tests");
            await Command.RunCheckedAsync(TimeSpan.FromMinutes(20), Path.Combine(TestEnvironment.RepoRoot, "packaging", "publish.sh"), layout);
        }

        return layout;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("lashup-deb-").FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
