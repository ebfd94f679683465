using System.Text;
using System.Text.Json;
using Lashup.Abstractions.Data;
using Lashup.Testing;
using NSubstitute;
using static Lashup.Abstractions.Tests.Data.CrdtValuesTests;

namespace Lashup.Abstractions.Tests.Data;

public sealed class CrdtJsonTests
{
    [Fact]
    public void ToJsonString_EveryType_RendersWhatAReaderSees()
    {
        var value = Map(
            ("counter", Value<IPnCounterValue>(CrdtType.PnCounter, c => c.Value.Returns(-3))),
            ("flag", Value<IFlagValue>(CrdtType.Flag, f => f.IsEnabled.Returns(true))),
            ("hits", Value<IGCounterValue>(CrdtType.GCounter, c => c.Value.Returns(ulong.MaxValue))),
            ("mv", Value<IMvRegisterValue>(CrdtType.MvRegister, r => r.Values.Returns(Values("a", "b")))),
            ("nested", Map(("cleared", Lww(null)))),
            ("owner", Lww("alice")),
            ("set", Set("x", "y")));

        Assert.Equal(
            """{"counter":-3,"flag":true,"hits":18446744073709551615,"mv":["a","b"],"nested":{"cleared":null},"owner":"alice","set":["x","y"]}""",
            CrdtJson.ToJsonString(value));
    }

    [Fact]
    public async Task ToJsonElement_StoreValue_SameShapeAsTheAdminApiShowed()
    {
        var store = new InMemoryReplicatedStore();
        var entry = await store.UpdateAsync(KvKey.Parse("config/app"),
        [
            new ORSetAdd(["features"], "search"),
            new LwwSet(["owner"], "al\"ice\n"),
            new FlagEnable(["on"]),
            new CounterAdd(["n"], 2),
            new GCounterAdd(["g"], 5),
            new MvSet(["mv"], "v"),
            new LwwSet(["deep", "er", "x"], "é"),
            new ORSetAdd(["gone"], "x"),
            new RemoveField(["gone"]),
        ]);

        var element = CrdtJson.ToJsonElement(entry.Value);

        Assert.Equal(JsonValueKind.Object, element.ValueKind);
        Assert.Equal(["deep", "features", "g", "mv", "n", "on", "owner"], element.EnumerateObject().Select(p => p.Name));
        Assert.Equal("search", element.GetProperty("features")[0].GetString());
        Assert.Equal("al\"ice\n", element.GetProperty("owner").GetString());
        Assert.True(element.GetProperty("on").GetBoolean());
        Assert.Equal(2, element.GetProperty("n").GetInt64());
        Assert.Equal(5UL, element.GetProperty("g").GetUInt64());
        Assert.Equal("v", element.GetProperty("mv")[0].GetString());
        Assert.Equal("é", element.GetProperty("deep").GetProperty("er").GetProperty("x").GetString());
        Assert.Equal("""{"deep":{"er":{"x":"é"}},"features":["search"],"g":5,"mv":["v"],"n":2,"on":true,"owner":"al\"ice\n"}""", CrdtJson.ToJsonString(entry.Value));
        Assert.Equal(CrdtJson.ToJsonString(entry.Value), entry.Value.ToString());
    }

    [Fact]
    public void Write_IntoCallersWriter_WritesOneValue()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartArray();
            CrdtJson.Write(writer, Set("a"));
            CrdtJson.Write(writer, Map());
            writer.WriteEndArray();
        }

        Assert.Equal("""[["a"],{}]""", Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void Write_LoneSurrogateInAFake_WritesReplacementCharacter()
    {
        Assert.Equal("\"a\uFFFDb\"", CrdtJson.ToJsonString(Lww("a\uD800b")));
    }

    [Fact]
    public void Write_ValueOfNoKnownView_Throws()
    {
        var odd = Substitute.For<ICrdtValue>();
        odd.Type.Returns(CrdtType.Flag);

        Assert.Throws<ArgumentException>(() => CrdtJson.ToJsonString(odd));
    }
}
