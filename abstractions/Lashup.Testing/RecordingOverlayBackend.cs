using System.Collections.Immutable;
using Lashup.Abstractions.Overlay;

namespace Lashup.Testing;

/// <summary>What a <see cref="RecordingOverlayBackend"/> was asked to do.</summary>
public enum OverlayCallKind
{
    /// <summary><see cref="IOverlayBackend.EnsureSupportedAsync"/>.</summary>
    EnsureSupported,

    /// <summary><see cref="IOverlayBackend.ApplyAsync"/>.</summary>
    Apply,

    /// <summary><see cref="IOverlayBackend.ReconcileAsync"/>.</summary>
    Reconcile,

    /// <summary><see cref="IOverlayBackend.ClearAsync"/>.</summary>
    Clear,
}

/// <summary>One call made to a <see cref="RecordingOverlayBackend"/>.</summary>
/// <param name="Kind">Which call.</param>
/// <param name="Delta">The change, for <see cref="OverlayCallKind.Apply"/>.</param>
/// <param name="Desired">The whole table, for <see cref="OverlayCallKind.Reconcile"/>.</param>
/// <param name="Repairs">What a reconcile repaired.</param>
public sealed record OverlayBackendCall(OverlayCallKind Kind, OverlayDelta? Delta, OverlayTable? Desired, int Repairs);

/// <summary>
/// An <see cref="IOverlayBackend"/> that programs nothing real: it records every call, keeps what it was told to
/// program (<see cref="Programmed"/>, its "kernel"), and lets a test make it drift (<see cref="Drift"/>), refuse a peer
/// (<see cref="Refuse"/>) or be unsupported (<see cref="UnsupportedMessage"/>). A reconcile repairs the drift and counts
/// it like a real backend. Thread-safe.
/// </summary>
public sealed class RecordingOverlayBackend : IOverlayBackend
{
    private readonly Lock _lock = new();
    private readonly CallLog<OverlayBackendCall> _log = new();
    private readonly Dictionary<string, string> _refused = new(StringComparer.Ordinal);
    private OverlayTable _programmed = OverlayTable.Empty;
    private bool _reconciled;

    /// <summary>Creates the backend.</summary>
    /// <param name="name">Its <see cref="Name"/>.</param>
    /// <param name="mtu">What <see cref="MtuFor"/> answers.</param>
    public RecordingOverlayBackend(string name = "recording", int mtu = 1450)
    {
        Name = name;
        Mtu = mtu;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>What <see cref="MtuFor"/> answers.</summary>
    public int Mtu { get; }

    /// <summary>When set, <see cref="EnsureSupportedAsync"/> throws <see cref="InvalidOperationException"/> with this message.</summary>
    public string? UnsupportedMessage { get; set; }

    /// <summary>When set, the next <see cref="ApplyAsync"/> or <see cref="ReconcileAsync"/> throws <see cref="InvalidOperationException"/> with this message (once).</summary>
    public string? FailNext { get; set; }

    /// <summary>Every call so far, in order.</summary>
    public IReadOnlyList<OverlayBackendCall> Calls => _log.Calls;

    /// <summary>What the backend holds programmed now (after <see cref="Drift"/>, what the "kernel" holds).</summary>
    public OverlayTable Programmed
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
        Record(new OverlayBackendCall(OverlayCallKind.EnsureSupported, null, null, 0));
        return UnsupportedMessage is { } message ? throw new InvalidOperationException(message) : ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public int MtuFor(OverlayLocal local) => Mtu;

    /// <inheritdoc/>
    public ValueTask ApplyAsync(OverlayDelta delta, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delta);
        lock (_lock)
        {
            ThrowIfFailing();
            var peers = _programmed.Peers.RemoveRange(delta.Removed.IsDefault ? [] : delta.Removed);
            foreach (var peer in delta.Upserted.IsDefault ? [] : delta.Upserted)
            {
                peers = peers.SetItem(peer.Node, peer);
            }

            _programmed = new OverlayTable(delta.LocalChanged ? delta.Table.Local : _programmed.Local, peers);
            Record(new OverlayBackendCall(OverlayCallKind.Apply, delta, null, 0));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<int> ReconcileAsync(OverlayTable desired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(desired);
        lock (_lock)
        {
            ThrowIfFailing();
            var drift = OverlayDelta.Between(_programmed, desired);
            var repairs = drift.Upserted.Length + drift.Removed.Length + (drift.LocalChanged ? 1 : 0);
            _programmed = desired;
            _reconciled = true;
            Record(new OverlayBackendCall(OverlayCallKind.Reconcile, null, desired, repairs));
            return ValueTask.FromResult(repairs);
        }
    }

    /// <inheritdoc/>
    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _programmed = OverlayTable.Empty;
            Record(new OverlayBackendCall(OverlayCallKind.Clear, null, null, 0));
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public OverlayProgramStatus? Describe(string node)
    {
        lock (_lock)
        {
            return _refused.TryGetValue(node, out var reason) ? OverlayProgramStatus.Refused(reason)
                : _programmed.Peers.ContainsKey(node) ? OverlayProgramStatus.Ok
                : null;
        }
    }

    /// <inheritdoc/>
    public OverlayProgramStatus? DescribeLocal()
    {
        lock (_lock)
        {
            return !_reconciled ? null : _programmed.Local is null ? OverlayProgramStatus.Refused("no subnet") : OverlayProgramStatus.Ok;
        }
    }

    /// <summary>Changes what the "kernel" holds behind the overlay's back (an operator's edit, a crash).</summary>
    /// <param name="change">From the programmed table to the drifted one.</param>
    public void Drift(Func<OverlayTable, OverlayTable> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_lock)
        {
            _programmed = change(_programmed);
        }
    }

    /// <summary>Makes <see cref="Describe"/> report <paramref name="node"/> as refused, for <paramref name="reason"/> (null: programmed again).</summary>
    /// <param name="node">The peer.</param>
    /// <param name="reason">Why, or null.</param>
    public void Refuse(string node, string? reason)
    {
        lock (_lock)
        {
            if (reason is null)
            {
                _refused.Remove(node);
            }
            else
            {
                _refused[node] = reason;
            }
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds, checking after every call; false if <paramref name="timeout"/> passes first.</summary>
    /// <param name="condition">What to wait for (called with this backend).</param>
    /// <param name="timeout">How long at most.</param>
    /// <returns>Whether the condition held in time.</returns>
    public Task<bool> WaitUntilAsync(Func<RecordingOverlayBackend, bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return _log.WaitUntilAsync(() => condition(this), timeout);
    }

    /// <summary>The calls of one kind so far.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Those calls, in order.</returns>
    public ImmutableArray<OverlayBackendCall> CallsOf(OverlayCallKind kind) => [.. Calls.Where(c => c.Kind == kind)];

    private void ThrowIfFailing()
    {
        if (FailNext is { } failure)
        {
            FailNext = null;
            throw new InvalidOperationException(failure);
        }
    }

    private void Record(OverlayBackendCall call) => _log.Record(call);
}
