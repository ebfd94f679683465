using System.Text.Json;
using Lashup.Abstractions.Data;

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
    /// <summary>
    /// Reads the body as JSON with <see cref="AdminJson.Options"/>. A request type marked
    /// <c>[JsonUnmappedMemberHandling(Disallow)]</c> (all of this namespace's are) refuses fields it does not have.
    /// </summary>
    /// <exception cref="AdminRequestException">The body is empty or not the expected JSON; the message names the field.</exception>
    public T ReadJson<T>()
    {
        if (Body.IsEmpty)
        {
            throw new AdminRequestException("the request body is empty; this call takes a JSON object");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(Body.Span, AdminJson.Options)
                ?? throw new AdminRequestException("the request body is null; this call takes a JSON object");
        }
        catch (JsonException e)
        {
            throw new AdminRequestException(AdminJson.Describe(e, typeof(T)));
        }
    }
}

/// <summary>The answer of an <see cref="IAdminEndpoint"/>: a status and a body the host writes as JSON.</summary>
/// <param name="StatusCode">HTTP status.</param>
/// <param name="Body">Serialized with <see cref="AdminJson.Options"/> (snake_case names, no nulls); null for no body.</param>
public sealed record AdminResult(int StatusCode, object? Body)
{
    /// <summary>200 with <paramref name="body"/>.</summary>
    public static AdminResult Ok(object body) => new(200, body);

    /// <summary>An error with a one-line message, as <c>{"error": "..."}</c>.</summary>
    public static AdminResult Error(int statusCode, string message) => new(statusCode, new AdminError(message));

    /// <summary>
    /// A streamed answer (200, <c>application/x-ndjson</c>): the host calls <paramref name="writer"/> with the response
    /// body and a token cancelled when the client goes away; write one JSON object per line and flush after each.
    /// </summary>
    public static AdminResult Streaming(Func<Stream, CancellationToken, Task> writer) => new(200, null) { Streamer = writer };

    /// <summary>
    /// The admin API's one mapping from what an endpoint throws to what the client gets, applied by the host to every
    /// endpoint (an endpoint throws; it does not map errors itself):
    /// <list type="table">
    /// <item><term><see cref="AdminRequestException"/>, <see cref="KvValidationException"/>, <see cref="CrdtTypeMismatchException"/></term><description>400</description></item>
    /// <item><term><see cref="AdminNotFoundException"/></term><description>404</description></item>
    /// <item><term><see cref="KvConflictException"/></term><description>409</description></item>
    /// <item><term><see cref="KvOverloadedException"/></term><description>503, with <c>Retry-After</c> when it has <see cref="KvOverloadedException.RetryAfter"/></description></item>
    /// <item><term>anything else</term><description>500</description></item>
    /// </list>
    /// The body is always <c>{"error": "&lt;the exception's message&gt;"}</c>.
    /// </summary>
    /// <param name="exception">What the endpoint threw.</param>
    /// <returns>The answer.</returns>
    public static AdminResult FromException(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            AdminRequestException or KvValidationException or CrdtTypeMismatchException => Error(400, exception.Message),
            AdminNotFoundException => Error(404, exception.Message),
            KvConflictException => Error(409, exception.Message),
            KvOverloadedException overloaded => Error(503, exception.Message) with { RetryAfter = overloaded.RetryAfter },
            _ => Error(500, exception.Message),
        };
    }

    /// <summary>Set for a streamed answer; see <see cref="Streaming"/>.</summary>
    public Func<Stream, CancellationToken, Task>? Streamer { get; init; }

    /// <summary>When set, the host sends <c>Retry-After</c> (whole seconds, rounded up).</summary>
    public TimeSpan? RetryAfter { get; init; }
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

/// <summary>Thrown by an endpoint when what the request names does not exist; the host answers 404 with the message.</summary>
public sealed class AdminNotFoundException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AdminNotFoundException(string message)
        : base(message)
    {
    }
}
