using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Tomlyn;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace Lashup.Host.Configuration;

/// <summary>The TOML value kinds a <see cref="TomlEntry"/> can have.</summary>
public enum TomlValueKind
{
    /// <summary>A string.</summary>
    String,

    /// <summary>An integer.</summary>
    Integer,

    /// <summary>A float, including <c>inf</c> and <c>nan</c>.</summary>
    Float,

    /// <summary>A boolean.</summary>
    Boolean,

    /// <summary>An offset date-time, local date-time, local date or local time.</summary>
    DateTime,

    /// <summary>An array, or an array of tables.</summary>
    Array,

    /// <summary>A table, an inline table, or an element of an array of tables.</summary>
    Table,
}

/// <summary>One path of a <see cref="TomlDocument"/> and where it was written.</summary>
/// <param name="Path">The configuration path, <c>:</c>-separated (<c>dns:upstreams:0</c>), in the case written in the file.</param>
/// <param name="Location">Where the key was written; for <c>[table]</c> headers the header, for array elements the element.</param>
/// <param name="Kind">The value kind.</param>
/// <param name="RawText">The value as written in the file, for messages; <see langword="null"/> for tables and arrays of tables.</param>
public sealed record TomlEntry(string Path, ConfigLocation Location, TomlValueKind Kind, string? RawText);

/// <summary>
/// A parsed TOML file flattened to configuration paths (<c>a:b:c</c>, arrays as <c>a:0</c>), with the file location of every path.
/// </summary>
public sealed partial class TomlDocument
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Dictionary<string, TomlEntry> _entries;

    private TomlDocument(string filePath, Dictionary<string, string?> data, Dictionary<string, TomlEntry> entries)
    {
        FilePath = filePath;
        Data = data.AsReadOnly();
        _entries = entries;
        Entries = entries.AsReadOnly();
    }

    /// <summary>The file path, as given to <see cref="Parse"/> or <see cref="Load"/>.</summary>
    public string FilePath { get; }

    /// <summary>
    /// The leaf values by configuration path (case-insensitive), formatted the way configuration binding expects:
    /// numbers in invariant culture, booleans as <c>true</c>/<c>false</c>, date-times as ISO 8601.
    /// Empty arrays and tables have no entry here.
    /// </summary>
    public IReadOnlyDictionary<string, string?> Data { get; }

    /// <summary>Every path (tables, arrays, array elements and leaf values) with its location; case-insensitive.</summary>
    public IReadOnlyDictionary<string, TomlEntry> Entries { get; }

    /// <summary>Parses TOML text; <paramref name="filePath"/> is only used in locations and messages.</summary>
    /// <exception cref="ConfigException">The text is not valid TOML, or it cannot be mapped to configuration keys.</exception>
    public static TomlDocument Parse(string text, string filePath)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentException.ThrowIfNullOrEmpty(filePath);

        DocumentSyntax syntax;
        try
        {
            syntax = SyntaxParser.Parse(text, filePath, validate: true);
        }
        catch (TomlException e)
        {
            // The parser throws rather than reports for some inputs: arrays or inline tables nested past its depth
            // limit, with no position. An operator error all the same: one line with a location, not a stack trace.
            var message = ConfigException.OneLine(e.Message);
            var location = e.Line is { } line ? new ConfigLocation(filePath, line, e.Column ?? 1) : null;
            if (MaxDepthMessage().Match(message) is { Success: true } depth)
            {
                var limit = int.Parse(depth.Groups["limit"].Value, CultureInfo.InvariantCulture);
                message = $"arrays and inline tables nest too deep (at most {limit - 1} levels)";
                location ??= ContainerAtDepth(text, filePath, limit);
            }

            throw new ConfigException(message, location ?? new ConfigLocation(filePath, 1, 1), null, e);
        }

        if (syntax.HasErrors)
        {
            throw FirstError(syntax.Diagnostics, filePath);
        }

        var flattener = new Flattener(text, filePath);
        flattener.AddDocument(syntax);
        return new TomlDocument(filePath, flattener.Data, flattener.BuildEntries());
    }

    /// <summary>Reads and parses a UTF-8 TOML file.</summary>
    /// <exception cref="ConfigException">The file is missing, unreadable, or not valid TOML.</exception>
    public static TomlDocument Load(string filePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(filePath);

        if (Directory.Exists(filePath))
        {
            throw new ConfigException($"{filePath}: is a directory, not a file");
        }

        string text;
        try
        {
            text = File.ReadAllText(filePath, StrictUtf8);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigException($"{filePath}: no such file", null, null, ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ConfigException($"{filePath}: permission denied", null, null, ex);
        }
        catch (DecoderFallbackException ex)
        {
            throw new ConfigException($"{filePath}: not valid UTF-8", null, null, ex);
        }
        catch (IOException ex)
        {
            throw new ConfigException($"{filePath}: cannot read: {ex.Message}", null, null, ex);
        }

        return Parse(text, filePath);
    }

    /// <summary>The entry for <paramref name="path"/> (case-insensitive), or <see langword="null"/>.</summary>
    public TomlEntry? Find(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return _entries.GetValueOrDefault(path);
    }

    private static ConfigException FirstError(DiagnosticsBag diagnostics, string filePath)
    {
        DiagnosticMessage? first = null;
        foreach (var diagnostic in diagnostics)
        {
            if (diagnostic.Kind == DiagnosticMessageKind.Error
                && (first is null || diagnostic.Span.Start.Offset < first.Span.Start.Offset))
            {
                first = diagnostic;
            }
        }

        if (first is null)
        {
            return new ConfigException("invalid TOML", new ConfigLocation(filePath, 1, 1));
        }

        var message = ConfigException.OneLine(first.Message);

        // "The key `a` is already defined at (1,1) with `<whole first definition>` and cannot be redefined":
        // the echoed definition can be a whole table, so keep only where it was.
        var duplicate = DuplicateKeyMessage().Match(message);
        if (duplicate.Success)
        {
            message = $"key `{duplicate.Groups["key"].Value}` is already defined at "
                + $"{filePath}:{duplicate.Groups["line"].Value}:{duplicate.Groups["column"].Value}";
        }

        return new ConfigException(message, ToLocation(filePath, first.Span.Start));
    }

    private static ConfigLocation ToLocation(string filePath, TextPosition position) =>
        new(filePath, position.Line + 1, position.Column + 1);

    [GeneratedRegex(@"^The key `(?<key>.*?)` is already defined at \((?<line>\d+),(?<column>\d+)\)", RegexOptions.CultureInvariant)]
    private static partial Regex DuplicateKeyMessage();

    [GeneratedRegex(@"^The maximum depth of (?<limit>\d+) has been exceeded", RegexOptions.CultureInvariant)]
    private static partial Regex MaxDepthMessage();

    /// <summary>
    /// Where the first array or inline table <paramref name="depth"/> levels deep opens (strings, comments and table
    /// headers skipped), or null.
    /// </summary>
    internal static ConfigLocation? ContainerAtDepth(string text, string filePath, int depth)
    {
        var (i, open, line, column, lineStart) = (0, 0, 1, 1, true);
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '#' || (c == '[' && open == 0 && lineStart))
            {
                // A comment or a [table] header: nothing nests in it.
                while (i < text.Length && text[i] != '\n')
                {
                    Step();
                }
            }
            else if (c is '"' or '\'')
            {
                var triple = string.CompareOrdinal(text, i, new string(c, 3), 0, 3) == 0;
                for (var n = triple ? 3 : 1; n > 0; n--)
                {
                    Step();
                }

                while (i < text.Length && !(triple ? string.CompareOrdinal(text, i, new string(c, 3), 0, 3) == 0 : text[i] is var e && (e == c || e == '\n')))
                {
                    if (c == '"' && text[i] == '\\' && i + 1 < text.Length)
                    {
                        Step();
                    }

                    Step();
                }

                for (var n = triple ? 3 : 1; n > 0 && i < text.Length && text[i] != '\n'; n--)
                {
                    Step();
                }

                lineStart = false;
            }
            else
            {
                if (c is '[' or '{' && ++open >= depth)
                {
                    return new ConfigLocation(filePath, line, column);
                }

                if (c is ']' or '}' && open > 0)
                {
                    open--;
                }

                lineStart = c == '\n' || (lineStart && c is ' ' or '\t' or '\r');
                Step();
            }
        }

        return null;

        void Step()
        {
            (line, column) = text[i] == '\n' ? (line + 1, 1) : (line, column + (char.IsLowSurrogate(text[i]) ? 0 : 1));
            i++;
        }
    }

    /// <summary>How a path came to exist; decides whether seeing it again is legal.</summary>
    private enum Definition
    {
        /// <summary>As a prefix of a <c>[table]</c> header.</summary>
        Implicit,

        /// <summary>As a prefix of a dotted key.</summary>
        Dotted,

        /// <summary>By a <c>[table]</c> or <c>[[array]]</c> header.</summary>
        Header,

        /// <summary>By a value: a scalar, an array, an inline table.</summary>
        Value,
    }

    private sealed class Node(TomlEntry entry, Definition definition)
    {
        public TomlEntry Entry { get; set; } = entry;

        public Definition Definition { get; set; } = definition;

        /// <summary>Elements so far, for an array of tables.</summary>
        public int TableCount { get; set; }
    }

    /// <summary>Walks the syntax tree once, filling the data and the source map.</summary>
    private sealed class Flattener(string text, string filePath)
    {
        private readonly Dictionary<string, Node> _nodes = new(StringComparer.OrdinalIgnoreCase);

        public Dictionary<string, string?> Data { get; } = new(StringComparer.OrdinalIgnoreCase);

        public Dictionary<string, TomlEntry> BuildEntries()
        {
            var entries = new Dictionary<string, TomlEntry>(_nodes.Count, StringComparer.OrdinalIgnoreCase);
            foreach (var (path, node) in _nodes)
            {
                entries.Add(path, node.Entry);
            }

            return entries;
        }

        public void AddDocument(DocumentSyntax document)
        {
            foreach (var keyValue in document.KeyValues)
            {
                AddKeyValue(string.Empty, keyValue);
            }

            foreach (var table in document.Tables)
            {
                var header = Location(table.OpenBracket!);
                var name = table.Name!;

                // Every segment but the last resolves to a table; through an array of tables, to its latest element.
                var prefix = string.Empty;
                var last = name.Key!;
                foreach (var dotted in name.DotKeys)
                {
                    prefix = ResolveTable(prefix, last, header, Definition.Implicit);
                    last = dotted.Key!;
                }

                var path = Child(prefix, last);
                if (table is TableArraySyntax)
                {
                    var array = Define(path, header, TomlValueKind.Array, rawText: null, Definition.Header);
                    prefix = Index(path, array.TableCount++);
                    Define(prefix, header, TomlValueKind.Table, rawText: null, Definition.Header);
                }
                else
                {
                    Define(path, header, TomlValueKind.Table, rawText: null, Definition.Header);
                    prefix = path;
                }

                foreach (var keyValue in table.Items)
                {
                    AddKeyValue(prefix, keyValue);
                }
            }
        }

        private void AddKeyValue(string prefix, KeyValueSyntax keyValue)
        {
            var key = keyValue.Key!;
            var path = prefix;
            var last = key.Key!;
            foreach (var dotted in key.DotKeys)
            {
                path = ResolveTable(path, last, Location(last), Definition.Dotted);
                last = dotted.Key!;
            }

            AddValue(Child(path, last), Location(last), keyValue.Value!);
        }

        private void AddValue(string path, ConfigLocation location, ValueSyntax value)
        {
            switch (value)
            {
                case StringValueSyntax s:
                    AddLeaf(path, location, TomlValueKind.String, s.Value ?? string.Empty, s.Token!.Text);
                    break;
                case IntegerValueSyntax i:
                    AddLeaf(path, location, TomlValueKind.Integer, i.Value.ToString(CultureInfo.InvariantCulture), i.Token!.Text);
                    break;
                case FloatValueSyntax f:
                    AddLeaf(path, location, TomlValueKind.Float, f.Value.ToString("R", CultureInfo.InvariantCulture), f.Token!.Text);
                    break;
                case BooleanValueSyntax b:
                    AddLeaf(path, location, TomlValueKind.Boolean, b.Value ? "true" : "false", b.Token!.Text);
                    break;
                case DateTimeValueSyntax d:
                    var written = d.Token!.Text ?? string.Empty;
                    AddLeaf(path, location, TomlValueKind.DateTime, ToIso8601(written), written);
                    break;
                case ArraySyntax a:
                    Define(path, location, TomlValueKind.Array, SourceText(a), Definition.Value);
                    var index = 0;
                    foreach (var item in a.Items)
                    {
                        var element = item.Value!;
                        AddValue(Index(path, index++), Location(element), element);
                    }

                    break;
                case InlineTableSyntax t:
                    Define(path, location, TomlValueKind.Table, rawText: null, Definition.Value);
                    foreach (var item in t.Items)
                    {
                        AddKeyValue(path, item.KeyValue!);
                    }

                    break;
                default:
                    throw new ConfigException($"unsupported TOML value `{SourceText(value)}`", location, path);
            }
        }

        private void AddLeaf(string path, ConfigLocation location, TomlValueKind kind, string value, string? rawText)
        {
            Define(path, location, kind, rawText, Definition.Value);
            Data[path] = value;
        }

        /// <summary>The table a dotted-key or header prefix segment names, created if new.</summary>
        private string ResolveTable(string prefix, BareKeyOrStringValueSyntax segment, ConfigLocation location, Definition definition)
        {
            var path = Child(prefix, segment);
            if (definition == Definition.Implicit && _nodes.TryGetValue(path, out var node) && node.TableCount > 0)
            {
                CheckSameCase(node, path, location);
                return Index(path, node.TableCount - 1);
            }

            Define(path, location, TomlValueKind.Table, rawText: null, definition);
            return path;
        }

        /// <summary>
        /// Records a path, or accepts a legal revisit. Tomlyn already rejects TOML duplicates; this also rejects
        /// keys that differ only in case, which configuration would silently merge.
        /// </summary>
        private Node Define(string path, ConfigLocation location, TomlValueKind kind, string? rawText, Definition definition)
        {
            if (!_nodes.TryGetValue(path, out var node))
            {
                node = new Node(new TomlEntry(path, location, kind, rawText), definition);
                _nodes.Add(path, node);
                return node;
            }

            CheckSameCase(node, path, location);

            var isTableArray = node.TableCount > 0;
            // TOML: headers may pass through any table; dotted keys only through tables made by dotted keys;
            // a header may define a table only implied so far, or append to an array of tables.
            var legal = node.Entry.Kind == kind && node.Definition != Definition.Value && definition switch
            {
                Definition.Implicit => true,
                Definition.Dotted => node.Definition == Definition.Dotted,
                Definition.Header => node.Definition == Definition.Implicit || (isTableArray && kind == TomlValueKind.Array),
                _ => false,
            };
            if (!legal)
            {
                throw new ConfigException($"key `{path}` is already defined at {node.Entry.Location}", location, path);
            }

            if (node.Definition == Definition.Implicit && definition == Definition.Header)
            {
                // A table first implied by [a.b] and later written as [a]: the header is where it is defined.
                node.Entry = node.Entry with { Location = location };
                node.Definition = Definition.Header;
            }

            return node;
        }

        private static void CheckSameCase(Node node, string path, ConfigLocation location)
        {
            if (!string.Equals(node.Entry.Path, path, StringComparison.Ordinal))
            {
                throw new ConfigException(
                    $"key `{path}` differs only in case from `{node.Entry.Path}` at {node.Entry.Location}; configuration keys are case-insensitive",
                    location,
                    path);
            }
        }

        private string Child(string prefix, BareKeyOrStringValueSyntax segment)
        {
            var name = segment switch
            {
                BareKeySyntax bare => bare.Key!.Text ?? string.Empty,
                StringValueSyntax quoted => quoted.Value ?? string.Empty,
                _ => SourceText(segment),
            };
            var path = prefix.Length == 0 ? name : string.Concat(prefix, ":", name);

            if (name.Length == 0)
            {
                var where = prefix.Length == 0 ? string.Empty : $" under `{prefix}`";
                throw new ConfigException($"empty key{where}: configuration keys cannot be empty", Location(segment), path);
            }

            if (name.Contains(':', StringComparison.Ordinal))
            {
                throw new ConfigException($"key \"{name}\" contains ':', which configuration keys cannot contain", Location(segment), path);
            }

            return path;
        }

        private static string Index(string path, int index) =>
            string.Concat(path, ":", index.ToString(CultureInfo.InvariantCulture));

        private ConfigLocation Location(SyntaxNodeBase node) => ToLocation(filePath, node.Span.Start);

        private string SourceText(SyntaxNodeBase node)
        {
            var start = node.Span.Start.Offset;
            var end = Math.Min(node.Span.End.Offset, text.Length - 1);
            return start >= 0 && end >= start ? text[start..(end + 1)] : string.Empty;
        }

        /// <summary>TOML allows <c>1979-05-27 07:32:00z</c>; ISO 8601 wants <c>1979-05-27T07:32:00Z</c>.</summary>
        private static string ToIso8601(string written)
        {
            if (written.Length > 10 && (written[10] == ' ' || written[10] == 't'))
            {
                written = string.Concat(written.AsSpan(0, 10), "T", written.AsSpan(11));
            }

            return written.EndsWith('z') ? string.Concat(written.AsSpan(0, written.Length - 1), "Z") : written;
        }
    }
}
