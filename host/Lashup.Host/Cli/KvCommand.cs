using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;

namespace Lashup.Host.Cli;

/// <summary><c>lashup kv get|list|put|del</c>: the replicated store of a running daemon, values shown as JSON.</summary>
internal static class KvCommand
{
    private static readonly (string Option, string Op, bool NeedsValue, string Help)[] Ops =
    [
        ("--set", "set", true, "FIELD=VALUE: set a last-writer-wins register"),
        ("--add", "add", true, "FIELD=ELEMENT: add to an observed-remove set"),
        ("--remove", "remove", true, "FIELD=ELEMENT: remove from an observed-remove set"),
        ("--clear", "clear", false, "FIELD: empty an observed-remove set"),
        ("--mvset", "mvset", true, "FIELD=VALUE: write a multi-value register"),
        ("--enable", "enable", false, "FIELD: enable a flag"),
        ("--disable", "disable", false, "FIELD: disable a flag"),
        ("--incr", "incr", true, "FIELD=N: add N (may be negative) to a counter"),
        ("--unset", "unset", false, "FIELD: remove a field"),
    ];

    public static Command Build(Option<string?> api, Option<string?> config, Option<bool> json)
    {
        var kv = new Command("kv", "Read and write the replicated key-value store of a running daemon");
        var key = new Argument<string>("key") { Description = "A key such as lb/vips/web:80" };
        var get = new Command("get", "Show one key's value and version") { key, api, config, json };
        get.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
            Print(await c.GetAsync<JsonElement>($"/v1/kv/{Escape(p.GetValue(key)!)}", ct), p.GetValue(json), single: true), ct));
        kv.Subcommands.Add(get);

        var prefix = new Argument<string?>("prefix") { Description = "Only keys under this prefix", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List keys (under a prefix) with their values") { prefix, api, config, json };
        list.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
            Print(await c.GetAsync<JsonElement>($"/v1/kv?prefix={Uri.EscapeDataString(p.GetValue(prefix) ?? "")}", ct), p.GetValue(json), single: false), ct));
        kv.Subcommands.Add(list);

        var opOptions = Ops.Select(o => (o, Option: new Option<string[]>(o.Option) { Description = o.Help, AllowMultipleArgumentsPerToken = false })).ToList();
        var put = new Command("put", "Apply operations to a key atomically (e.g. --set owner=alice --add backends=10.0.0.5:80)") { key, api, config, json };
        foreach (var (_, option) in opOptions)
        {
            put.Options.Add(option);
        }

        put.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var ops = new List<object>();
            foreach (var (spec, option) in opOptions)
            {
                foreach (var arg in p.GetValue(option) ?? [])
                {
                    var (field, value) = spec.NeedsValue ? Split(arg, spec.Option) : (arg, null);
                    ops.Add(new { op = spec.Op, field, value });
                }
            }

            if (ops.Count == 0)
            {
                throw new ClientException("give at least one operation, e.g. --set owner=alice or --add backends=10.0.0.5:80");
            }

            using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/kv/{Escape(p.GetValue(key)!)}") { Content = JsonContent.Create(new { ops }) };
            using var response = await c.SendAsync(request, ct);
            Print(await AdminClient.ReadAsync<JsonElement>(response, ct), p.GetValue(json), single: true);
        }, ct));
        kv.Subcommands.Add(put);

        var watch = new Command("watch", "Print the keys under a prefix, then every change, until Ctrl-C") { prefix, api, config, json };
        watch.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/kv-watch?prefix={Uri.EscapeDataString(p.GetValue(prefix) ?? "")}");
            using var response = await c.SendAsync(request, ct, HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
            {
                await AdminClient.ReadAsync<JsonElement>(response, ct);
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (p.GetValue(json))
                {
                    Console.Out.WriteLine(line);
                    continue;
                }

                var doc = JsonDocument.Parse(line).RootElement;
                var kind = doc.GetProperty("kind").GetString();
                if (doc.TryGetProperty("entry", out var entry))
                {
                    Console.Out.Write(kind == "snapshot" ? "  " : "~ ");
                    Print(entry, json: false, single: true);
                }
                else
                {
                    Console.Out.WriteLine("-- now watching for changes");
                }
            }
        }, ct));
        kv.Subcommands.Add(watch);

        var del = new Command("del", "Remove every field of a key") { key, api, config, json };
        del.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/kv/{Escape(p.GetValue(key)!)}");
            using var response = await c.SendAsync(request, ct);
            Print(await AdminClient.ReadAsync<JsonElement>(response, ct), p.GetValue(json), single: true);
        }, ct));
        kv.Subcommands.Add(del);

        var drop = new Option<string?>("--drop") { Description = "Drop this quarantined key (its unreadable row is deleted; a peer's copy still arrives)" };
        var quarantine = new Command("quarantine", "List the keys this node could not read (store file rows, entries refused from peers)") { drop, api, config, json };
        quarantine.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            if (p.GetValue(drop) is { } dropped)
            {
                using var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/kv-quarantine/{Uri.EscapeDataString(dropped)}");
                using var response = await c.SendAsync(request, ct);
                await AdminClient.ReadAsync<JsonElement>(response, ct);
                Console.Out.WriteLine($"dropped \"{dropped}\"");
                return;
            }

            var result = await c.GetAsync<JsonElement>("/v1/kv-quarantine", ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(result.GetRawText());
                return;
            }

            var rows = result.GetProperty("quarantined").EnumerateArray().ToList();
            if (rows.Count == 0)
            {
                Console.Out.WriteLine("no quarantined keys");
                return;
            }

            Table.Write(Console.Out, ["KEY", "SOURCE", "SINCE", "REASON"], rows.Select(r => (IReadOnlyList<string>)new[]
            {
                r.GetProperty("key").GetString() ?? "", r.GetProperty("source").GetString() ?? "",
                r.GetProperty("since").GetDateTimeOffset().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture),
                r.GetProperty("reason").GetString() ?? "",
            }));
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

    private static void Print(JsonElement result, bool json, bool single)
    {
        if (json)
        {
            Console.Out.WriteLine(result.GetRawText());
            return;
        }

        var entries = single ? [result] : result.GetProperty("entries").EnumerateArray().ToList();
        if (!single && result.TryGetProperty("quarantined", out var quarantined))
        {
            Console.Error.WriteLine($"warning: {quarantined.GetInt32()} keys under this prefix are quarantined (unreadable here); see lashup kv quarantine");
        }

        foreach (var e in entries)
        {
            var version = string.Join(",", e.GetProperty("version").EnumerateObject().Select(v => $"{v.Name}:{v.Value}"));
            Console.Out.WriteLine($"{e.GetProperty("key").GetString()}  {e.GetProperty("value").GetRawText()}  (version {version})");
        }
    }
}
