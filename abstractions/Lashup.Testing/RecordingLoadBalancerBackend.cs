using System.Collections.Immutable;
using Lashup.Abstractions.LoadBalancing;

namespace Lashup.Testing;

/// <summary>What a <see cref="RecordingLoadBalancerBackend"/> was asked to do.</summary>
public enum LoadBalancerCallKind
{
    /// <summary><see cref="ILoadBalancerBackend.EnsureSupportedAsync"/>.</summary>
    EnsureSupported,

    /// <summary><see cref="ILoadBalancerBackend.ApplyAsync"/>.</summary>
    Apply,

    /// <summary><see cref="ILoadBalancerBackend.ReconcileAsync"/>.</summary>
    Reconcile,

    /// <summary><see cref="ILoadBalancerBackend.ClearAsync"/>.</summary>
    Clear,
}

/// <summary>One call made to a <see cref="RecordingLoadBalancerBackend"/>.</summary>
/// <param name="Kind">Which call.</param>
/// <param name="Delta">The change, for <see cref="LoadBalancerCallKind.Apply"/>.</param>
/// <param name="Desired">The whole table, for <see cref="LoadBalancerCallKind.Reconcile"/>.</param>
/// <param name="Repairs">What a reconcile repaired (VIPs added, changed or removed).</param>
public sealed record LoadBalancerBackendCall(LoadBalancerCallKind Kind, LoadBalancerDelta? Delta, LoadBalancerTable? Desired, int Repairs);

/// <summary>
/// An <see cref="ILoadBalancerBackend"/> that programs nothing real: it records every call, keeps what it was told to
/// program (<see cref="Programmed"/>, its "kernel"), and lets a test make it drift (<see cref="Drift"/>), refuse a VIP
/// (<see cref="Refuse"/>) or be unsupported (<see cref="UnsupportedMessage"/>). A reconcile repairs the drift and counts it
/// like a real backend. Thread-safe.
/// </summary>
public sealed class RecordingLoadBalancerBackend : ILoadBalancerBackend
{
    private readonly Lock _lock = new();
    private readonly CallLog<LoadBalancerBackendCall> _log = new();
    private readonly Dictionary<VipKey, string> _refused = [];
    private LoadBalancerTable _programmed = LoadBalancerTable.Empty;

    /// <summary>Creates the backend.</summary>
    /// <param name="name">Its <see cref="Name"/>.</param>
    public RecordingLoadBalancerBackend(string name = "recording") => Name = name;

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public bool NeedsLocalAddresses { get; init; }

    /// <summary>When set, <see cref="EnsureSupportedAsync"/> throws <see cref="InvalidOperationException"/> with this message.</summary>
    public string? UnsupportedMessage { get; set; }

    /// <summary>Every call so far, in order.</summary>
    public IReadOnlyList<LoadBalancerBackendCall> Calls => _log.Calls;

    /// <summary>What the backend holds programmed now (after <see cref="Drift"/>, what the "kernel" holds).</summary>
    public LoadBalancerTable Programmed
    {
        get
        {
            lock (_lock)
            {
                return _programmed;
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask EnsureSupportedAsync(CancellationToken cancellationToken)
    {
        Record(new LoadBalancerBackendCall(LoadBalancerCallKind.EnsureSupported, null, null, 0));
        return UnsupportedMessage is { } message ? throw new InvalidOperationException(message) : ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask ApplyAsync(LoadBalancerDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        lock (_lock)
        {
            var vips = _programmed.Vips.RemoveRange(delta.Removed.IsDefault ? [] : delta.Removed);
            foreach (var entry in delta.Upserted.IsDefault ? [] : delta.Upserted)
            {
                vips = vips.SetItem(entry.Vip, entry);
            }

            _programmed = new LoadBalancerTable(vips);
            Record(new LoadBalancerBackendCall(LoadBalancerCallKind.Apply, delta, null, 0));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<int> ReconcileAsync(LoadBalancerTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        lock (_lock)
        {
            var drift = LoadBalancerDelta.Between(_programmed, desired);
            var repairs = drift.Upserted.Length + drift.Removed.Length;
            _programmed = desired;
            Record(new LoadBalancerBackendCall(LoadBalancerCallKind.Reconcile, null, desired, repairs));
            return ValueTask.FromResult(repairs);
        }
    }

    /// <inheritdoc/>
    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _programmed = LoadBalancerTable.Empty;
            Record(new LoadBalancerBackendCall(LoadBalancerCallKind.Clear, null, null, 0));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public VipProgramStatus? Describe(VipKey vip)
    {
        lock (_lock)
        {
            if (_refused.TryGetValue(vip, out var reason))
            {
                return VipProgramStatus.NotProgrammed(reason);
            }

            return _programmed.Vips.TryGetValue(vip, out var entry)
                ? new VipProgramStatus(true, null, [.. entry.Backends.Select(b => new BackendProgramStatus(b.Endpoint, b.Weight > 0, b.Weight > 0 ? null : "draining", null))])
                : null;
        }
    }

    /// <summary>Changes what the "kernel" holds behind the load balancer's back (an operator's edit, a crash).</summary>
    /// <param name="change">From the programmed table to the drifted one.</param>
    public void Drift(Func<LoadBalancerTable, LoadBalancerTable> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_lock)
        {
            _programmed = change(_programmed);
        }
    }

    /// <summary>Makes <see cref="Describe"/> report <paramref name="vip"/> as not programmed, for <paramref name="reason"/> (null: programmed again).</summary>
    /// <param name="vip">The VIP.</param>
    /// <param name="reason">Why, or null.</param>
    public void Refuse(VipKey vip, string? reason)
    {
        lock (_lock)
        {
            if (reason is null)
            {
                _refused.Remove(vip);
            }
            else
            {
                _refused[vip] = reason;
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, checking after every call; false if <paramref name="timeout"/> passes first.</summary>
    /// <param name="condition">What to wait for (called with this backend).</param>
    /// <param name="timeout">How long at most.</param>
    /// <returns>Whether the condition held in time.</returns>
    public Task<bool> WaitUntilAsync(Func<RecordingLoadBalancerBackend, bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return _log.WaitUntilAsync(() => condition(this), timeout);
    }

    /// <summary>The calls of one kind so far.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Those calls, in order.</returns>
    public ImmutableArray<LoadBalancerBackendCall> CallsOf(LoadBalancerCallKind kind) => [.. Calls.Where(c => c.Kind == kind)];

    private void Record(LoadBalancerBackendCall call) => _log.Record(call);
}
