using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.LoadBalancer.Userspace.Proxy;

/// <summary>
/// One backend of a VIP as the proxy keeps it: its address, weight and node, the connections open to it, and its
/// passive health. Kept across table changes (a weight change is the same slot), shared by every worker thread:
/// counts are changed with Interlocked, the rest is read with Volatile.
/// </summary>
internal sealed class BackendSlot
{
    /// <summary>The first ejection after a failed connect lasts this long; each failure in a row doubles it.</summary>
    public const long BaseEjectionMs = 1_000;

    /// <summary>The longest ejection.</summary>
    public const long MaxEjectionMs = 30_000;

    private int _weight;
    private int _active;
    private int _failures;
    private long _ejectedUntil;
    private long _ejections;

    public BackendSlot(IPEndPoint endpoint, int weight, string node)
    {
        Endpoint = endpoint;
        SockAddr = Native.SockAddr(endpoint);
        Family = endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? Native.AF_INET6 : Native.AF_INET;
        _weight = weight;
        Node = node;
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>The native sockaddr to connect to.</summary>
    public byte[] SockAddr { get; }

    public int Family { get; }

    public int Weight
    {
        get => Volatile.Read(ref _weight);
        set => Volatile.Write(ref _weight, value);
    }

    public string Node { get; set; }

    /// <summary>Connections (or UDP flows) open to this backend through this node.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>Failed connects in a row.</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>How many times it was ejected.</summary>
    public long Ejections => Volatile.Read(ref _ejections);

    /// <summary>Until when (milliseconds of <see cref="Environment.TickCount64"/>) it gets no new connection, unless every backend is ejected.</summary>
    public long EjectedUntil => Volatile.Read(ref _ejectedUntil);

    public bool IsEjected(long now) => Volatile.Read(ref _ejectedUntil) > now;

    public void Acquire() => Interlocked.Increment(ref _active);

    public void Release() => Interlocked.Decrement(ref _active);

    /// <summary>A connect failed (refused, unreachable, timed out): ejected for 1 s, doubling with each failure in a row, at most 30 s.</summary>
    public void RecordFailure(long now)
    {
        var failures = Interlocked.Increment(ref _failures);
        var delay = Math.Min(BaseEjectionMs << Math.Min(failures - 1, 16), MaxEjectionMs);
        if (!IsEjected(now))
        {
            Interlocked.Increment(ref _ejections);
        }

        Volatile.Write(ref _ejectedUntil, now + delay);
    }

    /// <summary>A connect succeeded: healthy again.</summary>
    public void RecordSuccess()
    {
        if (Volatile.Read(ref _failures) != 0)
        {
            Volatile.Write(ref _failures, 0);
            Volatile.Write(ref _ejectedUntil, 0);
        }
    }
}

/// <summary>
/// The backends of one VIP at one moment (immutable; a table change makes a new pool of the same slots), and the choice
/// of a backend for a new connection: weighted power of two choices over least connections. Two backends are drawn at
/// random with probability proportional to their weight; the one with fewer open connections per unit of weight gets
/// the connection. Backends with weight 0 (draining) are never drawn; ejected ones only when every other is ejected
/// too (the proxy fails open the way the table does); backends already tried for this connection are skipped.
/// </summary>
internal sealed class BackendPool(BackendSlot[] slots)
{
    public static BackendPool Empty { get; } = new([]);

    public BackendSlot[] Slots { get; } = slots;

    /// <summary>Picks a backend; null when none may take a new connection.</summary>
    /// <param name="random">The worker's random source.</param>
    /// <param name="now">Now, in <see cref="Environment.TickCount64"/> milliseconds.</param>
    /// <param name="tried1">A backend already tried for this connection, or null.</param>
    /// <param name="tried2">Another, or null.</param>
    public BackendSlot? Pick(Random random, long now, BackendSlot? tried1 = null, BackendSlot? tried2 = null)
    {
        var slots = Slots;
        var total = 0L;
        var count = 0;
        var allowEjected = false;
        for (var pass = 0; pass < 2 && count == 0; pass++)
        {
            allowEjected = pass == 1;
            foreach (var slot in slots)
            {
                if (Eligible(slot, now, allowEjected, tried1, tried2))
                {
                    total += slot.Weight;
                    count++;
                }
            }
        }

        if (count == 0)
        {
            return null;
        }

        var a = Draw(random, total, now, allowEjected, tried1, tried2);
        if (count == 1 || a is null)
        {
            return a;
        }

        var b = Draw(random, total, now, allowEjected, tried1, tried2) ?? a;
        for (var i = 0; i < 2 && ReferenceEquals(a, b); i++)
        {
            b = Draw(random, total, now, allowEjected, tried1, tried2) ?? a;
        }

        // Fewer connections per unit of weight wins: a.Active / a.Weight <= b.Active / b.Weight, without division.
        return (long)a.Active * b.Weight <= (long)b.Active * a.Weight ? a : b;
    }

    private BackendSlot? Draw(Random random, long total, long now, bool allowEjected, BackendSlot? tried1, BackendSlot? tried2)
    {
        var target = random.NextInt64(total);
        BackendSlot? last = null;
        foreach (var slot in Slots)
        {
            if (!Eligible(slot, now, allowEjected, tried1, tried2))
            {
                continue;
            }

            last = slot;
            target -= slot.Weight;
            if (target < 0)
            {
                return slot;
            }
        }

        // Only if a weight changed since the candidates were counted (another thread applied a table change).
        return last;
    }

    private static bool Eligible(BackendSlot slot, long now, bool allowEjected, BackendSlot? tried1, BackendSlot? tried2) =>
        slot.Weight > 0 && !ReferenceEquals(slot, tried1) && !ReferenceEquals(slot, tried2) && (allowEjected || !slot.IsEjected(now));
}
