using System.CommandLine;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Overlay;

namespace Lashup.Host.Cli;

/// <summary>
/// <c>lashup overlay show|peers|release</c>: the overlay of a running daemon (served by its overlay plugin at
/// <c>/v1/overlay</c>): this node's subnet, the other nodes' claims as this node programs them, and the early release of
/// a departed node's subnet.
/// </summary>
internal static class OverlayCommand
{
    public static Command Build(Option<string?> api, Option<string?> config, Option<bool> json)
    {
        var overlay = new Command("overlay", "This node's overlay subnet, its peers, and the release of a departed node's subnet");

        var show = new Command("show", "This node: subnet, VTEP address and MAC, underlay, MTU, backend, last reconcile") { api, config, json };
        show.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var reply = await c.GetAsync<OverlayResponse>("/v1/overlay", ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(reply.Json);
                return;
            }

            var o = reply.Value;
            Table.Write(Console.Out, ["NODE", "SUBNET", "VTEP", "VTEP MAC", "UNDERLAY", "MTU", "BACKEND", "PROGRAMMED", "LAST RECONCILE"],
            [[
                o.Node, o.Subnet ?? "-", o.VtepAddress ?? "-", o.VtepMac ?? "-", o.Underlay,
                o.Mtu?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-", o.Backend,
                o.Programmed ? "yes" : $"no: {o.Reason}", o.LastReconcile ?? "-",
            ]]);
        }, ct));
        overlay.Subcommands.Add(show);

        var peers = new Command("peers", "Every node's claim: subnet, underlay, VTEP MAC, and its state here (local, programmed, unreachable, lost-claim, refused) with why") { api, config, json };
        peers.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var reply = await c.GetAsync<OverlayPeersResponse>("/v1/overlay/peers", ct);
            if (p.GetValue(json))
            {
                Console.Out.WriteLine(reply.Json);
                return;
            }

            if (reply.Value.Peers.Count == 0)
            {
                Console.Out.WriteLine("no claims");
                return;
            }

            Table.Write(Console.Out, ["NODE", "SUBNET", "UNDERLAY", "VTEP MAC", "STATE"],
                [.. reply.Value.Peers.Select(peer => (IReadOnlyList<string>)[peer.Node, peer.Subnet, peer.Underlay, peer.VtepMac ?? "-", peer.Reason is { } why ? $"{peer.State}: {why}" : peer.State])]);
            if (reply.Value.Malformed is { } malformed)
            {
                Console.Out.WriteLine($"({malformed} malformed claim(s) in the store skipped)");
            }
        }, ct));
        overlay.Subcommands.Add(peers);

        var node = new Argument<string>("node") { Description = "The departed node whose subnet to free" };
        var release = new Command("release", "Free a departed node's subnet now instead of when it expires (refused while the node is reachable)") { node, api, config, json };
        release.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var name = p.GetValue(node);
            if (!OverlayCatalog.IsValidNode(name))
            {
                throw new ClientException($"\"{name}\" is not a node name (1-253 letters, digits, '-', '.', '_')");
            }

            var reply = await c.SendAsync<OverlayReleasedResponse>(HttpMethod.Delete, $"/v1/overlay/nodes/{Uri.EscapeDataString(name!)}", null, ct);
            Console.Out.WriteLine(p.GetValue(json) ? reply.Json : $"released {reply.Value.Node}'s subnet {reply.Value.Subnet ?? "(none)"}");
        }, ct));
        overlay.Subcommands.Add(release);
        return overlay;
    }
}
