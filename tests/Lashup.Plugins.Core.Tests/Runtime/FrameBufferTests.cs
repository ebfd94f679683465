using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Runtime;
using Lashup.Plugins.Core.Tests.Wire;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Tests.Runtime;

public class FrameBufferTests
{
    private const int Segment = StreamLimits.SegmentSize;
    private const int Header = FrameCodec.HeaderSize;

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
    public void TryCharge_SourceShareFull_RefusedAsTheSourcesAndNothingCharged()
    {
        var shared = new ByteBudget(1000);
        var source = new ByteBudget(100);
        var budgets = new ByteBudgets(shared, source);

        Assert.Equal(ConnectionCloseReason.None, budgets.TryCharge(80));
        Assert.Equal(ConnectionCloseReason.SourceLimit, budgets.TryCharge(30));
        Assert.Equal(ConnectionCloseReason.OverBudget, new ByteBudgets(new ByteBudget(10), new ByteBudget(100)).TryCharge(30));
        Assert.Equal((80L, 80L), (shared.Charged, source.Charged));
    }

    [Fact]
    public void Start_AHeaderAnnouncingTheLargestFrame_HoldsNothing()
    {
        // A header alone used to take (and charge) a 64 KiB segment until the frame's deadline: 520 such connections,
        // 7 KB of traffic, filled the 32 MiB budget.
        var stats = new NodeStats();
        var budget = new ByteBudget(1024 * 1024);
        using var buffer = new FrameBuffer(stats);

        buffer.Start(16 * 1024 * 1024, new byte[Header], Budgets(budget), authenticated: false);

        Assert.Equal(0, buffer.Held);
        Assert.Equal(0, budget.Charged);
        Assert.Equal(0, stats.StreamBufferedUnauthenticated);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(1000)]
    [InlineData(70_000)]
    [InlineData(3 * 1024 * 1024)]
    public void TryWrite_BytesArrive_HeldGrowsWithWhatArrived(int received)
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(64 * 1024 * 1024);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(16 * 1024 * 1024, new byte[Header], Budgets(budget), authenticated: false);

        // As a socket delivers them: in reads of at most 1,500 bytes.
        var bytes = new byte[received];
        for (var offset = 0; offset < received; offset += 1500)
        {
            Assert.True(buffer.TryWrite(bytes.AsSpan(offset, Math.Min(1500, received - offset))));
        }

        Assert.Equal(Header + received, buffer.Length);
        Assert.InRange(buffer.Held, Header + received, (2L * (Header + received)) + StreamLimits.MinPieceSize);
        Assert.Equal(buffer.Held, budget.Charged);
        Assert.Equal(buffer.Held, stats.StreamBufferedUnauthenticated);
    }

    [Fact]
    public void TryGetMemory_BudgetFull_RefusedAndNothingHeld()
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(Segment);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(4 * Segment, new byte[Header], Budgets(budget), authenticated: true);

        Assert.False(buffer.TryWrite(new byte[2 * Segment]));
        Assert.True(stats.StreamBufferedAuthenticated <= Segment);

        buffer.Clear();

        Assert.Equal(0, stats.StreamBufferedAuthenticated);
        Assert.Equal(0, budget.Charged);
    }

    [Theory]
    [InlineData(Header)]
    [InlineData(Header + 1)]
    [InlineData(Segment)]
    [InlineData(Segment + 1)]
    [InlineData((5 * Segment) + 12_345)]
    public void TryWrite_InPieces_TheFrameComesBackWholeAndEverythingReturns(int size)
    {
        var stats = new NodeStats();
        var budget = new ByteBudget(16 * Segment);
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(size, bytes.AsSpan(0, Header), Budgets(budget), authenticated: false);

        for (var offset = Header; offset < size; offset += 7_777)
        {
            Assert.True(buffer.TryWrite(bytes.AsSpan(offset, Math.Min(7_777, size - offset))));
        }

        Assert.True(buffer.Complete);
        Assert.False(buffer.TryWrite(new byte[1]));
        Assert.Equal(bytes, buffer.ToArray());

        buffer.Clear();

        Assert.Equal(0, stats.StreamBufferedUnauthenticated);
        Assert.Equal(0, budget.Charged);
    }

    [Theory]
    [InlineData(false, 100)]
    [InlineData(false, 3 * Segment)]
    [InlineData(true, 100)]
    [InlineData(true, 3 * Segment)]
    public void Decode_FrameInPieces_DecodedAndTheCopyOfASealedOneIsCharged(bool keyring, int payload)
    {
        var keys = keyring ? Keyring.Parse([WireSamples.NewKey()]) : null;
        var codec = new FrameCodec("c", keys, 16 * 1024 * 1024);
        var data = new byte[payload];
        new Random(payload).NextBytes(data);
        var frame = codec.Encode(new Envelope("node-1", "127.0.0.1:1", 1, 1, new DirectData("t", data)));
        var stats = new NodeStats();
        var budget = new ByteBudget(16 * Segment);
        using var buffer = new FrameBuffer(stats);
        buffer.Start(frame.Length, frame, Budgets(budget), authenticated: true);
        for (var offset = Header; offset < frame.Length; offset += 1500)
        {
            Assert.True(buffer.TryWrite(frame.AsSpan(offset, Math.Min(1500, frame.Length - offset))));
        }

        Assert.Equal(DropReason.None, buffer.Decode(codec, out var envelope));

        Assert.Equal(data, ((DirectData)envelope!.Body).Payload);

        // What the frame holds while it is decoded stays charged (a sealed frame in pieces is copied into one array,
        // which used to be left off the budget: up to twice the budget in memory).
        Assert.InRange(budget.Charged, frame.Length, (2L * frame.Length) + StreamLimits.MinPieceSize);
        Assert.Equal(budget.Charged, stats.StreamBufferedAuthenticated);
        buffer.Clear();
        Assert.Equal(0, budget.Charged);
        Assert.Equal(0, stats.StreamBufferedAuthenticated);
    }

    private static ByteBudgets Budgets(ByteBudget shared) => new(shared, new ByteBudget(long.MaxValue));
}
