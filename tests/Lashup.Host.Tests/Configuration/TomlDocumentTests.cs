using Lashup.Host.Configuration;
using Microsoft.Extensions.Configuration;

namespace Lashup.Host.Tests.Configuration;

public sealed class TomlDocumentTests
{
    private const string FileName = "cfg.toml";

    [Theory]
    [InlineData("s = \"hi\\tthere\"", "s", "hi\tthere", TomlValueKind.String, "\"hi\\tthere\"")]
    [InlineData("s = 'C:\\dir'", "s", "C:\\dir", TomlValueKind.String, "'C:\\dir'")]
    [InlineData("s = \"\"\"\nline1\nline2\"\"\"", "s", "line1\nline2", TomlValueKind.String, "\"\"\"\nline1\nline2\"\"\"")]
    [InlineData("s = \"\"", "s", "", TomlValueKind.String, "\"\"")]
    [InlineData("i = 8080", "i", "8080", TomlValueKind.Integer, "8080")]
    [InlineData("i = -1_000", "i", "-1000", TomlValueKind.Integer, "-1_000")]
    [InlineData("i = 0xff", "i", "255", TomlValueKind.Integer, "0xff")]
    [InlineData("i = 0o17", "i", "15", TomlValueKind.Integer, "0o17")]
    [InlineData("i = 0b101", "i", "5", TomlValueKind.Integer, "0b101")]
    [InlineData("f = 1.5", "f", "1.5", TomlValueKind.Float, "1.5")]
    [InlineData("f = -0.25", "f", "-0.25", TomlValueKind.Float, "-0.25")]
    [InlineData("f = 6.02e23", "f", "6.02E+23", TomlValueKind.Float, "6.02e23")]
    [InlineData("f = 0.1", "f", "0.1", TomlValueKind.Float, "0.1")]
    [InlineData("f = inf", "f", "Infinity", TomlValueKind.Float, "inf")]
    [InlineData("f = +inf", "f", "Infinity", TomlValueKind.Float, "+inf")]
    [InlineData("f = -inf", "f", "-Infinity", TomlValueKind.Float, "-inf")]
    [InlineData("f = nan", "f", "NaN", TomlValueKind.Float, "nan")]
    [InlineData("b = true", "b", "true", TomlValueKind.Boolean, "true")]
    [InlineData("b = false", "b", "false", TomlValueKind.Boolean, "false")]
    [InlineData("d = 1979-05-27T07:32:00Z", "d", "1979-05-27T07:32:00Z", TomlValueKind.DateTime, "1979-05-27T07:32:00Z")]
    [InlineData("d = 1979-05-27T00:32:00.999-07:00", "d", "1979-05-27T00:32:00.999-07:00", TomlValueKind.DateTime, "1979-05-27T00:32:00.999-07:00")]
    [InlineData("d = 1979-05-27 07:32:00z", "d", "1979-05-27T07:32:00Z", TomlValueKind.DateTime, "1979-05-27 07:32:00z")]
    [InlineData("d = 1979-05-27T07:32:00", "d", "1979-05-27T07:32:00", TomlValueKind.DateTime, "1979-05-27T07:32:00")]
    [InlineData("d = 1979-05-27", "d", "1979-05-27", TomlValueKind.DateTime, "1979-05-27")]
    [InlineData("d = 07:32:00", "d", "07:32:00", TomlValueKind.DateTime, "07:32:00")]
    public void Parse_ScalarKinds_FlattenValueKindAndRawText(string toml, string path, string value, TomlValueKind kind, string raw)
    {
        var doc = TomlDocument.Parse(toml + "\n", FileName);

        Assert.Equal(value, doc.Data[path]);
        var entry = doc.Find(path);
        Assert.NotNull(entry);
        Assert.Equal(new TomlEntry(path, new ConfigLocation(FileName, 1, 1), kind, raw), entry);
    }

    [Theory]
    [InlineData("[admin]\nport = 1\n[admin.tls]\nenabled = true", "admin:port=1", "admin:tls:enabled=true")]
    [InlineData("a.b.c = 1\na.b.d = 'x'", "a:b:c=1", "a:b:d=x")]
    [InlineData("[a.b]\nc.d = 1\n[a]\ne = 2", "a:b:c:d=1", "a:e=2")]
    [InlineData("[ x . \"y.z\" . 'w' ]\nk = 1", "x:y.z:w:k=1")]
    [InlineData("[fruit]\napple.color = 'red'\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true", "fruit:apple:color=red", "fruit:apple:taste:sweet=true", "fruit:apple:texture:smooth=true")]
    [InlineData("top = 1\n[t]\nk = 2", "top=1", "t:k=2")]
    [InlineData("u = ['a', 'b']", "u:0=a", "u:1=b")]
    [InlineData("u = [\n  1,\n  2, # comment\n]", "u:0=1", "u:1=2")]
    [InlineData("m = [[1, 2], ['x']]", "m:0:0=1", "m:0:1=2", "m:1:0=x")]
    [InlineData("[[srv]]\nname = 'a'\n[[srv]]\nname = 'b'\nport = 2", "srv:0:name=a", "srv:1:name=b", "srv:1:port=2")]
    [InlineData("[[srv]]\nname = 'a'\n[srv.tls]\non = true\n[[srv]]\n[srv.tls]\non = false", "srv:0:name=a", "srv:0:tls:on=true", "srv:1:tls:on=false")]
    [InlineData("[[a.b]]\nc = 1\n[[a.b]]\nc = 2", "a:b:0:c=1", "a:b:1:c=2")]
    [InlineData("[[fruit]]\n[[fruit.variety]]\nname = 'red'\n[[fruit.variety]]\nname = 'green'", "fruit:0:variety:0:name=red", "fruit:0:variety:1:name=green")]
    [InlineData("p = { x = 1, y.z = 'q' }", "p:x=1", "p:y:z=q")]
    [InlineData("p = {\n  x = 1,\n  y = { z = true },\n}", "p:x=1", "p:y:z=true")]
    [InlineData("pts = [{ x = 1 }, { x = 2, y = [3] }]", "pts:0:x=1", "pts:1:x=2", "pts:1:y:0=3")]
    [InlineData("e = []\nt = {}\n[empty]")]
    public void Parse_Structures_FlattenToConfigurationPaths(string toml, params string[] expected)
    {
        var doc = TomlDocument.Parse(toml, FileName);

        Assert.Equal(
            expected.Order(StringComparer.Ordinal),
            doc.Data.Select(kv => $"{kv.Key}={kv.Value}").Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("e = []", "e", TomlValueKind.Array)]
    [InlineData("t = {}", "t", TomlValueKind.Table)]
    [InlineData("[t]", "t", TomlValueKind.Table)]
    [InlineData("[a.b]", "a", TomlValueKind.Table)]
    [InlineData("[[a]]", "a", TomlValueKind.Array)]
    [InlineData("[[a]]", "a:0", TomlValueKind.Table)]
    public void Parse_EmptyContainers_HaveEntryButNoData(string toml, string path, TomlValueKind kind)
    {
        var doc = TomlDocument.Parse(toml, FileName);

        Assert.Empty(doc.Data);
        Assert.Equal(kind, doc.Find(path)?.Kind);
    }

    [Theory]
    // Keys: the key itself, wherever it starts.
    [InlineData("a = 1", "a", 1, 1)]
    [InlineData("# c\n\n    port = 1", "port", 3, 5)]
    [InlineData("[t]\nx = 1\n  y = 2", "t:y", 3, 3)]
    [InlineData("\"quoted key\" = 1", "quoted key", 1, 1)]
    // Dotted keys: each segment where it is written.
    [InlineData("a.b.c = 1", "a", 1, 1)]
    [InlineData("a.b.c = 1", "a:b", 1, 3)]
    [InlineData("a.b.c = 1", "a:b:c", 1, 5)]
    [InlineData("a . b = 1", "a:b", 1, 5)]
    // [table] headers: the header's opening bracket, for implied parents too, until written explicitly.
    [InlineData("x = 1\n\n  [admin]\nport = 1", "admin", 3, 3)]
    [InlineData("x = 1\n\n  [admin]\nport = 1", "admin:port", 4, 1)]
    [InlineData("[a.b]\nc = 1", "a", 1, 1)]
    [InlineData("[a.b]\nc = 1", "a:b", 1, 1)]
    [InlineData("[a.b]\nc = 1\n[a]\nd = 1", "a", 3, 1)]
    // Arrays: the key for the array, each element where it is written.
    [InlineData("u = [\n  'x',\n    'y']", "u", 1, 1)]
    [InlineData("u = [\n  'x',\n    'y']", "u:0", 2, 3)]
    [InlineData("u = [\n  'x',\n    'y']", "u:1", 3, 5)]
    [InlineData("m = [[1], [2, 3]]", "m:1:1", 1, 15)]
    [InlineData("s = ['\u00e9\u00e9', 'x']", "s:1", 1, 12)]
    // Arrays of tables: each element at its own header.
    [InlineData("[[srv]]\nn = 1\n\n[[srv]]\nn = 2", "srv", 1, 1)]
    [InlineData("[[srv]]\nn = 1\n\n[[srv]]\nn = 2", "srv:1", 4, 1)]
    [InlineData("[[srv]]\nn = 1\n\n[[srv]]\nn = 2", "srv:1:n", 5, 1)]
    // Inline tables: the inner keys where they are written.
    [InlineData("p = { x = 1,\n      y = 2 }", "p:y", 2, 7)]
    public void Parse_Locations_PointAtKeyHeaderOrElement(string toml, string path, int line, int column)
    {
        var doc = TomlDocument.Parse(toml, FileName);

        Assert.Equal(new ConfigLocation(FileName, line, column), doc.Find(path)?.Location);
    }

    [Theory]
    [InlineData("a = \n", 1, 5)]
    [InlineData("a = 1 2\n", 1, 7)]
    [InlineData("[a\nb = 1\n", 1, 3)]
    [InlineData("ok = 1\ns = \"abc\n", 2, 9)]
    [InlineData("x = 1\n\n[t]\nx = @\n", 4, 5)]
    [InlineData("n = 99999999999999999999\n", 1, 5)]
    [InlineData("d = 1979-13-45\n", 1, 5)]
    [InlineData("x = 1\ny = [\n  1,\n  2\n]\nz = 3 4\nw = \n", 6, 7)]
    public void Parse_MalformedToml_ThrowsOneLineMessageWithLocation(string toml, int line, int column)
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse(toml, FileName));

        Assert.StartsWith($"{FileName}:{line}:{column}: ", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length > $"{FileName}:{line}:{column}: ".Length);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.DoesNotContain('\r', ex.Message);
        Assert.Equal(new ConfigLocation(FileName, line, column), ex.Location);
    }

    [Theory]
    [InlineData("x = ", "[", 64, "]", 1, 68)]
    [InlineData("x = ", "[", 5000, "]", 1, 68)]
    [InlineData("x = ", "{a=", 64, "}", 1, 194)]
    [InlineData("# a [comment {\n[t]\ns = \"[[{{\"\nx = [\n  ", "[", 63, "]", 5, 65)]
    public void Parse_NestedPastTheParsersDepth_ThrowsOneLineMessageWithLocation(string before, string open, int depth, string close, int line, int column)
    {
        var toml = before + string.Concat(Enumerable.Repeat(open, depth)) + (open == "{a=" ? "1" : "")
            + string.Concat(Enumerable.Repeat(close, depth)) + (before.EndsWith("  ", StringComparison.Ordinal) ? "\n]\n" : "\n");

        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse(toml, FileName));

        Assert.Equal($"{FileName}:{line}:{column}: arrays and inline tables nest too deep (at most 63 levels)", ex.Message);
        Assert.Equal(new ConfigLocation(FileName, line, column), ex.Location);
    }

    [Theory]
    [InlineData("a = 1\na = 2", 2, 1)]
    [InlineData("\"a\" = 1\n'a' = 2", 2, 1)]
    [InlineData("[t]\nx = 1\ny = 'long'\n\n[t]\nz = 1", 5, 1)]
    [InlineData("[t]\nx = 1\n  x = 2", 3, 3)]
    [InlineData("a.b = 1\n[a]\nc = 2", 2, 1)]
    [InlineData("a.b = 1\na.b.c = 2", 2, 1)]
    [InlineData("p = { x = 1 }\n[p]\ny = 2", 2, 1)]
    [InlineData("u = [1]\n[[u]]", 2, 1)]
    [InlineData("[[u]]\n[u]", 2, 1)]
    public void Parse_DuplicateKey_PointsAtSecondDefinition(string toml, int line, int column)
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse(toml, FileName));

        Assert.Equal(new ConfigLocation(FileName, line, column), ex.Location);
        Assert.Contains("already defined", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Parse_DuplicateTable_NamesFirstDefinitionWithoutEchoingIt()
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse("[t]\nx = 1\ny = 2\n[t]\n", FileName));

        Assert.Equal("cfg.toml:4:1: key `t` is already defined at cfg.toml:1:1", ex.Message);
    }

    [Theory]
    [InlineData("a = 1\nA = 2", "A", 2, 1)]
    [InlineData("[Admin]\nport = 1\n[admin]\nhost = 'x'", "admin", 3, 1)]
    [InlineData("[a]\nPort = 1\nport = 2", "a:port", 3, 1)]
    [InlineData("x.Y = 1\nx.y = 2", "x:y", 2, 3)]
    public void Parse_KeysDifferingOnlyInCase_Rejected(string toml, string key, int line, int column)
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse(toml, FileName));

        Assert.Equal(new ConfigLocation(FileName, line, column), ex.Location);
        Assert.Equal(key, ex.Key);
        Assert.Contains("differs only in case", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"a:b\" = 1", "a:b", 1, 1)]
    [InlineData("[t]\nx.'p:q' = 1", "t:x:p:q", 2, 3)]
    [InlineData("[ 'h:1' ]\nk = 1", "h:1", 1, 3)]
    [InlineData("t = { \"c:d\" = 1 }", "t:c:d", 1, 7)]
    public void Parse_ColonInKey_RejectedWithKeyAndLocation(string toml, string key, int line, int column)
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse(toml, FileName));

        Assert.Equal(new ConfigLocation(FileName, line, column), ex.Location);
        Assert.Equal(key, ex.Key);
        Assert.StartsWith($"{FileName}:{line}:{column}: key \"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("contains ':'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyKey_Rejected()
    {
        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Parse("[t]\n\"\" = 1", FileName));

        Assert.Equal(new ConfigLocation(FileName, 2, 1), ex.Location);
        Assert.Contains("empty key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyText_GivesEmptyDocument()
    {
        var doc = TomlDocument.Parse(string.Empty, FileName);

        Assert.Equal(FileName, doc.FilePath);
        Assert.Empty(doc.Data);
        Assert.Empty(doc.Entries);
    }

    [Fact]
    public void Find_AnyCase_ReturnsEntryWithWrittenCase()
    {
        var doc = TomlDocument.Parse("[Admin]\nPort = 1", FileName);

        Assert.Equal("Admin:Port", doc.Find("admin:PORT")?.Path);
        Assert.Equal("1", doc.Data["ADMIN:port"]);
        Assert.True(doc.Entries.ContainsKey("admin"));
        Assert.Null(doc.Find("admin:host"));
    }

    [Fact]
    public void Load_MissingFile_ThrowsNoSuchFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lashup-missing-{Guid.NewGuid():N}.toml");

        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Load(path));

        Assert.Equal($"{path}: no such file", ex.Message);
        Assert.Null(ex.Location);
    }

    [Fact]
    public void Load_Directory_ThrowsClearMessage()
    {
        var path = Path.GetTempPath();

        var ex = Assert.Throws<ConfigException>(() => TomlDocument.Load(path));

        Assert.Equal($"{path}: is a directory, not a file", ex.Message);
    }

    [Fact]
    public void Load_InvalidUtf8_ThrowsClearMessage()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lashup-{Guid.NewGuid():N}.toml");
        File.WriteAllBytes(path, [(byte)'a', (byte)'=', (byte)'"', 0xC3, 0x28, (byte)'"']);
        try
        {
            var ex = Assert.Throws<ConfigException>(() => TomlDocument.Load(path));

            Assert.Equal($"{path}: not valid UTF-8", ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_ExistingFile_ParsesWithFilePathInLocations()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lashup-{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, "\uFEFF[admin]\nport = 9\n");
        try
        {
            var doc = TomlDocument.Load(path);

            Assert.Equal(path, doc.FilePath);
            Assert.Equal("9", doc.Data["admin:port"]);
            Assert.Equal(new ConfigLocation(path, 2, 1), doc.Find("admin:port")?.Location);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ConfigException_WithAndWithoutLocation_FormatsOneLine()
    {
        var located = new ConfigException("bad\nvalue", new ConfigLocation("f.toml", 3, 7), "a:b");
        var bare = new ConfigException("just this");

        Assert.Equal("f.toml:3:7: bad value", located.Message);
        Assert.Equal("a:b", located.Key);
        Assert.Equal("just this", bare.Message);
        Assert.Null(bare.Location);
        Assert.Null(bare.Key);
        Assert.Equal("f.toml:3:7", new ConfigLocation("f.toml", 3, 7).ToString());
    }

    [Fact]
    public void AddTomlDocument_Bind_FillsOptions()
    {
        const string toml = """
            name = "node-1"

            [admin]
            port = 8080
            enabled = true

            [dns]
            upstreams = ["1.1.1.1", "9.9.9.9"]
            ratio = 0.5

            [dns.cache]
            size = 1024

            [[dns.zones]]
            name = "a.example"

            [[dns.zones]]
            name = "b.example"
            """;
        var doc = TomlDocument.Parse(toml, FileName);

        var config = new ConfigurationBuilder().AddTomlDocument(doc).Build();
        var options = config.Get<SampleOptions>();

        Assert.NotNull(options);
        Assert.Equal("node-1", options.Name);
        Assert.Equal(8080, options.Admin.Port);
        Assert.True(options.Admin.Enabled);
        Assert.Equal(["1.1.1.1", "9.9.9.9"], options.Dns.Upstreams);
        Assert.Equal(0.5, options.Dns.Ratio);
        Assert.Equal(1024, options.Dns.Cache.Size);
        Assert.Equal(["a.example", "b.example"], options.Dns.Zones.Select(z => z.Name));
        Assert.Equal("8080", config["ADMIN:PORT"]);
        Assert.Equal(8080, config.GetValue<int>("admin:port"));
    }

    [Fact]
    public void TomlConfigurationSource_Build_ServesDocumentData()
    {
        var doc = TomlDocument.Parse("a = 1\nb = [true]", FileName);
        var source = new TomlConfigurationSource(doc);

        var provider = source.Build(new ConfigurationBuilder());
        provider.Load();

        Assert.Same(doc, source.Document);
        Assert.True(provider.TryGet("A", out var a));
        Assert.Equal("1", a);
        Assert.True(provider.TryGet("b:0", out var b));
        Assert.Equal("true", b);
        Assert.Contains(FileName, provider.ToString(), StringComparison.Ordinal);
    }

    public sealed class SampleOptions
    {
        public string Name { get; set; } = string.Empty;

        public SampleAdmin Admin { get; set; } = new();

        public SampleDns Dns { get; set; } = new();
    }

    public sealed class SampleAdmin
    {
        public int Port { get; set; }

        public bool Enabled { get; set; }
    }

    public sealed class SampleDns
    {
        public string[] Upstreams { get; set; } = [];

        public double Ratio { get; set; }

        public SampleCache Cache { get; set; } = new();

        public List<SampleZone> Zones { get; set; } = [];
    }

    public sealed class SampleCache
    {
        public int Size { get; set; }
    }

    public sealed class SampleZone
    {
        public string Name { get; set; } = string.Empty;
    }
}
