namespace Lashup.Plugins.Core.Protocol;

/// <summary>
/// Replay windows by sender name. A member of the member graph keeps its window while it is a member (their number is
/// the cluster's, and the window starts at the epoch of its record); any other name (a joiner whose record has not
/// arrived, or a name made up by a flood) gets one in an LRU of <c>strangerCapacity</c>, so a flood of made-up names
/// only evicts made-up names. A plaintext flood of 100,000 such names used to leave 100,000 windows (+82 MiB, kept).
/// An evicted stranger's replays are accepted once more (its window starts afresh): with a keyring only key holders
/// produce frames, and members are never evicted. A stranger's epoch is its first frame's say-so; when it becomes a
/// member the window moves to its record's epoch (<see cref="SequenceWindow.Confirm"/>), even below that first frame.
/// </summary>
internal sealed class SenderWindows(int strangerCapacity)
{
    private readonly Dictionary<string, SequenceWindow> _members = new(StringComparer.Ordinal);
    private readonly BoundedLru<string, SequenceWindow> _strangers = new(strangerCapacity, StringComparer.Ordinal);

    public int Count => _members.Count + _strangers.Count;

    public int StrangerCount => _strangers.Count;

    /// <summary>
    /// The window of <paramref name="name"/>; <paramref name="memberEpoch"/> is the epoch of its member-graph record,
    /// or null if it has none.
    /// </summary>
    public SequenceWindow Get(string name, long? memberEpoch)
    {
        if (_members.TryGetValue(name, out var window))
        {
            return window;
        }

        if (memberEpoch is not { } epoch)
        {
            if (!_strangers.TryGetValue(name, out window))
            {
                window = new SequenceWindow();
                _strangers.Set(name, window);
            }

            return window;
        }

        if (!_strangers.Remove(name, out window))
        {
            window = new SequenceWindow();
        }

        window.Confirm(epoch);
        _members[name] = window;
        return window;
    }

    /// <summary>The member is at <paramref name="epoch"/> now (its record at that epoch was believed).</summary>
    public void Confirm(string name, long epoch)
    {
        if (_members.TryGetValue(name, out var window) || _strangers.TryGetValue(name, out window))
        {
            window.Confirm(epoch);
        }
    }

    /// <summary>The epoch member <paramref name="name"/>'s frames are checked against, if it has a window.</summary>
    public long? EpochOf(string name) => _members.TryGetValue(name, out var window) ? window.Epoch : null;

    /// <summary>The member itself answered at <paramref name="epoch"/>, below what we believed.</summary>
    public void Restart(string name, long epoch)
    {
        if (_members.TryGetValue(name, out var window) || _strangers.TryGetValue(name, out window))
        {
            window.Restart(epoch);
        }
    }

    public void Remove(string name)
    {
        _members.Remove(name);
        _strangers.Remove(name, out _);
    }
}
