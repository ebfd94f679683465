using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Lashup.Abstractions.Admin;

namespace Lashup.Host.Cli;

/// <summary><c>lashup kv get|list|put|del|watch|quarantine</c>: the replicated store of a running daemon, values shown as JSON.</summary>
internal static class KvCommand
{
    public static Command Build(Option<string?> api, Option<string?> config, Option<bool> json)
    {
        var kv = new Command("kv", "Read and write the replicated key-value store of a running daemon");
        var key = new Argument<string>("key") { Description = "A key such as lb/vips/web:80" };
        var get = new Command("get", "Show one key's value and version") { key, api, config, json };
        get.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
            Print(await c.GetAsync<KvEntryResponse>($"/v1/kv/{Escape(p.GetValue(key)!)}", ct), p.GetValue(json)), ct));
        kv.Subcommands.Add(get);

        var prefix = new Argument<string?>("prefix") { Description = "Only keys under this prefix", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List keys (under a prefix) with their values") { prefix, api, config, json };
        list.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var reply = await c.GetAsync<KvListResponse>($"/v1/kv?prefix={Uri.EscapeDataString(p.GetValue(prefix) ?? "")}", ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(reply.Json);
                return;
            }

            if (reply.Value.Quarantined is { } quarantined)
            {
                Console.Error.WriteLine($"warning: {quarantined} keys under this prefix are quarantined (unreadable here); see lashup kv quarantine");
            }

            foreach (var entry in reply.Value.Entries)
            {
                Print(entry);
            }
        }, ct));
        kv.Subcommands.Add(list);

        // One option per operation of the store's vocabulary (KvOpSpec), e.g. --set FIELD=VALUE, --clear FIELD.
        var opOptions = KvOpSpec.All.Select(spec => (Spec: spec, Option: new Option<string[]>("--" + spec.Name)
        {
            Description = spec.NeedsValue ? $"FIELD={spec.ValueName}: {spec.Description}" : $"FIELD: {spec.Description}",
            AllowMultipleArgumentsPerToken = false,
        })).ToList();
        var put = new Command("put", "Apply operations to a key atomically (e.g. --set owner=alice --add backends=10.0.0.5:80)") { key, api, config, json };
        foreach (var (_, option) in opOptions)
        {
            put.Options.Add(option);
        }

        put.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var ops = new List<KvOpRequest?>();
            foreach (var (spec, option) in opOptions)
            {
                foreach (var arg in p.GetValue(option) ?? [])
                {
                    var (field, value) = spec.NeedsValue ? Split(arg, option.Name) : (arg, null);
                    ops.Add(new KvOpRequest(spec.Name, field, value));
                }
            }

            if (ops.Count == 0)
            {
                throw new ClientException("give at least one operation, e.g. --set owner=alice or --add backends=10.0.0.5:80");
            }

            Print(await c.SendAsync<KvEntryResponse>(HttpMethod.Put, $"/v1/kv/{Escape(p.GetValue(key)!)}", new KvUpdateRequest(ops), ct), p.GetValue(json));
        }, ct));
        kv.Subcommands.Add(put);

        var watch = new Command("watch", "Print the keys under a prefix, then every change, until Ctrl-C") { prefix, api, config, json };
        watch.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/kv-watch?prefix={Uri.EscapeDataString(p.GetValue(prefix) ?? "")}");
            using var response = await c.SendAsync(request, ct, HttpCompletionOption.ResponseHeadersRead);
            await AdminClient.ThrowIfErrorAsync(response, ct);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (p.GetValue(json))
                {
                    Console.Out.WriteLine(line);
                    continue;
                }

                var change = JsonSerializer.Deserialize<KvWatchLine>(line, AdminJson.Options);
                if (change?.Entry is { } entry)
                {
                    Console.Out.Write(change.Kind == KvWatchKind.Snapshot ? "  " : "~ ");
                    Print(entry);
                }
                else if (change?.Kind == KvWatchKind.SnapshotComplete)
                {
                    Console.Out.WriteLine("-- now watching for changes");
                }
            }
        }, ct));
        kv.Subcommands.Add(watch);

        var del = new Command("del", "Remove every field of a key") { key, api, config, json };
        del.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
            Print(await c.SendAsync<KvEntryResponse>(HttpMethod.Delete, $"/v1/kv/{Escape(p.GetValue(key)!)}", null, ct), p.GetValue(json)), ct));
        kv.Subcommands.Add(del);

        var drop = new Option<string?>("--drop") { Description = "Drop this quarantined key (its unreadable row is deleted; a peer's copy still arrives)" };
        var quarantine = new Command("quarantine", "List the keys this node could not read (store file rows, entries refused from peers)") { drop, api, config, json };
        quarantine.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            if (p.GetValue(drop) is { } dropped)
            {
                await c.SendAsync<KvQuarantineResponse>(HttpMethod.Delete, $"/v1/kv-quarantine/{Uri.EscapeDataString(dropped)}", null, ct);
                Console.Out.WriteLine($"dropped \"{dropped}\"");
                return;
            }

            var reply = await c.GetAsync<KvQuarantineResponse>("/v1/kv-quarantine", ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(reply.Json);
                return;
            }

            if (reply.Value.Quarantined.Count == 0)
            {
                Console.Out.WriteLine("no quarantined keys");
                return;
            }

            Table.Write(Console.Out, ["KEY", "SOURCE", "SINCE", "REASON"], reply.Value.Quarantined.Select(q => (IReadOnlyList<string>)
                [q.Key, q.Source, q.Since.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), q.Reason]));
        }, ct));
        kv.Subcommands.Add(quarantine);
        return kv;
    }

    private static (string Field, string Value) Split(string arg, string option)
    {
        var i = arg.IndexOf('=', StringComparison.Ordinal);
        return i > 0 ? (arg[..i], arg[(i + 1)..]) : throw new ClientException($"{option} takes FIELD=VALUE, got \"{arg}\"");
    }

    private static string Escape(string key) => string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    private static void Print(AdminReply<KvEntryResponse> reply, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(reply.Json);
        }
        else
        {
            Print(reply.Value);
        }
    }

    private static void Print(KvEntryResponse entry)
    {
        var version = string.Join(",", entry.Version.Select(v => string.Create(CultureInfo.InvariantCulture, $"{v.Key}:{v.Value}")));
        Console.Out.WriteLine($"{entry.Key}  {entry.Value.GetRawText()}  (version {version})");
    }
}
