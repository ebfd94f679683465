using System.Collections.Immutable;
using Lashup.Abstractions.Data;

namespace Lashup.Abstractions.Tests.Data;

public sealed class CrdtOpTests
{
    [Fact]
    public void CrdtOp_EmptyPathOrSegment_Throws()
    {
        Assert.Throws<ArgumentException>(() => new FlagEnable([]));
        Assert.Throws<ArgumentException>(() => new FlagEnable(default));
        Assert.Throws<ArgumentException>(() => new FlagEnable(["a", ""]));
    }

    [Fact]
    public void CrdtOp_SamePathAndArguments_AreEqual()
    {
        Assert.Equal(new ORSetAdd(ImmutableArray.Create("a", "b"), "x"), new ORSetAdd(["a", "b"], "x"));
        Assert.NotEqual<CrdtOp>(new ORSetAdd(["a"], "x"), new ORSetRemove(["a"], "x"));
        Assert.Equal("CounterAdd a/b -3", new CounterAdd(["a", "b"], -3).ToString());
        Assert.Equal("LwwSet a \"say \\\"hi\\\"\"", new LwwSet(["a"], "say \"hi\"").ToString());
    }

    public static TheoryData<CrdtOp, bool, CrdtType?> Ops() => new()
    {
        { new ORSetAdd(["f"], "x"), true, CrdtType.ORSet },
        { new ORSetRemove(["f"], "x"), false, CrdtType.ORSet },
        { new ORSetClear(["f"]), false, CrdtType.ORSet },
        { new LwwSet(["f"], null), true, CrdtType.LwwRegister },
        { new MvSet(["f"], "x"), true, CrdtType.MvRegister },
        { new FlagEnable(["f"]), true, CrdtType.Flag },
        { new FlagDisable(["f"]), false, CrdtType.Flag },
        { new CounterAdd(["f"], -1), true, CrdtType.PnCounter },
        { new GCounterAdd(["f"], 1), true, CrdtType.GCounter },
        { new RemoveField(["f"]), false, null },
    };

    [Theory]
    [MemberData(nameof(Ops))]
    public void Writes_EachOp_TrueForWritesFalseForRemovals(CrdtOp op, bool writes, CrdtType? type)
    {
        Assert.Equal(writes, op.Writes);
        Assert.Equal(type, op.FieldType);
    }
}
