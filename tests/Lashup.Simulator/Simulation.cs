namespace Lashup.Simulator;

/// <summary>
/// A discrete-event loop in virtual time. Events run in (time, insertion order), on the calling thread, so a run is
/// a pure function of its seed. Nothing sleeps: a minute of cluster life takes as long as its events take to run.
/// </summary>
internal sealed class Simulation
{
    private readonly PriorityQueue<Action, (long Time, ulong Seq)> _queue = new();
    private ulong _seq;

    public Simulation(int seed)
    {
        Seed = seed;
        Random = new Random(seed);
    }

    public int Seed { get; }

    /// <summary>The simulation's own randomness (faults, delays); nodes get their own seeded instances.</summary>
    public Random Random { get; }

    /// <summary>Virtual ticks since the start.</summary>
    public long Now { get; private set; }

    public TimeSpan Elapsed => TimeSpan.FromTicks(Now);

    public long EventsRun { get; private set; }

    public void At(long time, Action action) => _queue.Enqueue(action, (Math.Max(time, Now), ++_seq));

    public void After(TimeSpan delay, Action action) => At(Now + delay.Ticks, action);

    /// <summary>Runs events until virtual time reaches <paramref name="until"/>.</summary>
    public void RunUntil(TimeSpan until)
    {
        while (_queue.TryPeek(out _, out var key) && key.Time <= until.Ticks)
        {
            _queue.Dequeue()(); // the action may enqueue more
            EventsRun++;
            Now = Math.Max(Now, key.Time);
        }

        Now = Math.Max(Now, until.Ticks);
    }

    public void RunFor(TimeSpan duration) => RunUntil(Elapsed + duration);

    /// <summary>Runs until <paramref name="condition"/> holds (checked every <paramref name="step"/>) or <paramref name="limit"/> passes.</summary>
    /// <returns>The virtual time it took, or null if the limit passed first.</returns>
    public TimeSpan? RunUntil(Func<bool> condition, TimeSpan limit, TimeSpan? step = null)
    {
        var start = Elapsed;
        var increment = step ?? TimeSpan.FromMilliseconds(10);
        while (Elapsed - start < limit)
        {
            if (condition())
            {
                return Elapsed - start;
            }

            RunFor(increment);
        }

        return condition() ? Elapsed - start : null;
    }
}

/// <summary>A node's view of virtual time; <see cref="Skew"/> shifts its wall clock (not its monotonic clock).</summary>
internal sealed class SimClock(Simulation sim) : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public TimeSpan Skew { get; set; }

    public override DateTimeOffset GetUtcNow() => Origin + sim.Elapsed + Skew;

    public override long GetTimestamp() => sim.Now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SimTimer(sim, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class SimTimer(Simulation sim, TimerCallback callback, object? state) : ITimer
    {
        private long _version;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var version = ++_version;
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return true;
            }

            void Fire()
            {
                if (version != _version)
                {
                    return;
                }

                callback(state);
                if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero && version == _version)
                {
                    sim.After(period, Fire);
                }
            }

            sim.After(dueTime, Fire);
            return true;
        }

        public void Dispose() => _version++;

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
