namespace Lashup.Testing;

/// <summary>
/// The calls a recording fake received, in order, and a wait for a condition checked after every call (the recording
/// backends share it). Thread-safe.
/// </summary>
/// <typeparam name="TCall">What a call is recorded as.</typeparam>
internal sealed class CallLog<TCall>
{
    private readonly Lock _lock = new();
    private readonly List<TCall> _calls = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Every call so far, in order.</summary>
    public IReadOnlyList<TCall> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    /// <summary>Records <paramref name="call"/> and wakes the waits.</summary>
    public void Record(TCall call)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            _calls.Add(call);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    /// <summary>Waits until <paramref name="condition"/> holds, checking after every call; false if <paramref name="timeout"/> passes first.</summary>
    public async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
            }

            if (condition())
            {
                return true;
            }

            try
            {
                await changed.WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return condition();
            }
        }
    }
}
