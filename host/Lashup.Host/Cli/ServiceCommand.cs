using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;

namespace Lashup.Host.Cli;

/// <summary>
/// <c>lashup service register|deregister|list</c>: service registrations of a running daemon (served by its core
/// plugin at <c>/v1/services</c>, whatever else is on; they go into the replicated store, so every node's DNS answers
/// for them).
/// </summary>
internal static class ServiceCommand
{
    public static Command Build(Option<string?> api, Option<string?> config, Option<bool> json)
    {
        var service = new Command("service", "Register, deregister and list services (DNS names <service>.<zone>)");
        var name = new Argument<string>("service") { Description = "The service name, a DNS label such as web" };

        var address = new Option<string>("--address") { Description = "The instance's IPv4 or IPv6 address", Required = true };
        var ports = new Option<string[]>("--port") { Description = "A port: [name:]number[/tcp|/udp], e.g. http:80/tcp (repeatable)" };
        var instance = new Option<string?>("--instance") { Description = "The instance name (default: the address, e.g. 10-0-0-5)" };
        var node = new Option<string?>("--node") { Description = "The node it runs on (default: the daemon's node); healthy while that node is reachable" };
        var register = new Command("register", "Register (or update) one instance of a service") { name, address, ports, instance, node, api, config, json };
        register.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var body = new { address = p.GetValue(address), ports = p.GetValue(ports) ?? [], instance = p.GetValue(instance), node = p.GetValue(node) };
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/v1/services/{Uri.EscapeDataString(p.GetValue(name)!)}") { Content = JsonContent.Create(body) };
            using var response = await c.SendAsync(request, ct);
            Print(await Read(response, ct), p.GetValue(json), single: true);
        }, ct));
        service.Subcommands.Add(register);

        var instanceName = new Argument<string>("instance") { Description = "The instance name (see lashup service list)" };
        var deregister = new Command("deregister", "Remove one instance of a service") { name, instanceName, api, config, json };
        deregister.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Delete,
                $"/v1/services/{Uri.EscapeDataString(p.GetValue(name)!)}/{Uri.EscapeDataString(p.GetValue(instanceName)!)}");
            using var response = await c.SendAsync(request, ct);
            Print(await Read(response, ct), p.GetValue(json), single: true);
        }, ct));
        service.Subcommands.Add(deregister);

        var optionalName = new Argument<string?>("service") { Description = "Only this service", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List services and their instances") { optionalName, api, config, json };
        list.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var one = p.GetValue(optionalName);
            using var request = new HttpRequestMessage(HttpMethod.Get, one is null ? "/v1/services" : $"/v1/services/{Uri.EscapeDataString(one)}");
            using var response = await c.SendAsync(request, ct);
            Print(await Read(response, ct), p.GetValue(json), single: one is not null);
        }, ct));
        service.Subcommands.Add(list);
        return service;
    }

    private static async Task<JsonElement> Read(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType != "application/json")
        {
            throw new ClientException("the daemon does not serve /v1/services: its core plugin is not enabled ([core] in its config)");
        }

        return await AdminClient.ReadAsync<JsonElement>(response, cancellationToken);
    }

    private static void Print(JsonElement result, bool json, bool single)
    {
        if (json)
        {
            Console.Out.WriteLine(result.GetRawText());
            return;
        }

        var services = single ? [result] : result.GetProperty("services").EnumerateArray().ToList();
        var rows = new List<IReadOnlyList<string>>();
        foreach (var s in services)
        {
            foreach (var i in s.GetProperty("instances").EnumerateArray())
            {
                rows.Add(
                [
                    s.GetProperty("name").GetString() ?? "",
                    i.GetProperty("instance").GetString() ?? "",
                    i.GetProperty("address").GetString() ?? "",
                    string.Join(",", i.GetProperty("ports").EnumerateArray().Select(x => x.GetString())),
                    i.GetProperty("node").GetString() ?? "",
                    i.GetProperty("healthy").GetBoolean() ? "yes" : "no",
                ]);
            }
        }

        if (rows.Count == 0)
        {
            Console.Out.WriteLine("no services");
            return;
        }

        Table.Write(Console.Out, ["SERVICE", "INSTANCE", "ADDRESS", "PORTS", "NODE", "HEALTHY"], rows);
    }
}
