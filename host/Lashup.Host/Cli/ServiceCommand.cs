using System.CommandLine;
using Lashup.Abstractions.Admin;

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
            var body = new ServiceRegistrationRequest(p.GetValue(address), p.GetValue(ports) ?? [], p.GetValue(instance), p.GetValue(node));
            Print(await c.SendAsync<ServiceResponse>(HttpMethod.Put, $"/v1/services/{Uri.EscapeDataString(p.GetValue(name)!)}", body, ct), p.GetValue(json));
        }, ct));
        service.Subcommands.Add(register);

        var instanceName = new Argument<string>("instance") { Description = "The instance name (see lashup service list)" };
        var deregister = new Command("deregister", "Remove one instance of a service") { name, instanceName, api, config, json };
        deregister.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            var path = $"/v1/services/{Uri.EscapeDataString(p.GetValue(name)!)}/{Uri.EscapeDataString(p.GetValue(instanceName)!)}";
            Print(await c.SendAsync<ServiceResponse>(HttpMethod.Delete, path, null, ct), p.GetValue(json));
        }, ct));
        service.Subcommands.Add(deregister);

        var optionalName = new Argument<string?>("service") { Description = "Only this service", Arity = ArgumentArity.ZeroOrOne };
        var list = new Command("list", "List services and their instances") { optionalName, api, config, json };
        list.SetAction((p, ct) => AdminClient.RunAsync(p.GetValue(api), p.GetValue(config), async c =>
        {
            if (p.GetValue(optionalName) is { } one)
            {
                Print(await c.GetAsync<ServiceResponse>($"/v1/services/{Uri.EscapeDataString(one)}", ct), p.GetValue(json));
                return;
            }

            var all = await c.GetAsync<ServiceListResponse>("/v1/services", ct);
            Print(all.Json, all.Value.Services, p.GetValue(json));
        }, ct));
        service.Subcommands.Add(list);
        return service;
    }

    private static void Print(AdminReply<ServiceResponse> reply, bool json) => Print(reply.Json, [reply.Value], json);

    private static void Print(string raw, IReadOnlyList<ServiceResponse> services, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(raw);
            return;
        }

        var rows = services
            .SelectMany(s => s.Instances.Select(i => (IReadOnlyList<string>)[s.Name, i.Instance, i.Address, string.Join(",", i.Ports), i.Node, i.Healthy ? "yes" : "no"]))
            .ToList();
        if (rows.Count == 0)
        {
            Console.Out.WriteLine("no services");
            return;
        }

        Table.Write(Console.Out, ["SERVICE", "INSTANCE", "ADDRESS", "PORTS", "NODE", "HEALTHY"], rows);
    }
}
