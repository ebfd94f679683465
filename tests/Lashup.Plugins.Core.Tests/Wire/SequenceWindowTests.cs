using Lashup.Plugins.Core.Protocol;

namespace Lashup.Plugins.Core.Tests.Wire;

// SequenceWindow lives in Protocol/ but guards what the wire delivers (replays), so its tests sit with the wire's.
public class SequenceWindowTests
{
    private const int Window = 1024;

    [Fact]
    public void Accept_InOrder_AcceptsEach()
    {
        var window = new SequenceWindow();

        for (ulong seq = 0; seq < 5000; seq++)
        {
            Assert.True(window.Accept(1, seq), $"seq {seq}");
        }
    }

    [Fact]
    public void Accept_FirstMessageOfSender_AcceptsAnySequence()
    {
        Assert.True(new SequenceWindow().Accept(0, 0));
        Assert.True(new SequenceWindow().Accept(0, 123_456_789));
        Assert.True(new SequenceWindow().Accept(long.MaxValue, ulong.MaxValue));
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(1023UL)]
    [InlineData(1024UL)]
    [InlineData(ulong.MaxValue)]
    public void Accept_Duplicate_Refused(ulong seq)
    {
        var window = new SequenceWindow();

        Assert.True(window.Accept(5, seq));
        Assert.False(window.Accept(5, seq));
        Assert.False(window.Accept(5, seq));
    }

    [Fact]
    public void Accept_DuplicateAfterAdvancing_Refused()
    {
        var window = new SequenceWindow();
        for (ulong seq = 100; seq <= 200; seq++)
        {
            window.Accept(1, seq);
        }

        for (ulong seq = 100; seq <= 200; seq++)
        {
            Assert.False(window.Accept(1, seq), $"seq {seq}");
        }
    }

    [Fact]
    public void Accept_ReorderedWithinWindow_AcceptedOnceEach()
    {
        var window = new SequenceWindow();
        const ulong top = 5000;
        Assert.True(window.Accept(1, top));

        // Every sequence number in the 1023 below the highest arrives late, in scrambled order, twice.
        var late = Enumerable.Range(1, Window - 1).Select(i => top - (ulong)i).OrderBy(s => (s * 7919) % 1021).ToList();
        foreach (var seq in late)
        {
            Assert.True(window.Accept(1, seq), $"seq {seq}");
        }

        foreach (var seq in late)
        {
            Assert.False(window.Accept(1, seq), $"replayed seq {seq}");
        }
    }

    [Fact]
    public void Accept_InterleavedStreams_AcceptsAllOnce()
    {
        // UDP and TCP deliveries of one sender interleave: evens arrive on time, odds trail 800 numbers behind.
        var window = new SequenceWindow();
        const int lag = 400;
        for (ulong i = 0; i < 10_000; i++)
        {
            Assert.True(window.Accept(1, 2 * i), $"even {2 * i}");
            if (i >= lag)
            {
                Assert.True(window.Accept(1, (2 * (i - lag)) + 1), $"odd {(2 * (i - lag)) + 1}");
            }
        }

        for (ulong i = 10_000 - lag; i < 10_000; i++)
        {
            Assert.True(window.Accept(1, (2 * i) + 1), $"odd {(2 * i) + 1}");
        }

        for (ulong seq = 0; seq < 20_000; seq++)
        {
            Assert.False(window.Accept(1, seq), $"replayed {seq}");
        }
    }

    [Theory]
    [InlineData(Window)]
    [InlineData(Window + 1)]
    [InlineData(100_000)]
    public void Accept_OlderThanWindow_Refused(int age)
    {
        var window = new SequenceWindow();
        const ulong top = 200_000;
        Assert.True(window.Accept(1, top));

        Assert.False(window.Accept(1, top - (ulong)age));
    }

    [Fact]
    public void Accept_OldestInsideWindow_Accepted()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(1, 10_000));

        Assert.True(window.Accept(1, 10_000 - (Window - 1)));
        Assert.False(window.Accept(1, 10_000 - Window));
    }

    [Fact]
    public void Accept_WindowSlides_SlotsReusedWithoutFalseDuplicates()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(1, 10));

        // 10 + 1024 shares 10's bit; it must be news, and 10 itself is now out of the window.
        Assert.True(window.Accept(1, 10 + Window));
        Assert.False(window.Accept(1, 10));
        Assert.True(window.Accept(1, 11));
        Assert.False(window.Accept(1, 11));
    }

    [Fact]
    public void Accept_NewerEpoch_ResetsWindow()
    {
        var window = new SequenceWindow();
        for (ulong seq = 0; seq < 50; seq++)
        {
            window.Accept(1, seq);
        }

        // The sender restarted: its sequence starts again and old numbers are new in the new epoch.
        Assert.True(window.Accept(2, 0));
        Assert.True(window.Accept(2, 1));
        Assert.False(window.Accept(2, 1));
        Assert.True(window.Accept(2, 49));
    }

    [Fact]
    public void Accept_NewerEpochWithLowerSequence_ForgetsHighest()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(1, 1_000_000));

        Assert.True(window.Accept(2, 5));
        Assert.True(window.Accept(2, 4));
        Assert.True(window.Accept(2, 6));
    }

    [Fact]
    public void Accept_OlderEpoch_Refused()
    {
        var window = new SequenceWindow();
        window.Confirm(7);
        Assert.True(window.Accept(7, 10));

        Assert.False(window.Accept(6, 11));
        Assert.False(window.Accept(0, 0));
        Assert.False(window.Accept(6, ulong.MaxValue));
        Assert.True(window.Accept(7, 11));
    }

    [Theory]
    [InlineData(1_000UL)]
    [InlineData(1_024UL)]
    [InlineData(1_025UL)]
    [InlineData(1UL << 32)]
    [InlineData(1UL << 63)]
    public void Accept_LargeJump_AcceptsAndDropsOldWindow(ulong jump)
    {
        var window = new SequenceWindow();
        for (ulong seq = 0; seq < 100; seq++)
        {
            window.Accept(1, seq);
        }

        Assert.True(window.Accept(1, 99 + jump));
        Assert.False(window.Accept(1, 99 + jump));
        Assert.False(window.Accept(1, 98));

        // The numbers skipped over are new while they are inside the window.
        Assert.True(window.Accept(1, 99 + jump - 1));
    }

    [Fact]
    public void Accept_JumpFromZeroToMax_AcceptsOnce()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(1, 0));

        Assert.True(window.Accept(1, ulong.MaxValue));
        Assert.False(window.Accept(1, ulong.MaxValue));
        Assert.False(window.Accept(1, 0));
        Assert.True(window.Accept(1, ulong.MaxValue - 1));
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(1023UL)]
    public async Task Accept_SequenceReachesUlongMax_TerminatesAndAccepts(ulong distance)
    {
        // A peer picks the sequence numbers: stepping up to ulong.MaxValue in small steps must not wrap the loop
        // that clears skipped slots (it used to spin forever, hanging the node loop).
        var window = new SequenceWindow();
        Assert.True(window.Accept(1, ulong.MaxValue - distance));

        // WaitAsync throws TimeoutException rather than hanging the test run if the loop spins.
        var accepted = await Task.Run(() => window.Accept(1, ulong.MaxValue)).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(accepted);
        Assert.False(window.Accept(1, ulong.MaxValue));
        Assert.False(window.Accept(1, ulong.MaxValue - distance));
        Assert.Equal(distance > 1, window.Accept(1, ulong.MaxValue - 1));
    }

    [Fact]
    public void Accept_RandomArrivals_MatchesModel()
    {
        // Model: the first message and anything above the highest are new; below it, new if within the window and unseen.
        var window = new SequenceWindow();
        var random = new Random(42);
        var accepted = new HashSet<ulong>();
        ulong highest = 0;

        for (var i = 0; i < 20_000; i++)
        {
            var seq = (ulong)Math.Max(0, (long)highest + random.Next(-1100, 50));
            var expected = accepted.Count == 0 || seq > highest || (highest - seq < Window && !accepted.Contains(seq));

            Assert.Equal(expected, window.Accept(3, seq));
            if (expected)
            {
                accepted.Add(seq);
                highest = Math.Max(highest, seq);
            }
        }
    }
}

// Issue 15: a newer epoch is not believed until confirmed (the sender's own record at that epoch).
public class SequenceWindowEpochTests
{
    [Fact]
    public void Accept_ForgedHugeEpoch_CurrentEpochStillAccepted()
    {
        var window = new SequenceWindow();
        for (ulong seq = 1; seq <= 10; seq++)
        {
            Assert.True(window.Accept(3, seq));
        }

        Assert.True(window.Accept(long.MaxValue, ulong.MaxValue));

        Assert.True(window.Accept(3, 11));
        Assert.False(window.Accept(3, 10));
        Assert.Equal(3, window.Epoch);
        Assert.Equal(long.MaxValue, window.UnconfirmedEpoch);
    }

    [Fact]
    public void Confirm_NewerEpochSeen_ItBecomesCurrentWithItsHistoryAndOlderEpochsAreRefused()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(3, 100));
        Assert.True(window.Accept(4, 1));
        Assert.True(window.Accept(4, 2));

        window.Confirm(4);

        Assert.False(window.Accept(3, 101));
        Assert.False(window.Accept(4, 2));
        Assert.True(window.Accept(4, 3));
        Assert.Null(window.UnconfirmedEpoch);
    }

    [Fact]
    public void Confirm_EpochNotSeenYet_StartsEmptyAndKeepsALaterUnconfirmedOne()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(3, 100));
        Assert.True(window.Accept(9, 5));

        window.Confirm(5);

        Assert.False(window.Accept(3, 101));
        Assert.True(window.Accept(5, 77));
        Assert.Equal(9, window.UnconfirmedEpoch);
        Assert.False(window.Accept(9, 5));
    }

    [Fact]
    public void Confirm_OlderOrEqualEpoch_ChangesNothing()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(5, 1));

        window.Confirm(4);
        window.Confirm(5);

        Assert.False(window.Accept(5, 1));
        Assert.True(window.Accept(5, 2));
    }

    [Fact]
    public void Restart_LowerEpoch_AcceptsItAgain()
    {
        var window = new SequenceWindow();
        window.Confirm(1_000_000);
        Assert.False(window.Accept(2, 1));

        window.Restart(2);

        Assert.True(window.Accept(2, 1));
        Assert.False(window.Accept(2, 1));
    }

    [Fact]
    public void Get_FloodOfStrangers_BoundedAndMembersKept()
    {
        var windows = new SenderWindows(strangerCapacity: 100);
        var member = windows.Get("member", memberEpoch: 7);
        Assert.True(member.Accept(7, 1));

        for (var i = 0; i < 10_000; i++)
        {
            windows.Get($"made-up-{i}", memberEpoch: null).Accept(1, 1);
        }

        Assert.Equal(100, windows.StrangerCount);
        Assert.Equal(101, windows.Count);
        Assert.Same(member, windows.Get("member", memberEpoch: 7));
        Assert.False(member.Accept(7, 1));
    }

    [Fact]
    public void Get_StrangerBecomesMember_KeepsItsHistoryAndStartsAtTheRecordEpoch()
    {
        var windows = new SenderWindows(strangerCapacity: 100);
        var window = windows.Get("joiner", memberEpoch: null);
        Assert.True(window.Accept(1, 5));
        Assert.True(window.Accept(2, 1));

        Assert.Same(window, windows.Get("joiner", memberEpoch: 2));

        Assert.Equal(0, windows.StrangerCount);
        Assert.False(window.Accept(2, 1));
        Assert.False(window.Accept(1, 6));
    }

    [Fact]
    public void Accept_OlderEpochBeforeAnyConfirmation_AcceptedOnceEach()
    {
        // The first frame's epoch is only its say-so (a forger's, perhaps): the sender's real, lower epoch gets in.
        var window = new SequenceWindow();
        Assert.True(window.Accept(1_000_000_000_000, 1));

        Assert.True(window.Accept(3, 1));
        Assert.True(window.Accept(3, 2));
        Assert.False(window.Accept(3, 2));
        Assert.Equal(3, window.Epoch);
        Assert.False(window.Confirmed);
    }

    [Fact]
    public void Confirm_BelowTheFirstFramesEpoch_WindowMovesDownToTheConfirmedEpoch()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(1_000_000_000_000, 1));

        window.Confirm(3);

        Assert.Equal(3, window.Epoch);
        Assert.True(window.Accept(3, 1));
        Assert.False(window.Accept(2, 1));

        // The higher epoch is kept aside, unconfirmed, as any newer epoch is.
        Assert.Equal(1_000_000_000_000, window.UnconfirmedEpoch);
        Assert.False(window.Accept(1_000_000_000_000, 1));
    }

    [Fact]
    public void Confirm_AtTheFirstFramesEpoch_KeepsItsSequenceState()
    {
        var window = new SequenceWindow();
        Assert.True(window.Accept(4, 10));

        window.Confirm(4);

        Assert.False(window.Accept(4, 10));
        Assert.True(window.Accept(4, 11));
    }

    [Fact]
    public void Accept_MovesDownTwiceBeforeAnyConfirmation_HighestEpochsReplaysStillRefused()
    {
        // Unconfirmed, the window follows a lower epoch down (5, then 4, then 3). The second move recycled the range of
        // epoch 5 for epoch 3, so a replay of a frame of epoch 5 was accepted again; the highest range is kept aside now.
        var window = new SequenceWindow();
        for (ulong seq = 1; seq <= 10; seq++)
        {
            Assert.True(window.Accept(5, seq));
        }

        Assert.True(window.Accept(4, 7));
        Assert.True(window.Accept(3, 9));

        Assert.False(window.Accept(5, 3));
        Assert.False(window.Accept(5, 10));
        Assert.True(window.Accept(5, 11));
        Assert.Equal(3, window.Epoch);
    }
}
