using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Lashup.Abstractions.Admin;

/// <summary>
/// The JSON of the admin API, for the host, the endpoints and the <c>lashup</c> CLI alike: snake_case names, nulls left
/// out, names matched case-insensitively. The request and response types of this namespace are read and written
/// through source-generated metadata (no reflection); other types (a vendor's endpoint's) through reflection.
/// </summary>
public static class AdminJson
{
    /// <summary>The one set of JSON options of the admin API (read-only).</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(AdminJsonContext.Default.Options);
        if (JsonSerializer.IsReflectionEnabledByDefault)
        {
            // A vendor's endpoint may answer with its own types; ours never need this.
            options.TypeInfoResolverChain.Add(new DefaultJsonTypeInfoResolver());
        }

        options.MakeReadOnly();
        return options;
    }

    /// <summary>
    /// What is wrong with a request body, in one line naming the field: <c>ops[0].value: expected a string</c>,
    /// <c>ops[0]: unknown field "fiald"</c>, <c>the request body is not valid JSON: ...</c>.
    /// </summary>
    internal static string Describe(JsonException exception, Type target)
    {
        var path = exception.Path is { Length: > 1 } p && p.StartsWith('$') ? p[1..].TrimStart('.') : "";
        var message = exception.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        message = cut >= 0 ? message[..cut] : message;
        // Malformed JSON (as opposed to well-formed JSON of the wrong shape) comes from the reader, whose exception type
        // System.Text.Json keeps internal: known by name only.
        if (exception.InnerException is not null && exception.InnerException.GetType().Name == "JsonReaderException")
        {
            return $"the request body is not valid JSON{(path.Length > 0 ? $" (at {path})" : "")}: {message}";
        }

        const string Unmapped = "The JSON property '";
        if (message.StartsWith(Unmapped, StringComparison.Ordinal) && message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            var name = message[Unmapped.Length..message.IndexOf("' could not be mapped", StringComparison.Ordinal)];
            var parent = Parent(path, name);
            return parent.Length == 0 ? $"unknown field \"{name}\" in the request body" : $"{parent}: unknown field \"{name}\"";
        }

        var expected = Expected(target, path);
        if (expected is null)
        {
            return $"the request body is not valid JSON for this call{(path.Length > 0 ? $" (at {path})" : "")}: {message}";
        }

        return path.Length == 0 ? $"the request body is not valid JSON for this call: expected {expected}" : $"{path}: expected {expected}";
    }

    /// <summary>The path without its last segment (<paramref name="name"/>, as <c>.name</c> or <c>['name']</c>).</summary>
    private static string Parent(string path, string name)
    {
        foreach (var tail in (string[])[$"['{name}']", "." + name, name])
        {
            if (path.EndsWith(tail, StringComparison.Ordinal))
            {
                return path[..^tail.Length];
            }
        }

        return path;
    }

    /// <summary>What the request type expects at <paramref name="path"/>, in words; null when the path cannot be followed.</summary>
    private static string? Expected(Type target, string path)
    {
        JsonTypeInfo info;
        try
        {
            info = Options.GetTypeInfo(target);
            foreach (var segment in Segments(path))
            {
                var next = info.Kind switch
                {
                    JsonTypeInfoKind.Object => info.Properties.FirstOrDefault(x => string.Equals(x.Name, segment, StringComparison.OrdinalIgnoreCase))?.PropertyType,
                    JsonTypeInfoKind.Enumerable or JsonTypeInfoKind.Dictionary => info.ElementType,
                    _ => null,
                };
                if (next is null)
                {
                    return null;
                }

                info = Options.GetTypeInfo(next);
            }
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return null;
        }

        var type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        return info.Kind switch
        {
            JsonTypeInfoKind.Enumerable => "an array",
            JsonTypeInfoKind.Object or JsonTypeInfoKind.Dictionary => "an object",
            _ when type == typeof(string) => "a string",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(ulong) || type == typeof(uint) || type == typeof(ushort) || type == typeof(byte) => "a non-negative integer",
            _ when type == typeof(long) || type == typeof(int) || type == typeof(short) => "an integer",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
            _ when type == typeof(DateTimeOffset) || type == typeof(DateTime) => "a date and time (ISO 8601 string)",
            _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type).Select(n => JsonNamingPolicy.SnakeCaseLower.ConvertName(n))),
            _ => null,
        };
    }

    /// <summary>The segments of a JSON path after <c>$</c>: <c>ops[0].value</c> → ops, 0, value; <c>a['b.c']</c> → a, b.c.</summary>
    private static IEnumerable<string> Segments(string path)
    {
        var i = 0;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                i++;
            }
            else if (path[i] == '[')
            {
                if (i + 1 < path.Length && path[i + 1] == '\'')
                {
                    var end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                    end = end < 0 ? path.Length : end;
                    yield return path[(i + 2)..end];
                    i = Math.Min(path.Length, end + 2);
                }
                else
                {
                    var end = path.IndexOf(']', i + 1);
                    end = end < 0 ? path.Length : end;
                    yield return path[(i + 1)..end];
                    i = Math.Min(path.Length, end + 1);
                }
            }
            else
            {
                var end = path.IndexOfAny(['.', '['], i);
                end = end < 0 ? path.Length : end;
                yield return path[i..end];
                i = end;
            }
        }
    }
}

/// <summary>Source-generated metadata of the admin API's request and response types.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AdminError))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(KvUpdateRequest))]
[JsonSerializable(typeof(KvEntryResponse))]
[JsonSerializable(typeof(KvListResponse))]
[JsonSerializable(typeof(KvWatchLine))]
[JsonSerializable(typeof(KvQuarantineResponse))]
[JsonSerializable(typeof(MembersResponse))]
[JsonSerializable(typeof(KeysRequest))]
[JsonSerializable(typeof(KeysResponse))]
[JsonSerializable(typeof(ServiceRegistrationRequest))]
[JsonSerializable(typeof(ServiceListResponse))]
[JsonSerializable(typeof(ServiceResponse))]
[JsonSerializable(typeof(VipRequest))]
[JsonSerializable(typeof(VipBackendRequest))]
[JsonSerializable(typeof(VipListResponse))]
[JsonSerializable(typeof(VipResponse))]
[JsonSerializable(typeof(VipRemovedResponse))]
[JsonSerializable(typeof(OverlayResponse))]
[JsonSerializable(typeof(OverlayPeersResponse))]
[JsonSerializable(typeof(OverlayReleasedResponse))]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
