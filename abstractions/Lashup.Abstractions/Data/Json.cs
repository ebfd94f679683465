using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>JSON text for the display forms (<c>ToString</c>) of the CRDT values.</summary>
internal static class Json
{
    public static StringBuilder AppendString(StringBuilder sb, string? s)
    {
        if (s is null)
        {
            return sb.Append("null");
        }

        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20 || char.IsSurrogate(c) || c == '\u007f')
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        return sb.Append('"');
    }

    public static string Array(IEnumerable<string> items)
    {
        var sb = new StringBuilder("[");
        var first = true;
        foreach (var item in items)
        {
            if (!first)
            {
                sb.Append(',');
            }

            first = false;
            AppendString(sb, item);
        }

        return sb.Append(']').ToString();
    }
}
