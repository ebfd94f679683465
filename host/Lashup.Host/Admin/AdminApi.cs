using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Lifecycle;
using Lashup.Host.Configuration;
using Lashup.Host.Lifecycle;
using Lashup.Host.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Lashup.Host.Admin;

/// <summary>Maps the host's admin endpoints.</summary>
internal static class AdminApi
{
    /// <summary>
    /// Maps <c>/health</c>, <c>/ready</c>, <c>/metrics</c>, <c>/v1/status</c> and every plugin's endpoints.
    /// </summary>
    /// <exception cref="InvalidOperationException">Two endpoints claim the same method and route.</exception>
    public static void Map(WebApplication app, LoadedConfiguration config, IReadOnlyList<PluginInfo> plugins)
    {
        var endpoints = app.Services.GetServices<IAdminEndpoint>().ToList();
        EnsureOneEndpointPerRoute(endpoints);

        var started = Stopwatch.StartNew();
        if (!string.IsNullOrEmpty(config.Admin.Token))
        {
            var expected = Encoding.UTF8.GetBytes("Bearer " + config.Admin.Token);
            app.Use(async (context, next) =>
            {
                if (context.Request.Path != "/health")
                {
                    var given = Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
                    if (!CryptographicOperations.FixedTimeEquals(given, expected))
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        context.Response.Headers.WWWAuthenticate = "Bearer";
                        await context.Response.WriteAsJsonAsync(new AdminError("a valid bearer token is required"), AdminJson.Options);
                        return;
                    }
                }

                await next(context);
            });
        }

        app.MapGet("/health", () => Results.Text("ok\n"));
        app.MapGet("/ready", (IServiceProvider sp) =>
        {
            var ready = Readiness(sp);
            return Results.Json(ready, AdminJson.Options, statusCode: ready.Ready ? 200 : 503);
        });
        app.MapGet("/metrics", (PrometheusExporter exporter) =>
            Results.Text(exporter.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        foreach (var endpoint in endpoints)
        {
            app.MapMethods(endpoint.Pattern, [endpoint.Method], (HttpContext context) => Handle(endpoint, context));
        }

        app.MapGet("/v1/status", (IServiceProvider sp) => Results.Json(
            new StatusResponse(
                config.Node.Name,
                config.Node.Cluster,
                Cli.VersionCommand.Version,
                Math.Round(started.Elapsed.TotalSeconds, 3),
                Readiness(sp).Ready,
                plugins),
            AdminJson.Options));
    }

    /// <summary>Refuses two endpoints for one method and route (they would fail every request to it, at request time).</summary>
    /// <exception cref="InvalidOperationException">Two endpoints claim the same method and route; the message names them.</exception>
    public static void EnsureOneEndpointPerRoute(IEnumerable<IAdminEndpoint> endpoints)
    {
        foreach (var twice in endpoints.GroupBy(e => (Method: e.Method.ToUpperInvariant(), e.Pattern), (route, all) => (route, all: all.ToList())).Where(g => g.all.Count > 1))
        {
            throw new InvalidOperationException(
                $"admin route {twice.route.Method} {twice.route.Pattern} is claimed by {string.Join(" and ", twice.all.Select(e => e.GetType().FullName))}; one endpoint per route");
        }
    }

    /// <summary>The most a plugin endpoint reads of a request body.</summary>
    public const int MaxBodySize = 1024 * 1024;

    private static async Task Handle(IAdminEndpoint endpoint, HttpContext context)
    {
        AdminResult result;
        try
        {
            var body = await ReadBodyAsync(context.Request, context.RequestAborted);
            var routeValues = context.Request.RouteValues
                .Where(kv => kv.Value is not null)
                .ToDictionary(kv => kv.Key, kv => Convert.ToString(kv.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "", StringComparer.OrdinalIgnoreCase);
            var query = context.Request.Query.ToDictionary(kv => kv.Key, kv => kv.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            result = await endpoint.HandleAsync(new AdminRequest(routeValues, query, body), context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The one error-to-status mapping of the admin API.
            result = AdminResult.FromException(e);
        }

        context.Response.StatusCode = result.StatusCode;
        if (result.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (result.Streamer is { } streamer)
        {
            context.Response.ContentType = "application/x-ndjson";
            await context.Response.StartAsync(context.RequestAborted);
            try
            {
                await streamer(context.Response.Body, context.RequestAborted);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
            }

            return;
        }

        if (result.Body is not null)
        {
            await context.Response.WriteAsJsonAsync(result.Body, result.Body.GetType(), AdminJson.Options, context.RequestAborted);
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBodySize)
        {
            throw new AdminRequestException($"the request body is larger than {MaxBodySize} bytes");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodySize)
            {
                throw new AdminRequestException($"the request body is larger than {MaxBodySize} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>What <c>/ready</c> answers: not ready while plugins start or stop, or while any readiness check says so.</summary>
    internal static ReadyResponse Readiness(IServiceProvider sp)
    {
        var notReady = new List<ReadinessNote>();
        var degraded = new List<ReadinessNote>();
        if (!sp.GetRequiredService<LifecycleOrchestrator>().Started)
        {
            notReady.Add(new("host", "plugins are starting or stopping"));
        }

        foreach (var check in sp.GetServices<IReadinessCheck>())
        {
            Readiness r;
            try
            {
                r = check.Check();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                r = Abstractions.Lifecycle.Readiness.NotReady($"readiness check failed: {e.Message}");
            }

            if (!r.IsReady)
            {
                notReady.Add(new(check.Name, r.Reason ?? "not ready"));
            }
            else if (r.Reason is { } note)
            {
                degraded.Add(new(check.Name, note));
            }
        }

        return new ReadyResponse(notReady.Count == 0, notReady) { Degraded = degraded.Count > 0 ? degraded : null };
    }
}
