using System.Text.Json;

namespace Lashup.Abstractions.Admin;

/// <summary>
/// An endpoint a plugin adds to the host's admin HTTP API (which the <c>lashup</c> CLI talks to). The host applies
/// authentication, size limits and JSON encoding; the endpoint only handles the request.
/// </summary>
public interface IAdminEndpoint
{
    /// <summary>HTTP method: GET, PUT, POST or DELETE.</summary>
    string Method { get; }

    /// <summary>Route pattern, e.g. <c>/v1/members</c> or <c>/v1/kv/{*key}</c>; plugin routes live under <c>/v1/</c>.</summary>
    string Pattern { get; }

    /// <summary>Handles one request.</summary>
    ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken);
}

/// <summary>An admin API request as the host hands it to an <see cref="IAdminEndpoint"/>.</summary>
/// <param name="RouteValues">Values of the route pattern's parameters.</param>
/// <param name="Query">Query string values (the first of repeated keys).</param>
/// <param name="Body">The request body (at most the host's limit, 1 MiB).</param>
public sealed record AdminRequest(IReadOnlyDictionary<string, string> RouteValues, IReadOnlyDictionary<string, string> Query, ReadOnlyMemory<byte> Body)
{
    /// <summary>Reads the body as JSON (snake_case names).</summary>
    /// <exception cref="AdminRequestException">The body is empty or not the expected JSON.</exception>
    public T ReadJson<T>()
    {
        try
        {
            return JsonSerializer.Deserialize<T>(Body.Span, AdminResult.JsonOptions)
                ?? throw new AdminRequestException("the request body is empty");
        }
        catch (JsonException e)
        {
            throw new AdminRequestException($"the request body is not valid JSON for this call: {e.Message}");
        }
    }
}

/// <summary>The answer of an <see cref="IAdminEndpoint"/>: a status and a body the host writes as JSON.</summary>
/// <param name="StatusCode">HTTP status.</param>
/// <param name="Body">Serialized as JSON with snake_case names; null for no body.</param>
public sealed record AdminResult(int StatusCode, object? Body)
{
    /// <summary>The JSON settings of the admin API.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>200 with <paramref name="body"/>.</summary>
    public static AdminResult Ok(object body) => new(200, body);

    /// <summary>An error with a one-line message, as <c>{"error": "..."}</c>.</summary>
    public static AdminResult Error(int statusCode, string message) => new(statusCode, new AdminError(message));

    /// <summary>
    /// A streamed answer (200, <c>application/x-ndjson</c>): the host calls <paramref name="writer"/> with the response
    /// body and a token cancelled when the client goes away; write one JSON object per line and flush after each.
    /// </summary>
    public static AdminResult Streaming(Func<Stream, CancellationToken, Task> writer) => new(200, null) { Streamer = writer };

    /// <summary>Set for a streamed answer; see <see cref="Streaming"/>.</summary>
    public Func<Stream, CancellationToken, Task>? Streamer { get; init; }
}

/// <summary>The body of an error answer.</summary>
/// <param name="Error">What went wrong, in one line.</param>
public sealed record AdminError(string Error);

/// <summary>Thrown by an endpoint for a bad request; the host answers 400 with the message.</summary>
public sealed class AdminRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AdminRequestException(string message)
        : base(message)
    {
    }
}
