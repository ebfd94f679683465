using System.CommandLine;
using System.Globalization;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Host.Cli;

/// <summary>
/// <c>lashup vip add|remove|list</c> and <c>lashup vip backend add|remove</c>: the VIPs of a running daemon (served by
/// its load-balancer plugin at <c>/v1/vips</c>; they go into the replicated store, so every node serves them).
/// </summary>
internal static class VipCommand
{
    public static Command Build(Option<string?> api, Option<string?> config, Option<bool> json)
    {
        var vip = new Command("vip", "Add, remove and list virtual IPs (VIPs) and their backends; every node serves every VIP");
        var vipArgument = new Argument<string>("vip") { Description = "ADDR:PORT[/tcp|udp] (e.g. 10.0.0.1:80, [fd00::1]:53/udp) or NAME:PORT[/tcp|udp] for a named VIP (NAME.l4lb.<zone> in DNS)" };

        var backends = new Option<string[]>("--backend") { Description = "A backend, ADDR:PORT, on this daemon's node at weight 1 (repeatable)" };
        var service = new Option<string?>("--service") { Description = "Also take the instances of service NAME serving PORT (default: the VIP's port), NAME[:PORT]" };
        var add = new Command("add", "Add a VIP (or add backends to it); a named VIP gets an address from named_vip_range") { vipArgument, backends, service, api, config, json };
        add.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var body = new VipRequest(p.GetValue(backends) ?? [], p.GetValue(service));
            var reply = await c.SendAsync<VipResponse>(HttpMethod.Put, PathOf(p.GetValue(vipArgument)), body, ct);
            Print(reply.Json, [reply.Value], p.GetValue(json));
        }, ct));
        vip.Subcommands.Add(add);

        var remove = new Command("remove", "Remove a VIP (a named VIP's address is released with its last VIP)") { vipArgument, api, config, json };
        remove.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var reply = await c.SendAsync<VipRemovedResponse>(HttpMethod.Delete, PathOf(p.GetValue(vipArgument)), null, ct);
            Console.Out.WriteLine(p.GetValue(json)
                ? reply.Json
                : $"removed {reply.Value.Vip}{(reply.Value.ReleasedName is { } name ? $"; name {name} released" : "")}");
        }, ct));
        vip.Subcommands.Add(remove);

        var optionalVip = new Argument<string?>("vip") { Description = "Only this VIP", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List VIPs with each backend's node, weight, state (active, draining, excluded, fail-open) and whether this node programmed it") { optionalVip, api, config, json };
        list.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            if (p.GetValue(optionalVip) is { } one)
            {
                var reply = await c.GetAsync<VipResponse>(PathOf(one), ct);
                Print(reply.Json, [reply.Value], p.GetValue(json));
                return;
            }

            var all = await c.GetAsync<VipListResponse>("/v1/vips", ct);
            Print(all.Json, all.Value.Vips, p.GetValue(json));
            if (!p.GetValue(json) && all.Value.Malformed is { } malformed)
            {
                Console.Out.WriteLine($"({malformed} malformed part(s) of VIP entries in the store skipped)");
            }
        }, ct));
        vip.Subcommands.Add(list);

        var backend = new Command("backend", "Add, change or remove one backend of a VIP");
        var endpoint = new Argument<string>("backend") { Description = "The backend, ADDR:PORT" };
        var weight = new Option<int?>("--weight") { Description = "0 to 1000 (default 1, or the backend's current weight); 0 drains: open connections go on, no new ones" };
        var node = new Option<string?>("--node") { Description = "The node it runs on, whose reachability steers traffic (default: this daemon's node, or the backend's current node)" };
        var backendAdd = new Command("add", "Add a backend to a VIP, or change its weight or node (run again to update)") { vipArgument, endpoint, weight, node, api, config, json };
        backendAdd.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var body = new VipBackendRequest(p.GetValue(weight), p.GetValue(node));
            var reply = await c.SendAsync<VipResponse>(HttpMethod.Put, BackendPathOf(p.GetValue(vipArgument), p.GetValue(endpoint)), body, ct);
            Print(reply.Json, [reply.Value], p.GetValue(json));
        }, ct));
        backend.Subcommands.Add(backendAdd);
        var backendRemove = new Command("remove", "Remove a backend from a VIP (open connections through each node go on until they end or idle out)") { vipArgument, endpoint, api, config, json };
        backendRemove.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var reply = await c.SendAsync<VipResponse>(HttpMethod.Delete, BackendPathOf(p.GetValue(vipArgument), p.GetValue(endpoint)), null, ct);
            Print(reply.Json, [reply.Value], p.GetValue(json));
        }, ct));
        backend.Subcommands.Add(backendRemove);
        vip.Subcommands.Add(backend);
        return vip;
    }

    /// <summary><c>/v1/vips/{proto}/{vip}</c> for what the operator wrote; a bad VIP is refused here, with the same message the API gives.</summary>
    private static string PathOf(string? text) =>
        VipId.TryParse(text, out var vip, out var error)
            ? $"/v1/vips/{TransportProtocols.Name(vip.Protocol)}/{Uri.EscapeDataString(vip.HostPort)}"
            : throw new ClientException(error);

    private static string BackendPathOf(string? vip, string? backend) =>
        $"{PathOf(vip)}/backends/{Uri.EscapeDataString(backend ?? "")}";

    private static void Print(string raw, IReadOnlyList<VipResponse> vips, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(raw);
            return;
        }

        if (vips.Count == 0)
        {
            Console.Out.WriteLine("no VIPs");
            return;
        }

        var rows = new List<IReadOnlyList<string>>();
        foreach (var vip in vips)
        {
            var address = vip.Address ?? "-";
            var served = vip.Programmed ? "yes" : $"no: {vip.Reason}";
            if (vip.Backends.Count == 0)
            {
                rows.Add([vip.Vip, address, "-", "-", "-", "-", served]);
                continue;
            }

            foreach (var b in vip.Backends)
            {
                var programmed = b.Programmed ? "yes" : "no";
                if (b.Reason is { } reason)
                {
                    programmed += ": " + reason;
                }

                if (b.Connections is { } connections)
                {
                    programmed += string.Create(CultureInfo.InvariantCulture, $" ({connections} open)");
                }

                rows.Add([vip.Vip, address, b.Backend, b.Node, b.Weight.ToString(CultureInfo.InvariantCulture), b.State, vip.Programmed ? programmed : served]);
            }
        }

        Table.Write(Console.Out, ["VIP", "ADDRESS", "BACKEND", "NODE", "WEIGHT", "STATE", "PROGRAMMED HERE"], rows);
    }
}
