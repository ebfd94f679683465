using System.Globalization;
using System.Net;
using Lashup.Abstractions.Cluster;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.Networking;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Authority;

/// <summary>
/// What the cluster's state means in DNS: the records of a service, a named VIP, a node and a zone apex, for every
/// zone served. Pure functions of their inputs, so the index can be rebuilt per owner and tested without a cluster.
/// </summary>
internal static class ClusterRecords
{
    public const string NameServerLabel = "ns";
    public const string NodeLabel = "node";
    public const string VipLabel = "l4lb";

    public static string ServiceOwner(string service) => "service:" + service;

    public static string VipOwner(string name) => "vip:" + name;

    public static string NodeOwner(string name) => "node:" + name;

    public static string ZoneOwner(string zone) => "zone:" + zone;

    /// <summary>
    /// A service: <c>&lt;service&gt;.&lt;zone&gt;</c> has the addresses of its healthy instances,
    /// <c>&lt;instance&gt;.&lt;service&gt;.&lt;zone&gt;</c> each instance's address (healthy or not),
    /// <c>_&lt;port&gt;._&lt;proto&gt;.&lt;service&gt;.&lt;zone&gt;</c> (by number and, if named, by name) one SRV per healthy
    /// instance with that port, and each address a PTR to its instance name. Healthy means registered by a node that
    /// is reachable; when none is, all instances are served (fail open, as dcos-l4lb did: a partitioned view should not
    /// black-hole a service that may well be up).
    /// </summary>
    public static IEnumerable<IndexedRecord> ForService(string service, IReadOnlyList<ServiceInstance> instances, Func<string, bool> isReachable, IReadOnlyList<string> zones)
    {
        var healthy = instances.Where(i => isReachable(i.Node)).ToList();
        if (healthy.Count == 0)
        {
            healthy = [.. instances];
        }

        // Names are built once per instance and per port and shared by every record that carries them (the A, the
        // PTR's target, the SRV's target): with 100k records, separate copies of the same names were a fifth of the index.
        var srvNames = new Dictionary<(ushort, TransportProtocol, string?), (string? ByNumber, string? ByName)>();
        foreach (var zone in zones)
        {
            var serviceName = $"{service}.{zone}";
            var instanceNames = new Dictionary<ServiceInstance, string>(ReferenceEqualityComparer.Instance);
            foreach (var instance in instances)
            {
                // Every instance keeps its own name and PTR, healthy or not: asking for one by name is deliberate.
                var instanceName = $"{instance.Instance}.{serviceName}";
                instanceNames[instance] = instanceName;
                yield return IndexedRecord.ForAddress(instanceName, instance.Address);
                yield return new IndexedRecord(ReverseOf(instance.Address), DnsRecordType.PTR, Target: instanceName);
            }

            srvNames.Clear();
            foreach (var instance in healthy)
            {
                var instanceName = instanceNames[instance];
                yield return IndexedRecord.ForAddress(serviceName, instance.Address);
                foreach (var port in instance.Ports)
                {
                    if (!srvNames.TryGetValue((port.Number, port.Protocol, port.Name), out var names))
                    {
                        var protocol = "_" + TransportProtocols.Name(port.Protocol);
                        names = ($"_{port.Number.ToString(CultureInfo.InvariantCulture)}.{protocol}.{serviceName}",
                            port.Name is null ? null : $"_{port.Name}.{protocol}.{serviceName}");
                        srvNames[(port.Number, port.Protocol, port.Name)] = names;
                    }

                    yield return new IndexedRecord(names.ByNumber!, DnsRecordType.SRV, Target: instanceName, Port: port.Number);
                    if (names.ByName is not null)
                    {
                        yield return new IndexedRecord(names.ByName, DnsRecordType.SRV, Target: instanceName, Port: port.Number);
                    }
                }
            }
        }
    }

    /// <summary>A named VIP: <c>&lt;name&gt;.l4lb.&lt;zone&gt;</c> → its address, and the PTR back.</summary>
    public static IEnumerable<IndexedRecord> ForVip(string name, IPAddress address, IReadOnlyList<string> zones)
    {
        foreach (var zone in zones)
        {
            var vipName = $"{name}.{VipLabel}.{zone}";
            yield return IndexedRecord.ForAddress(vipName, address);
            yield return new IndexedRecord(ReverseOf(address), DnsRecordType.PTR, Target: vipName);
        }
    }

    /// <summary>A node: <c>&lt;node&gt;.node.&lt;zone&gt;</c> → its underlay address, and the PTR back. None for a node that left or whose name is no DNS label.</summary>
    public static IEnumerable<IndexedRecord> ForNode(Member member, IReadOnlyList<string> zones)
    {
        var label = member.Name.ToLowerInvariant();
        if (member.State == MemberState.Left || !ServiceCatalog.IsValidLabel(label, out _))
        {
            yield break;
        }

        foreach (var zone in zones)
        {
            var nodeName = $"{label}.{NodeLabel}.{zone}";
            yield return IndexedRecord.ForAddress(nodeName, member.Address.Address);
            yield return new IndexedRecord(ReverseOf(member.Address.Address), DnsRecordType.PTR, Target: nodeName);
        }
    }

    /// <summary>The apex of a zone: SOA, NS <c>ns.&lt;zone&gt;</c>, and that name's addresses.</summary>
    public static IEnumerable<IndexedRecord> ForZoneApex(string zone, IReadOnlyList<IPAddress> nameServerAddresses)
    {
        var nameServer = $"{NameServerLabel}.{zone}";
        yield return new IndexedRecord(zone, DnsRecordType.SOA, Target: nameServer, Text: $"hostmaster.{zone}");
        yield return new IndexedRecord(zone, DnsRecordType.NS, Target: nameServer);
        foreach (var address in nameServerAddresses)
        {
            yield return IndexedRecord.ForAddress(nameServer, address);
        }
    }

    private static string ReverseOf(IPAddress address) => DnsName.Normalize(DnsReverseName.ToText(address));
}
