using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Runtime;

namespace Lashup.Plugins.Core.Tests.Runtime;

public class FrameBufferTests
{
    private const int Segment = StreamLimits.SegmentSize;

    [Fact]
    public void TryCharge_OverCapacity_RefusedUntilReleased()
    {
        var budget = new ByteBudget(100);

        Assert.True(budget.TryCharge(60));
        Assert.False(budget.TryCharge(41));
        Assert.True(budget.TryCharge(40));
        budget.Release(60);
        Assert.True(budget.TryCharge(60));
        Assert.Equal(100, budget.Charged);
    }

    [Fact]
    public void GetMemory_BytesArrive_SegmentsRentedOnlyAsTheyAreNeeded()
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(1024 * 1024);
        using var buffer = new FrameBuffer(stats);
        buffer.Start((3 * Segment) + 100, budget, authenticated: false);

        Assert.Equal(0, stats.StreamBufferedUnauthenticated);
        Assert.True(buffer.TryWrite(new byte[10]));
        Assert.Equal(Segment, stats.StreamBufferedUnauthenticated);
        Assert.True(buffer.TryWrite(new byte[Segment]));
        Assert.Equal(2 * Segment, stats.StreamBufferedUnauthenticated);
        Assert.Equal(2 * Segment, budget.Charged);
        Assert.Equal(0, stats.StreamBufferedAuthenticated);
    }

    [Fact]
    public void TryGetMemory_BudgetFull_RefusedAndNothingHeld()
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(Segment);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(4 * Segment, budget, authenticated: true);

        Assert.True(buffer.TryWrite(new byte[Segment]));
        Assert.False(buffer.TryGetMemory(out _));
        Assert.Equal(Segment, stats.StreamBufferedAuthenticated);

        buffer.Clear();

        Assert.Equal(0, stats.StreamBufferedAuthenticated);
        Assert.Equal(0, budget.Charged);
    }

    [Theory]
    [InlineData(14)]
    [InlineData(Segment)]
    [InlineData(Segment + 1)]
    [InlineData((5 * Segment) + 12_345)]
    public void Frame_WrittenInPieces_ComesBackWholeAndEverythingReturns(int size)
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(16 * Segment);
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(size, budget, authenticated: false);

        for (var offset = 0; offset < size; offset += 7_777)
        {
            Assert.True(buffer.TryWrite(bytes.AsSpan(offset, Math.Min(7_777, size - offset))));
        }

        Assert.Equal(bytes, buffer.Frame().ToArray());
        Assert.True(stats.StreamBufferedUnauthenticated >= size);

        buffer.Clear();

        Assert.Equal(0, stats.StreamBufferedUnauthenticated);
        Assert.Equal(0, budget.Charged);
    }
}
