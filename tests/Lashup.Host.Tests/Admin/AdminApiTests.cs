using Lashup.Abstractions.Admin;
using Lashup.Host.Admin;
using NSubstitute;

namespace Lashup.Host.Tests.Admin;

public sealed class AdminApiTests
{
    private static IAdminEndpoint Endpoint(string method, string pattern)
    {
        var endpoint = Substitute.For<IAdminEndpoint>();
        endpoint.Method.Returns(method);
        endpoint.Pattern.Returns(pattern);
        return endpoint;
    }

    [Fact]
    public void EnsureOneEndpointPerRoute_SameMethodAndRoute_RefusedNamingTheRoute()
    {
        var e = Assert.Throws<InvalidOperationException>(() => AdminApi.EnsureOneEndpointPerRoute(
            [Endpoint("PUT", "/v1/services/{service}"), Endpoint("GET", "/v1/services/{service}"), Endpoint("put", "/v1/services/{service}")]));
        Assert.StartsWith("admin route PUT /v1/services/{service} is claimed by ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("; one endpoint per route", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EnsureOneEndpointPerRoute_DistinctRoutes_Accepted() =>
        AdminApi.EnsureOneEndpointPerRoute([Endpoint("GET", "/v1/kv"), Endpoint("GET", "/v1/kv/{*key}"), Endpoint("PUT", "/v1/kv/{*key}")]);
}
