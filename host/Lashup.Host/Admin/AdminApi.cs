using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Lifecycle;
using Lashup.Host.Configuration;
using Lashup.Host.Lifecycle;
using Lashup.Host.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Lashup.Host.Admin;

/// <summary>The admin HTTP API's wire shapes; the CLI reads the same records.</summary>
public static class AdminModels
{
    /// <summary>One not-ready part.</summary>
    public sealed record NotReady(string Name, string Reason);

    /// <summary>Answer of <c>/ready</c>: the parts not ready, and the ready parts with a note on what is degraded.</summary>
    public sealed record ReadyResponse(bool Ready, IReadOnlyList<NotReady> NotReady)
    {
        /// <summary>Ready parts that report something degraded (e.g. quarantined store keys); null when none.</summary>
        public IReadOnlyList<NotReady>? Degraded { get; init; }
    }

    /// <summary>One loaded plugin.</summary>
    public sealed record PluginInfo(string Capability, string Name, string Version, string Folder);

    /// <summary>Answer of <c>/v1/status</c>.</summary>
    public sealed record StatusResponse(string Node, string Cluster, string Version, double UptimeSeconds, bool Ready, IReadOnlyList<PluginInfo> Plugins);

    /// <summary>An error body.</summary>
    public sealed record ErrorResponse(string Error);

    /// <summary>JSON settings of the admin API: snake_case, no nulls.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };
}

/// <summary>Maps the host's admin endpoints.</summary>
internal static class AdminApi
{
    public static void Map(WebApplication app, LoadedConfiguration config, IReadOnlyList<AdminModels.PluginInfo> plugins)
    {
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
                        await context.Response.WriteAsJsonAsync(new AdminModels.ErrorResponse("a valid bearer token is required"), AdminModels.Json);
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
            return Results.Json(ready, AdminModels.Json, statusCode: ready.Ready ? 200 : 503);
        });
        app.MapGet("/metrics", (PrometheusExporter exporter) =>
            Results.Text(exporter.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        foreach (var endpoint in app.Services.GetServices<IAdminEndpoint>())
        {
            app.MapMethods(endpoint.Pattern, [endpoint.Method], (HttpContext context) => Handle(endpoint, context));
        }

        app.MapGet("/v1/status", (IServiceProvider sp) => Results.Json(
            new AdminModels.StatusResponse(
                config.Node.Name,
                config.Node.Cluster,
                typeof(AdminApi).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
                Math.Round(started.Elapsed.TotalSeconds, 3),
                Readiness(sp).Ready,
                plugins),
            AdminModels.Json));
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
        catch (AdminRequestException e)
        {
            result = AdminResult.Error(StatusCodes.Status400BadRequest, e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            result = AdminResult.Error(StatusCodes.Status500InternalServerError, e.Message);
        }

        context.Response.StatusCode = result.StatusCode;
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
            await context.Response.WriteAsJsonAsync(result.Body, result.Body.GetType(), AdminResult.JsonOptions, context.RequestAborted);
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

    private static AdminModels.ReadyResponse Readiness(IServiceProvider sp)
    {
        var notReady = new List<AdminModels.NotReady>();
        var degraded = new List<AdminModels.NotReady>();
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

        return new AdminModels.ReadyResponse(notReady.Count == 0, notReady) { Degraded = degraded.Count > 0 ? degraded : null };
    }
}
