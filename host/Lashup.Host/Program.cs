using System.CommandLine;
using Lashup.Abstractions.Admin;
using Lashup.Host;
using Lashup.Host.Cli;
using Lashup.Host.Configuration;

var configOption = new Option<string?>("--config", "-c")
{
    Description = $"The TOML config file (default: ${InstallLayout.ConfigVariable}, else {InstallLayout.DefaultSystemConfigPath} when it exists, else the embedded default)",
};
var apiOption = new Option<string?>("--api") { Description = "The admin API of the daemon to talk to, e.g. http://127.0.0.1:9470 (default: admin.listen of --config)" };
var jsonOption = new Option<bool>("--json") { Description = "Print JSON for scripts instead of a table" };

var root = new RootCommand("lashup: a decentralized network control plane for container clusters");
VersionCommand.AddTo(root);

var run = new Command("run", "Run the daemon until SIGTERM or Ctrl-C") { configOption };
run.SetAction((parse, _) => Daemon.RunAsync(parse.GetValue(configOption), Console.Error));
root.Subcommands.Add(run);

var checkFile = new Argument<string?>("file")
{
    Description = "The config file to validate (default: the one `lashup run` would use)",
    Arity = ArgumentArity.ZeroOrOne,
};
var check = new Command("check", "Validate a config file without starting anything (exit 2 on errors)") { checkFile };
check.SetAction(parse => Daemon.Check(parse.GetValue(checkFile), Console.Out, Console.Error));
var configCommand = new Command("config", "Work with config files") { check };
root.Subcommands.Add(configCommand);

var plugins = new Command("plugins", "List the plugins found and which the config selects") { configOption, jsonOption };
plugins.SetAction(parse => PluginsCommand.Run(parse.GetValue(configOption), parse.GetValue(jsonOption), Console.Out, Console.Error));
root.Subcommands.Add(plugins);

var status = new Command("status", "Show a running daemon's node, readiness and plugins") { apiOption, configOption, jsonOption };
status.SetAction(async (parse, ct) =>
{
    try
    {
        using var client = AdminClient.Create(parse.GetValue(apiOption), parse.GetValue(configOption));
        var reply = await client.GetAsync<StatusResponse>("/v1/status", ct);
        if (parse.GetValue(jsonOption))
        {
            Console.Out.WriteLine(reply.Json);
            return 0;
        }

        var s = reply.Value;
        Console.Out.WriteLine($"node {s.Node} (cluster {s.Cluster}), lashup {s.Version}, up {TimeSpan.FromSeconds(s.UptimeSeconds):d\\.hh\\:mm\\:ss}, {(s.Ready ? "ready" : "NOT READY")}");
        Table.Write(Console.Out, ["CAPABILITY", "NAME", "VERSION", "FOLDER"], s.Plugins.Select(p => (IReadOnlyList<string>)[p.Capability, p.Name, p.Version, p.Folder]));
        return 0;
    }
    catch (ClientException e)
    {
        await Console.Error.WriteLineAsync($"lashup: {e.Message}");
        return Daemon.ExitFailure;
    }
});
root.Subcommands.Add(status);

var members = new Command("members", "Show the cluster's members as a running daemon sees them") { apiOption, configOption, jsonOption };
members.SetAction((parse, ct) => MembersCommand.RunAsync(parse.GetValue(apiOption), parse.GetValue(configOption), parse.GetValue(jsonOption), Console.Out, Console.Error, ct));
root.Subcommands.Add(members);

var keysArgument = new Argument<string[]>("keys") { Description = "New keys (base64), primary first; none to show which key ids each member holds", Arity = ArgumentArity.ZeroOrMore };
var forceOption = new Option<bool>("--force") { Description = "Apply the new keys even if that cuts reachable members off (or cannot be checked)" };
var keysCommand = new Command("keys", "Show or replace a running daemon's gossip encryption keys (rotation without restart: add, then promote, then drop, each on every node)") { apiOption, configOption, jsonOption, forceOption, keysArgument };
keysCommand.SetAction((parse, ct) => KeysCommand.RunAsync(parse.GetValue(apiOption), parse.GetValue(configOption), parse.GetValue(keysArgument) ?? [], parse.GetValue(forceOption), parse.GetValue(jsonOption), Console.Out, Console.Error, ct));
root.Subcommands.Add(keysCommand);

root.Subcommands.Add(KvCommand.Build(apiOption, configOption, jsonOption));
root.Subcommands.Add(ServiceCommand.Build(apiOption, configOption, jsonOption));
root.Subcommands.Add(VipCommand.Build(apiOption, configOption, jsonOption));
root.Subcommands.Add(OverlayCommand.Build(apiOption, configOption, jsonOption));

// The daemon handles SIGTERM/SIGINT itself (graceful, bounded by node.shutdown_timeout); System.CommandLine must not
// kill the process after its own short timeout.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
