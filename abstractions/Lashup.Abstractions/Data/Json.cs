using System.Globalization;
using System.Text;

namespace Lashup.Abstractions.Data;

/// <summary>JSON string literals for the display form of ops (<see cref="CrdtOp.ToString"/>).</summary>
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
}
