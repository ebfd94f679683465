using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lashup.Host.Lifecycle;

/// <summary>
/// Gives memory the GC holds but no longer uses back to the operating system once the daemon has gone quiet.
/// </summary>
/// <remarks>
/// The GC sizes its committed memory for the busiest moment it has seen and, with regions, returns free regions only
/// during later collections. A daemon that absorbs a burst (a restart resync, a thousand registrations) and then idles
/// allocates almost nothing, so no collection comes and the burst's memory stays committed for good: measured with
/// 100k DNS records, 206 MiB committed for a 79 MiB live heap. No GC setting fixes that without capping the heap
/// (<c>GCHeapHardLimit</c>, which would turn a larger store into an out-of-memory crash), and the runtime offers no
/// background trimming, hence this loop: when committed memory exceeds the live heap by more than
/// <see cref="Slack"/> (and by more than the heap itself), and since the last check the process allocated little and
/// triggered no collection (it is idle, not in a steady state), it runs one aggressive, compacting, full collection, which decommits the free regions. That collection pauses the
/// process (tens of milliseconds for a heap of tens of MiB), so it runs at most once per <see cref="MinimumGap"/> and
/// only after a burst, never in a steady state.
/// </remarks>
internal sealed partial class MemoryTrimmer(TimeSpan interval, TimeProvider time, ILogger<MemoryTrimmer> logger, IMeterFactory meters)
    : BackgroundService
{
    /// <summary>Excess commitment below which trimming is not worth a pause.</summary>
    public const long Slack = 48L << 20;

    /// <summary>Allocation between two checks above which the process is busy and a collection will come anyway.</summary>
    public const long QuietAllocation = 64L << 20;

    /// <summary>The shortest time between two trims.</summary>
    public static readonly TimeSpan MinimumGap = TimeSpan.FromMinutes(5);

    private readonly Counter<long> _trims = meters.Create("Lashup.Host").CreateCounter<long>(
        "lashup.host.memory_trims", description: "Aggressive collections run to return memory to the system after a burst");

    private readonly Counter<long> _released = meters.Create("Lashup.Host").CreateCounter<long>(
        "lashup.host.memory_trimmed_bytes", "By", "Committed memory returned to the system by memory trims");

    /// <summary>Whether a process with these figures should trim now.</summary>
    /// <param name="committed">Bytes the GC has committed.</param>
    /// <param name="heap">Bytes of heap after the last collection.</param>
    /// <param name="allocatedSinceCheck">Bytes allocated since the previous check.</param>
    /// <param name="sinceLastTrim">Time since the previous trim (or since start).</param>
    /// <param name="collectedSinceCheck">Whether the GC collected since the previous check: a process that still
    /// triggers collections is not idle, and its GC decommits on its own.</param>
    public static bool ShouldTrim(long committed, long heap, long allocatedSinceCheck, TimeSpan sinceLastTrim, bool collectedSinceCheck)
    {
        var excess = committed - heap;
        return excess > Slack && excess > heap && allocatedSinceCheck < QuietAllocation && sinceLastTrim >= MinimumGap
            && !collectedSinceCheck;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        // The first check is one interval after start: start-up itself is a burst worth trimming after.
        var lastTrim = time.GetTimestamp() - (long)(MinimumGap.TotalSeconds * time.TimestampFrequency);
        var allocated = GC.GetTotalAllocatedBytes();
        var collections = GC.CollectionCount(0);
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = GC.GetTotalAllocatedBytes();
                var info = GC.GetGCMemoryInfo();
                if (ShouldTrim(info.TotalCommittedBytes, info.HeapSizeBytes, now - allocated, time.GetElapsedTime(lastTrim), GC.CollectionCount(0) != collections))
                {
                    var before = info.TotalCommittedBytes;
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                    var after = GC.GetGCMemoryInfo().TotalCommittedBytes;
                    lastTrim = time.GetTimestamp();
                    _trims.Add(1);
                    _released.Add(Math.Max(0, before - after));
                    LogTrimmed(logger, before >> 20, after >> 20, info.HeapSizeBytes >> 20);
                }

                allocated = GC.GetTotalAllocatedBytes();
                collections = GC.CollectionCount(0);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Memory trimmed: GC commitment {Before} MiB -> {After} MiB (live heap {Heap} MiB)")]
    private static partial void LogTrimmed(ILogger logger, long before, long after, long heap);
}
