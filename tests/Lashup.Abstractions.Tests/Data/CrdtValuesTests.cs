using System.Collections.Immutable;
using Lashup.Abstractions.Data;
using Lashup.Abstractions.Services;
using NSubstitute;

namespace Lashup.Abstractions.Tests.Data;

/// <summary>The read-only views, faked as a plugin's tests would fake them.</summary>
public sealed class CrdtValuesTests
{
    [Fact]
    public void TypedGetters_FakeMapWithGetOnly_ReturnTheFieldOfThatTypeElseNull()
    {
        var set = Substitute.For<IORSetValue>();
        set.Type.Returns(CrdtType.ORSet);
        var map = Substitute.For<IMapValue>();
        map.Get("ports").Returns(set);

        Assert.Same(set, map.GetORSet("ports"));
        Assert.Null(map.GetLwwRegister("ports"));
        Assert.Null(map.GetMap("ports"));
        Assert.Null(map.GetORSet("absent"));
        Assert.Throws<ArgumentNullException>(() => map.GetFlag(null!));
    }

    [Fact]
    public void ServiceCatalogRead_FakeValues_ReadsTheInstances()
    {
        var instance = Map(
            ("address", Lww("10.0.0.5")),
            ("node", Lww("node-2")),
            ("ports", Set("http:80/tcp")));
        var value = Map(("instances", Map(("web-1", instance))));

        var read = Assert.Single(ServiceCatalog.Read(new KvEntry(ServiceCatalog.KeyOf("web"), value, VersionVector.Empty)));

        Assert.Equal(("web-1", "node-2", "10.0.0.5"), (read.Instance, read.Node, read.Address.ToString()));
        Assert.Equal(ServicePort.Parse("http:80/tcp"), Assert.Single(read.Ports));
    }

    [Fact]
    public void KvEntry_IsEmpty_IsTheValues()
    {
        var map = Substitute.For<IMapValue>();
        map.IsEmpty.Returns(true);

        Assert.True(new KvEntry(KvKey.Parse("a"), map, VersionVector.Empty).IsEmpty);
    }

    [Fact]
    public void CrdtField_Type_IsTheValues()
    {
        Assert.Equal(CrdtType.LwwRegister, new CrdtField("f", Lww("x")).Type);
    }

    internal static IMapValue Map(params (string Name, ICrdtValue Value)[] fields)
    {
        var map = Substitute.For<IMapValue>();
        map.Type.Returns(CrdtType.Map);
        map.IsEmpty.Returns(fields.Length == 0);
        map.Fields.Returns(fields.OrderBy(f => f.Name, StringComparer.Ordinal).Select(f => new CrdtField(f.Name, f.Value)).ToList());
        map.Get(Arg.Any<string>()).Returns(call => fields.FirstOrDefault(f => f.Name == call.Arg<string>()).Value);
        return map;
    }

    internal static ILwwRegisterValue Lww(string? value)
    {
        var register = Substitute.For<ILwwRegisterValue>();
        register.Type.Returns(CrdtType.LwwRegister);
        register.Value.Returns(value);
        return register;
    }

    internal static IORSetValue Set(params string[] elements)
    {
        var set = Substitute.For<IORSetValue>();
        set.Type.Returns(CrdtType.ORSet);
        set.Elements.Returns(elements.Order(StringComparer.Ordinal).ToList());
        set.Count.Returns(elements.Length);
        set.Contains(Arg.Any<string>()).Returns(call => elements.Contains(call.Arg<string>()));
        return set;
    }

    internal static T Value<T>(CrdtType type, Action<T> setup)
        where T : class, ICrdtValue
    {
        var value = Substitute.For<T>();
        value.Type.Returns(type);
        setup(value);
        return value;
    }

    internal static ImmutableArray<string> Values(params string[] values) => [.. values];
}
