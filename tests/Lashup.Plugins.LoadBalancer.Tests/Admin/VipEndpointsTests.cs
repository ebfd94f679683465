using System.Net;
using System.Text;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Plugins.LoadBalancer.Admin;
using Lashup.Plugins.LoadBalancer.Tests.Support;
using Lashup.Testing;

namespace Lashup.Plugins.LoadBalancer.Tests.Admin;

/// <summary>The <c>/v1/vips</c> endpoints: every bad input is a 400 naming what is wrong, and nothing is written.</summary>
public sealed class VipEndpointsTests
{
    public static TheoryData<string, string, string, string> BadVips => new()
    {
        { "a bad address", "tcp", "300.1.1.1:80", "\"300.1.1.1:80\"" },
        { "port 0", "tcp", "10.0.0.1:0", "port" },
        { "a port over 65535", "tcp", "10.0.0.1:65536", "port" },
        { "no port", "tcp", "10.0.0.1", "" },
        { "an unknown protocol", "sctp", "10.0.0.1:80", "unknown protocol \"sctp\"; use tcp or udp" },
        { "a name that is not a DNS label", "tcp", "web_1:80", "web_1" },
        { "a name starting with a hyphen", "tcp", "-web:80", "-web" },
        { "a name too long for a label", "tcp", new string('a', 64) + ":80", "" },
        { "an unspecified address", "tcp", "0.0.0.0:80", "" },
        { "a multicast address", "udp", "224.0.0.1:53", "" },
        { "an address of the named range", "tcp", "10.200.0.5:80", "named_vip_range" },
    };

    [Theory]
    [MemberData(nameof(BadVips))]
    public async Task Put_BadVip_400_NothingWritten(string what, string proto, string vip, string mention)
    {
        await using var harness = new ControllerHarness();
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route(proto, vip), new VipRequest(["10.1.0.1:80"]));

        Assert.True(result.StatusCode == 400, $"{what}: {result.StatusCode}");
        Assert.Contains(mention, Error(result), StringComparison.Ordinal);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    public static TheoryData<string, string, string> BadBodies => new()
    {
        { "a backend with a bad address", """{"backends": ["10.1.0.300:80"]}""", "backends[0]" },
        { "a backend with port 0", """{"backends": ["10.1.0.1:80", "10.1.0.1:0"]}""", "backends[1]" },
        { "a backend with a port over 65535", """{"backends": ["10.1.0.1:70000"]}""", "backends[0]" },
        { "a backend that is the VIP itself", """{"backends": ["10.0.0.1:80"]}""", "backends[0]: 10.0.0.1:80 is the VIP itself; connections would loop" },
        { "a service that is not a DNS label", """{"service": "web_x"}""", "service" },
        { "a service with port 0", """{"service": "web:0"}""", "service" },
        { "an unknown field", """{"backend": ["10.1.0.1:80"]}""", "backend" },
        { "not JSON", "backends=10.1.0.1:80", "" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Put_BadBody_400_NothingWritten(string what, string body, string mention)
    {
        await using var harness = new ControllerHarness();
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80"), Encoding.UTF8.GetBytes(body));

        Assert.True(result.StatusCode == 400, $"{what}: {result.StatusCode} {Error(result)}");
        Assert.Contains(mention, Error(result), StringComparison.Ordinal);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    [Fact]
    public async Task Put_NamedVipWhoseBackendIsItsOwnAddress_400()
    {
        await using var harness = new ControllerHarness();
        var address = harness.Controller.AddressFor("web").Address!;
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "web:80"), new VipRequest([$"{address}:80"]));

        Assert.Equal(400, result.StatusCode);
        Assert.Contains("is the VIP itself", Error(result), StringComparison.Ordinal);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    [Fact]
    public async Task Put_VipOnAMembersAddress_400_NothingWritten()
    {
        await using var harness = new ControllerHarness();
        harness.Members.AddMember("node-4", new IPEndPoint(IPAddress.Parse("10.0.0.2"), 7472));
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.2:80"), new VipRequest(["10.1.0.1:80"]));

        Assert.Equal(400, result.StatusCode);
        Assert.Contains("10.0.0.2 is the address of member node-4", Error(result), StringComparison.Ordinal);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    [Theory]
    [InlineData("10.0.0.1:8080")]
    [InlineData("10.0.0.1:80")]
    public async Task Put_BackendOnTheVipsAddress_400_NothingWritten(string backend)
    {
        await using var harness = new ControllerHarness();
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80"), new VipRequest(["10.1.0.1:80", backend]));

        Assert.Equal(400, result.StatusCode);
        Assert.StartsWith("backends[1]: ", Error(result), StringComparison.Ordinal);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    [Fact]
    public async Task PutBackend_OnTheVipsAddress_400()
    {
        await using var harness = new ControllerHarness();
        await ControllerHarness.WriteVipAsync(harness.Store, VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, Abstractions.Networking.TransportProtocol.Tcp));
        var endpoint = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80", "10.0.0.1:8080"), new VipBackendRequest());

        Assert.Equal(400, result.StatusCode);
        Assert.Contains("is on the VIP's address 10.0.0.1", Error(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_LoopbackVip_BackendOnLoopback_Accepted()
    {
        // Loopback never leaves a host: a VIP there may have backends there too.
        await using var harness = new ControllerHarness();
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "127.0.0.1:80"), new VipRequest(["127.0.0.1:8080"]));

        Assert.Equal(200, result.StatusCode);
    }

    [Fact]
    public async Task Put_NamedVip_TooManyBackendsForOneUpdate_400_NoClaimWritten()
    {
        await using var harness = new ControllerHarness();
        var endpoint = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);
        var backends = Enumerable.Range(0, 3400).Select(i => $"10.1.{i / 250}.{(i % 250) + 1}:80").ToList();

        var result = await CallAsync(endpoint, Route("tcp", "web:80"), new VipRequest(backends));

        Assert.Equal(400, result.StatusCode);
        Assert.Contains("3400 backends are too many for one request", Error(result), StringComparison.Ordinal);
        Assert.DoesNotContain(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")), e => !e.IsEmpty);
    }

    [Fact]
    public async Task Put_NamedVip_ValueRefusedByTheStore_400_ClaimGivenBack()
    {
        // A limit the endpoint cannot check beforehand (the value's encoded size): the claim, written first, is released.
        var store = new InMemoryReplicatedStore("node-1") { MaxValueBytes = 2000 };
        await using var harness = new ControllerHarness(store: store);
        var endpoint = new VipPutEndpoint(store, harness.Members, harness.Controller);
        var backends = Enumerable.Range(0, 200).Select(i => $"10.1.0.{i + 1}:80").ToList();

        var result = await CallAsync(endpoint, Route("tcp", "web:80"), new VipRequest(backends));

        Assert.Equal(400, result.StatusCode);
        Assert.Contains("the limit is 2000", Error(result), StringComparison.Ordinal);
        Assert.DoesNotContain(store.List(Abstractions.Data.KvKey.Parse("lb")), e => !e.IsEmpty);
        Assert.Null(store.Get(VipNames.KeyOf("web")) is { } claim ? VipNames.ReadClaim(claim) : null);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public async Task PutBackend_WeightOutOfRange_400_NothingWritten(int weight)
    {
        await using var harness = new ControllerHarness();
        var vip = VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, Abstractions.Networking.TransportProtocol.Tcp);
        var written = await harness.WriteVipAsync(vip, new VipBackend(IPEndPoint.Parse("10.1.0.1:80"), "node-1", 1));
        var endpoint = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80", "10.1.0.1:80"), new VipBackendRequest(weight));

        Assert.Equal(400, result.StatusCode);
        Assert.Equal($"weight: the weight must be 0 to 1000 (0 drains), got {weight}", Error(result));
        Assert.Equal(written.Version, harness.Store.Get(VipCatalog.KeyOf(vip))!.Version);
    }

    [Theory]
    [InlineData("10.0.0.1:80", "backend: 10.0.0.1:80 is the VIP itself; connections would loop")]
    [InlineData("10.1.0.1:0", "backend")]
    [InlineData("nonsense", "backend")]
    public async Task PutBackend_BadBackend_400_NothingWritten(string backend, string mention)
    {
        await using var harness = new ControllerHarness();
        var vip = VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, Abstractions.Networking.TransportProtocol.Tcp);
        var written = await harness.WriteVipAsync(vip);
        var endpoint = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80", backend), new VipBackendRequest(1));

        Assert.Equal(400, result.StatusCode);
        Assert.Contains(mention, Error(result), StringComparison.Ordinal);
        Assert.Equal(written.Version, harness.Store.Get(VipCatalog.KeyOf(vip))!.Version);
    }

    [Fact]
    public async Task PutBackend_BadNodeName_400()
    {
        await using var harness = new ControllerHarness();
        var vip = VipId.ForAddress(IPAddress.Parse("10.0.0.1"), 80, Abstractions.Networking.TransportProtocol.Tcp);
        await harness.WriteVipAsync(vip);
        var endpoint = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80", "10.1.0.1:80"), new VipBackendRequest(1, "node 2"));

        Assert.Equal(400, result.StatusCode);
        Assert.StartsWith("node: \"node 2\" is not a node name", Error(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PutBackend_UnknownVip_404()
    {
        await using var harness = new ControllerHarness();
        var endpoint = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);

        var result = await CallAsync(endpoint, Route("tcp", "10.0.0.1:80", "10.1.0.1:80"), new VipBackendRequest(1));

        Assert.Equal(404, result.StatusCode);
        Assert.Empty(harness.Store.List(Abstractions.Data.KvKey.Parse("lb")));
    }

    [Fact]
    public async Task Put_ThenBackendChanges_ThenDelete_NamedVipReleasesItsName()
    {
        await using var harness = new ControllerHarness();
        await harness.StartAsync();
        var put = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);
        var backendPut = new VipBackendPutEndpoint(harness.Store, harness.Members, harness.Controller);
        var delete = new VipDeleteEndpoint(harness.Store, harness.Controller);

        var added = await CallAsync(put, Route("tcp", "web:80"), new VipRequest(["10.1.0.1:80", "10.1.0.2:80"]));
        Assert.Equal(200, added.StatusCode);
        var response = Assert.IsType<VipResponse>(added.Body);
        Assert.Equal("web:80/tcp", response.Vip);
        // The claim is written with the VIP, so the name resolves at once.
        var claim = VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!)!;
        Assert.Equal(claim.Address.ToString(), response.Address);
        Assert.Equal(["node-1", "node-1"], response.Backends.Select(b => b.Node));

        // A later change keeps what it does not mention: the node, here.
        var drained = await CallAsync(backendPut, Route("tcp", "web:80", "10.1.0.2:80"), new VipBackendRequest(0));
        var backend = Assert.IsType<VipResponse>(drained.Body).Backends.Single(b => b.Backend == "10.1.0.2:80");
        Assert.Equal((0, "node-1", "draining"), (backend.Weight, backend.Node, backend.State));

        var removed = await CallAsync(delete, Route("tcp", "web:80"), (object?)null);
        Assert.Equal(new VipRemovedResponse("web:80/tcp", "web"), removed.Body);
        Assert.Null(VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!));
        Assert.Null(VipCatalog.Read(harness.Store.Get(VipCatalog.KeyOf(VipId.ForName("web", 80, Abstractions.Networking.TransportProtocol.Tcp)))!, out _));
    }

    [Fact]
    public async Task Delete_OneOfTwoVipsOfAName_KeepsTheName()
    {
        await using var harness = new ControllerHarness();
        await harness.StartAsync();
        var put = new VipPutEndpoint(harness.Store, harness.Members, harness.Controller);
        var delete = new VipDeleteEndpoint(harness.Store, harness.Controller);
        await CallAsync(put, Route("tcp", "web:80"), new VipRequest(["10.1.0.1:80"]));
        await CallAsync(put, Route("tcp", "web:443"), new VipRequest(["10.1.0.1:443"]));
        await ControllerHarness.EventuallyAsync(() => harness.Backend.Programmed.Vips.Count == 2, "both VIPs are served");

        var removed = await CallAsync(delete, Route("tcp", "web:80"), (object?)null);

        Assert.Equal(new VipRemovedResponse("web:80/tcp", null), removed.Body);
        Assert.NotNull(VipNames.ReadClaim(harness.Store.Get(VipNames.KeyOf("web"))!));
    }

    private static Dictionary<string, string> Route(string proto, string vip, string? backend = null)
    {
        var route = new Dictionary<string, string> { ["proto"] = proto, ["vip"] = vip };
        if (backend is not null)
        {
            route["backend"] = backend;
        }

        return route;
    }

    private static Task<AdminResult> CallAsync(IAdminEndpoint endpoint, Dictionary<string, string> route, object? body) =>
        CallAsync(endpoint, route, body is null ? [] : JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), AdminJson.Options));

    /// <summary>Calls the endpoint as the host does: what it throws becomes the answer the client gets.</summary>
    private static async Task<AdminResult> CallAsync(IAdminEndpoint endpoint, Dictionary<string, string> route, byte[] body)
    {
        try
        {
            return await endpoint.HandleAsync(new AdminRequest(route, new Dictionary<string, string>(), body), CancellationToken.None);
        }
        catch (Exception e)
        {
            return AdminResult.FromException(e);
        }
    }

    private static string Error(AdminResult result) => result.Body is AdminError error ? error.Error : "";
}
