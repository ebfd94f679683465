using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Lashup.Host.Configuration;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Cli;

/// <summary>
/// <c>lashup config check</c> on each kind of bad input: one clear line naming file:line:column or the key, exit 2.
/// Runs the command's code in-process (the same code path as the CLI); one test runs the real binary.
/// </summary>
public sealed class ConfigCheckTests
{
    public static TheoryData<string, string, string> BadConfigs => new()
    {
        {
            "malformed TOML",
            "[fixture\ngreeting = \"hi\"\n",
            "lashup.toml:11:"
        },
        {
            "unknown top-level section, nearest suggested",
            "[fixtur]\ngreeting = \"hi\"\n",
            "lashup.toml:11:1: unknown section [fixtur]; known sections: admin, core, dns, fixture, loadbalancer, logging, node, overlay, plugins; did you mean [fixture]?"
        },
        {
            "unknown key in a host section, nearest suggested",
            "[logging]\nlevle = \"debug\"\n",
            "lashup.toml:12:1: logging.levle: unknown key \"levle\"; did you mean \"level\"?"
        },
        {
            "unknown key in a plugin section, nearest suggested",
            "[fixture]\ngreetng = \"hi\"\n",
            "lashup.toml:12:1: fixture.greetng: unknown key \"greetng\"; did you mean \"greeting\"?"
        },
        {
            "wrong type",
            "[fixture]\ncount = \"x\"\n",
            "lashup.toml:12:1: fixture.count: expected an integer (-2147483648..2147483647), got \"x\""
        },
        {
            "wrong type in a host section",
            "[logging]\nlevel = 3\n",
            "lashup.toml:12:1: logging.level: expected one of \"trace\", \"debug\", \"information\", \"warning\", \"error\", got \"3\""
        },
        {
            "bad duration",
            "[fixture]\ninterval = \"5 parsecs\"\n",
            "lashup.toml:12:1: fixture.interval: "
        },
        {
            "unknown backend name lists the known ones",
            "[fixture]\nbackend = \"beta\"\n",
            "lashup.toml:12:1: fixture.backend: unknown plugin \"beta\"; known: alpha"
        },
        {
            "unknown key in a backend's section",
            "[fixture]\nbackend = \"alpha\"\n[fixture.alpha]\ndept = 4\n",
            "lashup.toml:14:1: fixture.alpha.dept: unknown key \"dept\"; did you mean \"depth\"?"
        },
        {
            "enabled that is not a boolean",
            "[fixture]\nenabled = \"yes\"\n",
            "lashup.toml:12:1: fixture.enabled: expected true or false, got \"yes\""
        },
        {
            "an enabled subsystem with no plugin installed",
            "[dns]\nenabled = true\n",
            "lashup.toml:11:1: [dns] is enabled but no plugin provides capability \"dns\""
        },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void Check_BadConfig_PrintsOneLocatedLineAndExits2(string what, string body, string expected)
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Backend");
        var path = setup.WriteConfig(body);

        var (code, stdout, stderr) = Check(path);

        Assert.True(code == 2, $"{what}: exit {code}, stderr: {stderr}");
        Assert.Equal(string.Empty, stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 1, what);
        Assert.Contains(lines, l => l.StartsWith("error: ", StringComparison.Ordinal) && l.Contains(expected, StringComparison.Ordinal));
    }

    /// <summary>
    /// Issue 15, section 3: values that passed the check, then broke the daemon. Each row is a config written from
    /// line 1, followed by [admin] (its listen on line {adminLine}, port {admin}) and [plugins] (the fixture plugins
    /// and the built-in core and dns); the error line expected, where {root} is the config's folder.
    /// </summary>
    public static TheoryData<string, string, string> UnrunnableConfigs => new()
    {
        {
            "a protocol timer past a timer's longest period",
            "[core]\nprobe_interval = \"50d\"\n",
            "lashup.toml:2:1: core.probe_interval: must be between 100ms and 1m, got \"50d\""
        },
        {
            "the member-graph sync timer",
            "[core]\ngm_sync_interval = \"50d\"\n",
            "lashup.toml:2:1: core.gm_sync_interval: must be between 100ms and 1h, got \"50d\""
        },
        {
            "the join retry timer",
            "[core]\njoin_retry_interval = \"50d\"\n",
            "lashup.toml:2:1: core.join_retry_interval: must be between 100ms and 10m, got \"50d\""
        },
        {
            "the store's sync timer",
            "[core]\nkv_sync_interval = \"50d\"\n",
            "lashup.toml:2:1: core.kv_sync_interval: must be between 100ms and 1h, got \"50d\""
        },
        {
            "the DNS TCP idle timeout",
            "[core]\n[dns]\ntcp_idle_timeout = \"50d\"\n",
            "lashup.toml:3:1: dns.tcp_idle_timeout: must be between 100ms and 10m, got \"50d\""
        },
        {
            "the shutdown timeout",
            "[node]\nshutdown_timeout = \"50d\"\n",
            "lashup.toml:2:1: node.shutdown_timeout: must be between 1s and 1h, got \"50d\""
        },
        {
            "a vendor's duration without a range of its own is capped at a timer's longest period",
            "[fixture]\ninterval = \"50d\"\n",
            "lashup.toml:2:1: fixture.interval: must be between 0 and 49d17h2m47s294ms (the longest period a timer accepts), got \"50d\""
        },
        {
            "a duration overflowing TimeSpan",
            "[core]\nprobe_interval = \"99999999999d\"\n",
            "lashup.toml:2:1: core.probe_interval: must be between 100ms and 1m, got \"99999999999d\""
        },
        {
            "a vendor's duration overflowing TimeSpan",
            "[fixture]\ninterval = \"99999999999d\"\n",
            "lashup.toml:2:1: fixture.interval: must be between 0 and 49d17h2m47s294ms (the longest period a timer accepts), got \"99999999999d\""
        },
        {
            "TOML nested past the parser's depth",
            "[fixture]\nx = " + new string('[', 64) + new string(']', 64) + "\n",
            "lashup.toml:2:68: arrays and inline tables nest too deep (at most 63 levels)"
        },
        {
            "max_value_size 0",
            "[core]\nmax_value_size = 0\n",
            "lashup.toml:2:1: core.max_value_size: must be between 1024 and 134217728, got 0"
        },
        {
            "max_value_size negative",
            "[core]\nmax_value_size = -1\n",
            "lashup.toml:2:1: core.max_value_size: must be between 1024 and 134217728, got -1"
        },
        {
            "max_value_size over half of max_stream_frame_size",
            "[core]\nmax_stream_frame_size = 1048576\nmax_value_size = 1048576\n",
            "lashup.toml:3:1: core.max_value_size: must be at most half of max_stream_frame_size (524288), got 1048576"
        },
        {
            "a vendor's number outside its [Range]",
            "[fixture]\ncount = 1001\n",
            "lashup.toml:2:1: fixture.count: must be between 0 and 1000, got 1001"
        },
        {
            "core = DNS",
            "[core]\nlisten = \"127.0.0.1:7001\"\n[dns]\nlisten = [\"127.0.0.1:7001\"]\n",
            "lashup.toml:4:11: dns.listen[0]: 127.0.0.1:7001 is also core.listen (both bind UDP and TCP there); each needs its own address or port"
        },
        {
            "admin = DNS",
            "[core]\n[dns]\nlisten = [\"127.0.0.1:{admin}\"]\n",
            "lashup.toml:{adminLine}:1: admin.listen: 127.0.0.1:{admin} is also dns.listen[0] (both bind TCP there); each needs its own address or port"
        },
        {
            "admin = core",
            "[core]\nlisten = \"127.0.0.1:{admin}\"\n",
            "lashup.toml:{adminLine}:1: admin.listen: 127.0.0.1:{admin} is also core.listen (both bind TCP there); each needs its own address or port"
        },
        {
            "core = DNS's default address",
            "[core]\nlisten = \"127.0.0.1:8053\"\n[dns]\nttl = 5\n",
            "lashup.toml:2:1: core.listen: 127.0.0.1:8053 is also dns.listen[0] (both bind UDP and TCP there); each needs its own address or port"
        },
        {
            "one DNS address listed twice",
            "[core]\n[dns]\nlisten = [\"127.0.0.1:7002\", \"127.0.0.1:7002\"]\n",
            "lashup.toml:3:29: dns.listen[1]: 127.0.0.1:7002 is listed twice (also dns.listen[0])"
        },
        {
            "a wildcard address takes the port on every address",
            "[core]\nlisten = \"127.0.0.1:7003\"\n[dns]\nlisten = [\"0.0.0.0:7003\"]\n",
            "lashup.toml:4:11: dns.listen[0]: 0.0.0.0:7003 overlaps core.listen (127.0.0.1:7003): a wildcard address takes port 7003 on every address (both bind UDP and TCP); each needs its own port"
        },
        {
            "a vendor plugin's listen address = core",
            "[core]\nlisten = \"127.0.0.1:7004\"\n[fixture]\nlisten = \"127.0.0.1:7004\"\n",
            "lashup.toml:4:1: fixture.listen: 127.0.0.1:7004 is also core.listen (both bind TCP there); each needs its own address or port"
        },
        {
            "core on an address not on this host",
            "[core]\nlisten = \"192.0.2.1:7005\"\n",
            "lashup.toml:2:1: core.listen: 192.0.2.1 is not an address of this host; use one of its interface addresses, or 0.0.0.0 for all of them"
        },
        {
            "DNS on an address not on this host",
            "[core]\n[dns]\nlisten = [\"127.0.0.1:7006\", \"192.0.2.1:7006\"]\n",
            "lashup.toml:3:29: dns.listen[1]: 192.0.2.1 is not an address of this host; use one of its interface addresses, or 0.0.0.0 for all of them"
        },
        {
            "the load balancer without a backend",
            "[core]\n[loadbalancer]\nkeep_on_stop = true\n",
            "lashup.toml:2:1: loadbalancer.backend: [loadbalancer] needs one backend, e.g. backend = \"ipvs\"; known: ipvs, nftables, userspace"
        },
        {
            "the load balancer with two backends",
            "[core]\n[loadbalancer]\nbackend = [\"userspace\", \"userspace\"]\n",
            "lashup.toml:3:1: loadbalancer.backend: one backend only, got 2 (\"userspace\", \"userspace\"); known: ipvs, nftables, userspace"
        },
        {
            "an unknown load-balancer backend",
            "[core]\n[loadbalancer]\nbackend = \"ipvsx\"\n",
            "lashup.toml:3:1: loadbalancer.backend: unknown plugin \"ipvsx\"; known: ipvs, nftables, userspace"
        },
        {
            "the section of a backend whose plugin is not installed",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.ebpf]\nprogram = \"x\"\n",
            "lashup.toml:4:1: loadbalancer.ebpf: unknown key \"ebpf\" (no installed plugin of [loadbalancer] is named so: installed are ipvs, nftables, userspace; a backend's section needs its plugin in a plugin directory)"
        },
        {
            "an nftables table name that could say more than a name",
            "[core]\n[loadbalancer]\nbackend = \"nftables\"\n[loadbalancer.nftables]\ntable = \"x; flush ruleset\"\n",
            "lashup.toml:5:1: loadbalancer.nftables.table: expected a name of letters, digits and _ starting with a letter, at most 64 (e.g. \"lashup_lb\"), got \"x; flush ruleset\""
        },
        {
            "nftables buckets out of range",
            "[core]\n[loadbalancer]\nbackend = \"nftables\"\n[loadbalancer.nftables]\nbuckets = 0\n",
            "lashup.toml:5:1: loadbalancer.nftables.buckets: must be between 1 and 256, got 0"
        },
        {
            "a named VIP range that is not a network address",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nnamed_vip_range = \"10.200.0.1/16\"\n",
            "lashup.toml:4:1: loadbalancer.named_vip_range: \"10.200.0.1/16\" is not a network address; did you mean \"10.200.0.0/16\"?"
        },
        {
            "a named VIP range too small for two VIPs",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nnamed_vip_range = \"10.200.0.0/31\"\n",
            "lashup.toml:4:1: loadbalancer.named_vip_range: \"10.200.0.0/31\" is too small: a range needs room for at least two VIPs (at most /30)"
        },
        {
            "a named VIP range that is not a range",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nnamed_vip_range = \"web\"\n",
            "lashup.toml:4:1: loadbalancer.named_vip_range: expected a range in CIDR form such as \"10.200.0.0/16\", got \"web\""
        },
        {
            "a VXLAN VNI out of range",
            "[core]\n[overlay]\nenabled = true\nbackend = \"vxlan\"\n[overlay.vxlan]\nvni = 16777216\n",
            "lashup.toml:6:1: overlay.vxlan.vni: must be between 1 and 16777215, got 16777216"
        },
        {
            "a VXLAN port of 0",
            "[core]\n[overlay]\nenabled = true\nbackend = \"vxlan\"\n[overlay.vxlan]\nport = 0\n",
            "lashup.toml:6:1: overlay.vxlan.port: must be between 1 and 65535, got 0"
        },
        {
            "a VXLAN device name longer than an interface name",
            "[core]\n[overlay]\nenabled = true\nbackend = \"vxlan\"\n[overlay.vxlan]\ndevice = \"lashup-overlay-1\"\n",
            "lashup.toml:6:1: overlay.vxlan.device: expected an interface name of 1-15 ASCII characters without '/', ':' or spaces (e.g. \"lashup0\"), got \"lashup-overlay-1\""
        },
        {
            "a VXLAN MTU below IPv4's minimum",
            "[core]\n[overlay]\nenabled = true\nbackend = \"vxlan\"\n[overlay.vxlan]\nmtu = 100\n",
            "lashup.toml:6:1: overlay.vxlan.mtu: expected 0 (the underlay's MTU less 50, less 70 over IPv6) or 576-65485, got 100"
        },
        {
            "a named VIP range overlapping the overlay's",
            "[core]\n[overlay]\nenabled = false\nrange = \"10.200.4.0/24\"\n[loadbalancer]\nbackend = \"userspace\"\nnamed_vip_range = \"10.200.0.0/16\"\n",
            "lashup.toml:7:1: loadbalancer.named_vip_range: 10.200.0.0/16 overlaps the overlay's range 10.200.4.0/24 ([overlay] range); named VIPs need addresses no container has"
        },
        {
            "a reconcile interval out of range",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nreconcile_interval = \"100ms\"\n",
            "lashup.toml:4:1: loadbalancer.reconcile_interval: must be between 1s and 1h, got \"100ms\""
        },
        {
            "a proxy connect timeout out of range",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nconnect_timeout = \"0ms\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.connect_timeout: must be between 250ms and 1m, got \"0ms\""
        },
        {
            "a proxy listen address that is a wildcard",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nlisten_address = \"0.0.0.0\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.listen_address: expected one address of this host such as \"127.0.0.2\" (not a wildcard), got \"0.0.0.0\""
        },
        {
            "a proxy listen address this host does not have",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nlisten_address = \"192.0.2.77\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.listen_address: 192.0.2.77 is not an address of this host; every VIP would go unserved"
        },
        {
            "a proxy connection limit of 0",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nmax_connections = 0\n",
            "lashup.toml:5:1: loadbalancer.userspace.max_connections: must be between 1 and 1048576, got 0"
        },
        {
            "a proxy idle timeout that is no duration",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nidle_timeout = \"10 minutes\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.idle_timeout: expected a duration such as \"500ms\", \"5s\", \"1m30s\" or \"24h\", got \"10 minutes\""
        },
        {
            "a UDP idle timeout out of range",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nudp_idle_timeout = \"2h\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.udp_idle_timeout: must be between 1s and 1h, got \"2h\""
        },
        {
            "a proxy connect timeout shorter than the workers' 250 ms sweep",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nconnect_timeout = \"249ms\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.connect_timeout: must be between 250ms and 1m, got \"249ms\""
        },
        {
            "no UDP flows at all",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nmax_udp_flows = 0\n",
            "lashup.toml:5:1: loadbalancer.userspace.max_udp_flows: must be between 1 and 1048576, got 0"
        },
        {
            "proxy workers out of range",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nworkers = 300\n",
            "lashup.toml:5:1: loadbalancer.userspace.workers: must be between 0 and 256, got 300"
        },
        {
            "an unknown key of the proxy",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\n[loadbalancer.userspace]\nconnect_timeuot = \"1s\"\n",
            "lashup.toml:5:1: loadbalancer.userspace.connect_timeuot: unknown key \"connect_timeuot\"; did you mean \"connect_timeout\"?"
        },
        {
            "keep_on_stop that is not a boolean",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nkeep_on_stop = \"yes\"\n",
            "lashup.toml:4:1: loadbalancer.keep_on_stop: expected true or false, got \"yes\""
        },
        {
            "a named VIP range that is IPv4 multicast",
            "[core]\n[loadbalancer]\nbackend = \"userspace\"\nnamed_vip_range = \"239.0.0.0/8\"\n",
            "lashup.toml:4:1: loadbalancer.named_vip_range: \"239.0.0.0/8\" is not a range of unicast addresses"
        },
        {
            "data_dir is a file",
            "[node]\ndata_dir = \"afile\"\n",
            "lashup.toml:2:1: node.data_dir: {root}/afile is a file, not a folder"
        },
        {
            "data_dir under a file: cannot be created (read-only for this path, even as root)",
            "[node]\ndata_dir = \"afile/sub\"\n",
            "lashup.toml:2:1: node.data_dir: cannot create {root}/afile/sub: {root}/afile is a file"
        },
    };

    [Theory]
    [MemberData(nameof(UnrunnableConfigs))]
    public void Check_ValueTheDaemonCannotRunWith_NamesKeyLineAndLimit(string what, string body, string expected)
    {
        using var setup = new TempSetup("Fixture.Good");
        var (code, stdout, stderr, errors) = CheckWithBuiltInPlugins(setup, body, ref expected);

        Assert.True(code == 2, $"{what}: exit {code}, stderr: {stderr}");
        Assert.Equal(string.Empty, stdout);
        Assert.All(errors, l => Assert.StartsWith("error: ", l, StringComparison.Ordinal));
        Assert.Contains(expected, errors);
    }

    [SkippableTheory]
    [InlineData("/sys/lashup-test", "lashup.toml:2:1: node.data_dir: cannot create /sys/lashup-test: ")]
    [InlineData("/sys", "lashup.toml:2:1: node.data_dir: /sys is not writable: ")]
    public void Check_DataDirNotPermitted_NamesKey(string dataDir, string expected)
    {
        // sysfs refuses new files and folders even to root, unlike a chmod'ed folder.
        Skip.IfNot(OperatingSystem.IsLinux() && Directory.Exists("/sys/kernel"), "needs Linux sysfs at /sys");

        using var setup = new TempSetup("Fixture.Good");
        var (code, _, stderr, errors) = CheckWithBuiltInPlugins(setup, $"[node]\ndata_dir = \"{dataDir}\"\n", ref expected);

        Assert.True(code == 2, stderr);
        Assert.Contains(errors, l => l.StartsWith(expected, StringComparison.Ordinal));
    }

    [SkippableFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Check_DataDirReadOnly_NamesKey()
    {
        Skip.If(OperatingSystem.IsWindows() || Environment.UserName == "root", "root writes into a read-only (0555) folder; the sysfs and under-a-file cases cover root");
        using var setup = new TempSetup("Fixture.Good");
        var dir = Path.Combine(setup.Root, "ro");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var expected = $"lashup.toml:2:1: node.data_dir: {dir} is not writable: permission denied";
            var (code, _, stderr, errors) = CheckWithBuiltInPlugins(setup, $"[node]\ndata_dir = \"{dir}\"\n", ref expected);

            Assert.True(code == 2, stderr);
            Assert.Contains(expected, errors);
        }
        finally
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public void Check_ConfigDaemonCanRun_LeavesNoDataDirBehind()
    {
        using var setup = new TempSetup("Fixture.Good");
        var expected = string.Empty;
        var (code, stdout, stderr, _) = CheckWithBuiltInPlugins(setup, "[node]\ndata_dir = \"new/data\"\n[core]\nlisten = \"127.0.0.1:0\"\n[dns]\nlisten = [\"127.0.0.1:0\"]\n", ref expected);

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (2 plugin(s) selected: core/lashup, dns/lashup)", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(setup.Root, "new")), "config check created the data directory and left it");
    }

    [Fact]
    public void Check_EmptySubsystemTables_SelectTheirPlugins()
    {
        // An empty table has no configuration entry; "[core]" alone still switches the core on, as the README says.
        using var setup = new TempSetup("Fixture.Good");
        var expected = string.Empty;
        var (code, stdout, stderr, _) = CheckWithBuiltInPlugins(setup, "[core]\n[dns]\n", ref expected);

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (2 plugin(s) selected: core/lashup, dns/lashup)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_EmptyUnknownTable_Reported()
    {
        using var setup = new TempSetup("Fixture.Good");
        var expected = "lashup.toml:1:1: unknown section [cor]";
        var (code, _, stderr, errors) = CheckWithBuiltInPlugins(setup, "[cor]\n", ref expected);

        Assert.True(code == 2, stderr);
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Check_MemoryTrimIntervalOverADay_LocatedError()
    {
        using var setup = new TempSetup("Fixture.Good");
        var path = setup.WriteConfig($"""
            [node]
            name = "test-node"
            memory_trim_interval = "2d"

            [admin]
            listen = "127.0.0.1:{TestEnvironment.FreePort()}"

            [plugins]
            directories = ["plugins"]
            """, header: false);

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains("lashup.toml:3:1: node.memory_trim_interval: must be between 0 and 1d, got \"2d\"", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DuplicatePlugins_NamesBothFolders()
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Duplicate");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("both claim fixture/good; remove one", stderr, StringComparison.Ordinal);
        Assert.Contains($"plugins {Path.Combine(setup.PluginsDir, "Fixture.Duplicate")} and {Path.Combine(setup.PluginsDir, "Fixture.Good")} both claim", stderr, StringComparison.Ordinal);
        Assert.Contains("lashup.toml:10:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_PluginBuiltAgainstOtherMajor_IsRefused()
    {
        using var setup = new TempSetup("Fixture.WrongMajor");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("plugin fixture/wrong-major in ", stderr, StringComparison.Ordinal);
        Assert.Contains("was built against Lashup.Abstractions 2.x but this host provides 1.x", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_PluginShippingItsOwnAbstractions_IsRefused()
    {
        using var setup = new TempSetup("Fixture.ShipsAbstractions");
        var (code, _, stderr) = Check(setup.WriteConfig(""));

        Assert.Equal(2, code);
        Assert.Contains("ships its own Lashup.Abstractions.dll, Microsoft.Extensions.", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingPluginFolder_NamesIt()
    {
        using var setup = new TempSetup();
        var path = setup.WriteConfig("", header: false);
        File.WriteAllText(path, "[plugins]\ndirectories = [\"nowhere\"]\n");

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains($"lashup.toml:2:1: plugin directory {Path.Combine(setup.Root, "nowhere")} does not exist", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_MissingFile_SaysSo()
    {
        var (code, _, stderr) = Check("/nonexistent/lashup.toml");

        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/lashup.toml", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AdminPortInUse_SaysWhich()
    {
        using var setup = new TempSetup("Fixture.Good");
        using var squatter = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        squatter.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        squatter.Listen();
        var port = ((IPEndPoint)squatter.LocalEndPoint!).Port;

        var (code, _, stderr) = Check(setup.WriteConfig("[fixture]\n", port));

        Assert.Equal(2, code);
        Assert.Contains($"lashup.toml:7:1: admin.listen: 127.0.0.1:{port} is already in use by another process", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_AdminOffLoopbackWithoutToken_IsRefused()
    {
        using var setup = new TempSetup();
        var path = setup.WriteConfig("", header: false);
        File.WriteAllText(path, "[admin]\nlisten = \"0.0.0.0:9470\"\n[plugins]\ndirectories = [\"plugins\"]\n");

        var (code, _, stderr) = Check(path);

        Assert.Equal(2, code);
        Assert.Contains("admin.listen: 0.0.0.0:9470 is not a loopback address, so admin.token must be set", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_GoodConfig_SaysOkAndListsSelection()
    {
        using var setup = new TempSetup("Fixture.Good", "Fixture.Backend");
        var (code, stdout, stderr) = Check(setup.WriteConfig("[fixture]\ngreeting = \"hi\"\nbackend = \"alpha\"\n[fixture.alpha]\ndepth = 5\n"));

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (2 plugin(s) selected: fixture/good, fixture.backend/alpha)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_DisabledSubsystem_SelectsNothing()
    {
        using var setup = new TempSetup("Fixture.Good");
        var (code, stdout, stderr) = Check(setup.WriteConfig("[fixture]\nenabled = false\n"));

        Assert.True(code == 0, stderr);
        Assert.Contains("ok (0 plugin(s) selected)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ShippedReferenceConfig_IsValid()
    {
        // It lists no plugin folder: the built-in plugins come from the host's folder, here the checkout's build.
        using var setup = new TempSetup();
        var layout = Configuration.InstallLayoutTests.Layout(setup, Path.Combine(TestEnvironment.RepoRoot, "artifacts", "bin", "lashup"));
        var (code, stdout, stderr) = Check(Path.Combine(TestEnvironment.RepoRoot, "config", "lashup.toml"), layout);

        Assert.True(code == 0, stderr);
        Assert.Contains("ok", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigCheck_RealBinary_BadInputExits2WithLocatedError()
    {
        using var setup = new TempSetup("Fixture.Good");
        var path = setup.WriteConfig("[fixture]\ncount = \"x\"\n");

        var (code, output) = await LashupProcess.RunAsync(TimeSpan.FromSeconds(60), "config", "check", path);

        Assert.Equal(2, code);
        Assert.Contains($"error: {path}:12:1: fixture.count: expected an integer", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Checks <paramref name="body"/> followed by [admin] and [plugins] (fixtures and the built-in plugins) in
    /// <paramref name="setup"/>'s folder, with a file named <c>afile</c> in it; fills the placeholders of <paramref name="expected"/> and makes it an
    /// error line of that config file.
    /// </summary>
    private static (int Code, string Stdout, string Stderr, string[] Errors) CheckWithBuiltInPlugins(TempSetup setup, string body, ref string expected)
    {
        var builtIn = Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins");
        Assert.True(Directory.Exists(Path.Combine(builtIn, "Lashup.Plugins.Core")) && Directory.Exists(Path.Combine(builtIn, "Lashup.Plugins.Dns")),
            $"the built-in plugins are not built in {builtIn}: dotnet build Lashup.sln (./test.sh does it)");
        File.WriteAllText(Path.Combine(setup.Root, "afile"), "not a folder\n");
        var admin = TestEnvironment.FreePort().ToString(CultureInfo.InvariantCulture);
        body = body.Replace("{admin}", admin, StringComparison.Ordinal);
        var adminLine = (body.Count(c => c == '\n') + 2).ToString(CultureInfo.InvariantCulture);
        var path = setup.WriteConfig(body + $"""
            [admin]
            listen = "127.0.0.1:{admin}"
            [plugins]
            directories = ["plugins", "{builtIn}"]

            """, header: false);
        expected = "error: " + Path.Combine(setup.Root, expected
            .Replace("{admin}", admin, StringComparison.Ordinal)
            .Replace("{adminLine}", adminLine, StringComparison.Ordinal)
            .Replace("{root}", setup.Root, StringComparison.Ordinal));

        var (code, stdout, stderr) = Check(path);

        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
        return (code, stdout, stderr, stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static (int Code, string Stdout, string Stderr) Check(string path, InstallLayout? layout = null)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = Daemon.Check(path, stdout, stderr, layout);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
