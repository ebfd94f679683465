using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Lashup.Abstractions.Data;

/// <summary>
/// Renders store values as JSON, from the views themselves: a map as an object of its present fields (ordered by
/// name), an OR-set as an array of its elements, an LWW register as its value (a string, or null), a multi-value
/// register as an array of its values, a flag as <c>true</c> or <c>false</c>, a counter as a number. Causal metadata
/// (dots, timestamps, versions) is not shown. This is the form of values on the admin API and in <c>lashup kv</c>:
/// <c>{"backends":["10.0.0.7:80"],"owner":"alice","hits":3}</c>.
/// </summary>
public static class CrdtJson
{
    private static readonly JsonWriterOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes <paramref name="value"/> as one JSON value.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="ArgumentException">The value is not one of the views of <see cref="ICrdtValue.Type"/>.</exception>
    public static void Write(Utf8JsonWriter writer, ICrdtValue value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        switch (value)
        {
            case IMapValue map:
                writer.WriteStartObject();
                foreach (var field in map.Fields)
                {
                    writer.WritePropertyName(Text(field.Name));
                    Write(writer, field.Value);
                }

                writer.WriteEndObject();
                break;
            case IORSetValue set:
                WriteArray(writer, set.Elements);
                break;
            case ILwwRegisterValue register:
                if (register.Value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    writer.WriteStringValue(Text(register.Value));
                }

                break;
            case IMvRegisterValue register:
                WriteArray(writer, register.Values);
                break;
            case IFlagValue flag:
                writer.WriteBooleanValue(flag.IsEnabled);
                break;
            case IGCounterValue counter:
                writer.WriteNumberValue(counter.Value);
                break;
            case IPnCounterValue counter:
                writer.WriteNumberValue(counter.Value);
                break;
            default:
                throw new ArgumentException($"a {value.Type} value that implements none of the value views", nameof(value));
        }
    }

    /// <summary>The JSON text of <paramref name="value"/> (non-ASCII characters as they are, for display).</summary>
    /// <param name="value">The value.</param>
    /// <returns>The JSON text.</returns>
    public static string ToJsonString(ICrdtValue value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, Relaxed))
        {
            Write(writer, value);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The JSON of <paramref name="value"/> as a <see cref="JsonElement"/> (e.g. a property of a response DTO).</summary>
    /// <param name="value">The value.</param>
    /// <returns>A standalone element (it owns its memory).</returns>
    public static JsonElement ToJsonElement(ICrdtValue value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, value);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    private static void WriteArray(Utf8JsonWriter writer, IEnumerable<string> items)
    {
        writer.WriteStartArray();
        foreach (var item in items)
        {
            writer.WriteStringValue(Text(item));
        }

        writer.WriteEndArray();
    }

    /// <summary>
    /// The text as JSON can carry it: a lone surrogate (which the store refuses, <see cref="KvLimits"/>, but a fake
    /// value may hold) becomes U+FFFD instead of failing the whole document.
    /// </summary>
    private static string Text(string text)
    {
        if (KvLimits.FirstLoneSurrogate(text) < 0)
        {
            return text;
        }

        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }
}
