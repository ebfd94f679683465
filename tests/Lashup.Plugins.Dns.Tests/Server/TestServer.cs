using System.Net;
using DnsClient;
using Lashup.Abstractions.Dns;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Services;
using Lashup.Plugins.Dns.Authority;
using Lashup.Plugins.Dns.Server;
using Lashup.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Dns.Tests.Server;

/// <summary>
/// The real server (index, indexer, engine, UDP and TCP listeners on 127.0.0.1, an ephemeral port) over the kit's
/// in-memory store and membership; queried with DnsClient, an independent DNS library.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private TestServer(InMemoryReplicatedStore store, FakeClusterMembership membership, RecordIndex index, ClusterIndexer indexer, DnsServer server, DnsStats stats)
    {
        Store = store;
        Membership = membership;
        Index = index;
        Indexer = indexer;
        Server = server;
        Stats = stats;
    }

    public InMemoryReplicatedStore Store { get; }

    public FakeClusterMembership Membership { get; }

    public RecordIndex Index { get; }

    public ClusterIndexer Indexer { get; }

    public DnsServer Server { get; }

    public DnsStats Stats { get; }

    public IPEndPoint Endpoint => Server.Endpoints[0];

    public static async Task<TestServer> StartAsync(
        string[]? zones = null,
        IEnumerable<IDnsRecordSource>? sources = null,
        IQueryForwarder? forwarder = null,
        TimeSpan? tcpIdleTimeout = null,
        int tcpMaxConnections = 16,
        string recursionFrom = "127.0.0.0/8",
        IPAddress? listen = null)
    {
        zones ??= ["lashup.directory"];
        var store = new InMemoryReplicatedStore("node-1");
        var membership = new FakeClusterMembership("node-1", new IPEndPoint(IPAddress.Parse("127.0.0.1"), 7470));
        var index = new RecordIndex(zones, new ZoneSettings(5, 5, 1));
        var indexer = new ClusterIndexer(index, store, membership, zones, () => [IPAddress.Loopback], NullLogger<ClusterIndexer>.Instance);
        var stats = new DnsStats();
        var engine = new QueryEngine(index, zones, sources ?? [], stats, 1232, NullLogger<QueryEngine>.Instance);
        var server = new DnsServer(engine, forwarder, new ClientAcl([IPNetwork.Parse(recursionFrom)]), stats, latency: null,
            [new IPEndPoint(listen ?? IPAddress.Loopback, 0)], workers: 2, tcpIdleTimeout ?? TimeSpan.FromSeconds(5), tcpMaxConnections, NullLogger<DnsServer>.Instance);
        await indexer.StartAsync(CancellationToken.None);
        await server.StartAsync(CancellationToken.None);
        var ready = DateTime.UtcNow + Timeout;
        while (!indexer.Check().IsReady && DateTime.UtcNow < ready)
        {
            await Task.Delay(10);
        }

        Assert.True(indexer.Check().IsReady, "the indexer did not load the store");
        return new TestServer(store, membership, index, indexer, server, stats);
    }

    public LookupClient Client(bool tcp = false, bool edns = true) => new(new LookupClientOptions(new NameServer(Endpoint))
    {
        UseCache = false,
        Retries = 0,
        Timeout = TimeSpan.FromSeconds(3),
        UseTcpOnly = tcp,
        UseTcpFallback = false,
        EnableAuditTrail = false,
        ThrowDnsErrors = false,
        ContinueOnDnsError = false,
        ContinueOnEmptyResponse = false,
        ExtendedDnsBufferSize = edns ? 1232 : 512,
        RequestDnsSecRecords = false,
    });

    public async Task<IDnsQueryResponse> QueryAsync(string name, QueryType type, bool tcp = false) =>
        await Client(tcp).QueryAsync(name, type, QueryClass.IN);

    public async Task RegisterAsync(string service, string instance, string address, string node = "node-1", params string[] ports) =>
        await Store.UpdateAsync(ServiceCatalog.KeyOf(service),
            ServiceCatalog.Register(new ServiceInstance(service, instance, IPAddress.Parse(address), node, [.. ports.Select(ServicePort.Parse)])));

    public async Task DeregisterAsync(string service, string instance) =>
        await Store.UpdateAsync(ServiceCatalog.KeyOf(service), ServiceCatalog.Deregister(instance));

    public async Task SetVipAsync(string name, string address) =>
        await Store.UpdateAsync(VipNames.KeyOf(name), VipNames.SetAddress(IPAddress.Parse(address)));

    /// <summary>Polls until <paramref name="condition"/> holds (the indexer applies store changes asynchronously).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"timed out waiting for {what}");
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Indexer.DisposeAsync();
    }
}
