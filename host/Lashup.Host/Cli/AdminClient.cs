using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Host.Admin;
using Lashup.Host.Configuration;

namespace Lashup.Host.Cli;

/// <summary>Thrown when the CLI cannot reach a daemon or the daemon refuses; the message is shown as is.</summary>
internal sealed class ClientException(string message) : Exception(message);

/// <summary>A daemon's answer: the typed value, and the JSON as it was sent (what <c>--json</c> prints).</summary>
internal sealed record AdminReply<T>(T Value, string Json);

/// <summary>Talks to a running daemon's admin API for the client commands, in the contract's types (<see cref="AdminJson"/>).</summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    private AdminClient(Uri baseAddress, string? token)
    {
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
        if (!string.IsNullOrEmpty(token))
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>
    /// Finds the daemon: <paramref name="api"/> if given, else the <c>admin.listen</c> of <paramref name="configPath"/>
    /// (or of the default config). The token comes from <c>LASHUP_TOKEN</c> or the config.
    /// </summary>
    public static AdminClient Create(string? api, string? configPath)
    {
        var token = Environment.GetEnvironmentVariable("LASHUP_TOKEN");
        if (api is not null)
        {
            if (!Uri.TryCreate(api.Contains("://", StringComparison.Ordinal) ? api : "http://" + api, UriKind.Absolute, out var uri))
            {
                throw new ClientException($"--api: \"{api}\" is not a URL such as http://127.0.0.1:9470");
            }

            return new AdminClient(uri, token);
        }

        var errors = new List<ConfigException>();
        LoadedConfiguration config;
        try
        {
            config = ConfigLoader.Load(configPath, errors);
        }
        catch (ConfigException e)
        {
            throw new ClientException(e.Message);
        }

        var listen = AdminEndpoint.TryParse(config.Admin.Listen, out var endpoint)
            ? endpoint
            : throw new ClientException($"{config.DisplayName}: admin.listen \"{config.Admin.Listen}\" is not address:port");
        var host = endpoint.Address.Equals(System.Net.IPAddress.Any) ? "127.0.0.1"
            : endpoint.Address.Equals(System.Net.IPAddress.IPv6Any) ? "[::1]"
            : endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();
        return new AdminClient(new Uri($"http://{host}:{listen.Port}/"), token ?? (config.Admin.Token.Length > 0 ? config.Admin.Token : null));
    }

    /// <summary>GETs <paramref name="path"/> and reads the answer as <typeparamref name="T"/>.</summary>
    public async Task<AdminReply<T>> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);
        return await ReadAsync<T>(response, cancellationToken);
    }

    /// <summary>Sends <paramref name="body"/> (none when null) as JSON and reads the answer as <typeparamref name="T"/>.</summary>
    public async Task<AdminReply<T>> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(JsonSerializer.Serialize(body, body.GetType(), AdminJson.Options), Encoding.UTF8, "application/json");
        }

        using var response = await SendAsync(request, cancellationToken);
        return await ReadAsync<T>(response, cancellationToken);
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        try
        {
            if (completion == HttpCompletionOption.ResponseHeadersRead)
            {
                _http.Timeout = Timeout.InfiniteTimeSpan;
            }

            return await _http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException or null)
        {
            throw new ClientException($"no Lashup daemon answers at {BaseAddress} ({e.Message.TrimEnd('.')}); is `lashup run` running?");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ClientException($"the daemon at {BaseAddress} did not answer within {_http.Timeout.TotalSeconds:0}s");
        }
    }

    /// <summary>Reads a successful answer as <typeparamref name="T"/>; an error answer becomes a <see cref="ClientException"/>.</summary>
    public static async Task<AdminReply<T>> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await ThrowIfErrorAsync(response, cancellationToken);
        var json = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            return new AdminReply<T>(JsonSerializer.Deserialize<T>(json, AdminJson.Options) ?? throw new ClientException("the daemon sent an empty answer"), json.TrimEnd());
        }
        catch (JsonException e)
        {
            throw new ClientException($"the daemon's answer is not what this lashup expects ({e.Message}); are both the same version?");
        }
    }

    /// <summary>Throws a <see cref="ClientException"/> with the daemon's one-line error when the answer is not a success.</summary>
    public static async Task ThrowIfErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var request = response.RequestMessage;
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType != "application/json")
        {
            throw new ClientException($"the daemon does not serve {request?.Method} {request?.RequestUri?.AbsolutePath}: the plugin that serves it is not enabled in its config");
        }

        string detail;
        try
        {
            detail = (await response.Content.ReadFromJsonAsync<AdminError>(AdminJson.Options, cancellationToken))?.Error ?? response.ReasonPhrase ?? "";
        }
        catch (JsonException)
        {
            detail = response.ReasonPhrase ?? "";
        }

        var retry = response.Headers.RetryAfter?.Delta is { } delta ? $" (retry in {delta.TotalSeconds:0}s)" : "";
        throw new ClientException($"the daemon answered {(int)response.StatusCode}: {detail}{retry}");
    }

    /// <summary>
    /// Runs a client command against the daemon found through <paramref name="api"/> or <paramref name="config"/>:
    /// exit 0, or 1 with a one-line message when the daemon is unreachable or answers an error.
    /// </summary>
    public static async Task<int> RunAsync(string? api, string? config, Func<AdminClient, Task> action, CancellationToken cancellationToken)
    {
        try
        {
            using var client = Create(api, config);
            await action(client);
            return 0;
        }
        catch (ClientException e)
        {
            await Console.Error.WriteLineAsync($"lashup: {e.Message}");
            return Daemon.ExitFailure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Daemon.ExitFailure;
        }
    }

    public void Dispose() => _http.Dispose();
}
