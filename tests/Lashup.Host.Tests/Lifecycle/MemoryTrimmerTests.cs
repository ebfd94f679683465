using Lashup.Host.Lifecycle;

namespace Lashup.Host.Tests.Lifecycle;

public sealed class MemoryTrimmerTests
{
    private const long MiB = 1L << 20;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(10);

    [Fact]
    public void ShouldTrim_QuietAfterBurst_Trims() =>
        // The figures of the 100k-record DNS benchmark: 206 MiB committed for a 79 MiB heap, idle.
        Assert.True(MemoryTrimmer.ShouldTrim(206 * MiB, 79 * MiB, 1 * MiB, Long, collectedSinceCheck: false));

    [Fact]
    public void ShouldTrim_ExcessBelowSlack_DoesNotTrim() =>
        Assert.False(MemoryTrimmer.ShouldTrim(40 * MiB, 10 * MiB, 0, Long, collectedSinceCheck: false));

    [Fact]
    public void ShouldTrim_ExcessSmallerThanHeap_DoesNotTrim() =>
        // A large heap normally keeps a budget of about its own size; that is not a leftover burst.
        Assert.False(MemoryTrimmer.ShouldTrim(1500 * MiB, 1000 * MiB, 0, Long, collectedSinceCheck: false));

    [Fact]
    public void ShouldTrim_BusyProcess_DoesNotTrim() =>
        // Allocating: the GC will collect soon anyway, and a forced pause would hit live traffic.
        Assert.False(MemoryTrimmer.ShouldTrim(206 * MiB, 79 * MiB, MemoryTrimmer.QuietAllocation, Long, collectedSinceCheck: false));

    [Fact]
    public void ShouldTrim_TrimmedRecently_Waits()
    {
        Assert.False(MemoryTrimmer.ShouldTrim(206 * MiB, 79 * MiB, 0, MemoryTrimmer.MinimumGap - TimeSpan.FromSeconds(1), collectedSinceCheck: false));
        Assert.True(MemoryTrimmer.ShouldTrim(206 * MiB, 79 * MiB, 0, MemoryTrimmer.MinimumGap, collectedSinceCheck: false));
    }

    [Fact]
    public void ShouldTrim_CollectionsStillHappening_DoesNotTrim() =>
        // A steady load that allocates little but keeps collecting: its GC returns memory by itself.
        Assert.False(MemoryTrimmer.ShouldTrim(206 * MiB, 79 * MiB, 1 * MiB, Long, collectedSinceCheck: true));
}
