// Why this is hand-written: .NET's Socket has no batched datagram I/O. One ReceiveFrom and one SendTo per query is two
// system calls per query, which is most of the cost of an answer from memory; nsd and knot read and write up to dozens
// of datagrams per call with recvmmsg(2)/sendmmsg(2). This calls them directly on the socket's descriptor, with
// buffers allocated once, pinned, per worker thread. Linux on 64-bit only (the struct layouts below are LP64);
// elsewhere the server uses plain ReceiveFrom/SendTo.
using System.Runtime.InteropServices;

namespace Lashup.Plugins.Dns.Server;

/// <summary>
/// Up to <see cref="Capacity"/> datagrams received with one <c>recvmmsg</c> and their responses sent with one
/// <c>sendmmsg</c>. One instance per worker thread; not thread-safe.
/// </summary>
internal sealed unsafe partial class UdpBatch : IDisposable
{
    /// <summary>The largest query accepted over UDP; a longer one arrives cut (MSG_TRUNC) and is dropped.</summary>
    public const int MaxQuerySize = 4096;

    private const int AddressSize = 128; // sizeof(struct sockaddr_storage)
    private const int MsgWaitForOne = 0x10000;
    private const int MsgTrunc = 0x20;
    private const int EAGAIN = 11;
    private const int EINTR = 4;

    private readonly int _responseSize;
    private readonly byte* _receive;
    private readonly byte* _send;
    private readonly byte* _addresses;
    private readonly MMsgHdr* _receiveHeaders;
    private readonly MMsgHdr* _sendHeaders;
    private readonly IoVec* _receiveVectors;
    private readonly IoVec* _sendVectors;
    private int _pending;

    public UdpBatch(int capacity, int responseSize)
    {
        Capacity = capacity;
        _responseSize = responseSize;
        _receive = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * MaxQuerySize), 64);
        _send = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * responseSize), 64);
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * AddressSize));
        _receiveHeaders = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(MMsgHdr)));
        _sendHeaders = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(MMsgHdr)));
        _receiveVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(IoVec)));
        _sendVectors = (IoVec*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(IoVec)));
        for (var i = 0; i < capacity; i++)
        {
            _receiveVectors[i] = new IoVec { Base = _receive + (i * MaxQuerySize), Length = MaxQuerySize };
            _sendVectors[i].Base = _send + (i * responseSize);
        }
    }

    /// <summary>Whether this platform has recvmmsg/sendmmsg with the layouts used here.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    public int Capacity { get; }

    /// <summary>
    /// Waits (up to the socket's receive timeout) for at least one datagram and takes every one already queued, up to
    /// <see cref="Capacity"/>. Returns how many arrived: 0 on timeout or interruption; -1 with <paramref name="errno"/> on error.
    /// </summary>
    public int Receive(int descriptor, out int errno)
    {
        for (var i = 0; i < Capacity; i++)
        {
            ref var header = ref _receiveHeaders[i].Header;
            header.Name = _addresses + (i * AddressSize);
            header.NameLength = AddressSize;
            header.Iov = _receiveVectors + i;
            header.IovLength = 1;
            header.Flags = 0;
        }

        _pending = 0;
        var received = RecvMMsg(descriptor, _receiveHeaders, (uint)Capacity, MsgWaitForOne, IntPtr.Zero);
        errno = 0;
        if (received < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return errno is EAGAIN or EINTR ? 0 : -1;
        }

        return received;
    }

    /// <summary>The query of datagram <paramref name="index"/>; empty if it was cut (longer than <see cref="MaxQuerySize"/>).</summary>
    public ReadOnlySpan<byte> Query(int index) =>
        (_receiveHeaders[index].Header.Flags & MsgTrunc) != 0
            ? default
            : new ReadOnlySpan<byte>(_receive + (index * MaxQuerySize), (int)_receiveHeaders[index].Length);

    /// <summary>The sender of datagram <paramref name="index"/>: a raw <c>sockaddr</c>.</summary>
    public ReadOnlySpan<byte> Address(int index) =>
        new(_addresses + (index * AddressSize), (int)_receiveHeaders[index].Header.NameLength);

    /// <summary>The buffer to write the response to datagram <paramref name="index"/> into.</summary>
    public Span<byte> Response(int index) => new(_send + (index * _responseSize), _responseSize);

    /// <summary>Queues the response to datagram <paramref name="index"/> (of <paramref name="length"/> octets) for <see cref="Send"/>.</summary>
    public void Reply(int index, int length)
    {
        var slot = _pending++;
        _sendVectors[slot] = new IoVec { Base = _send + (index * _responseSize), Length = (nuint)length };
        ref var header = ref _sendHeaders[slot].Header;
        header.Name = _addresses + (index * AddressSize);
        header.NameLength = _receiveHeaders[index].Header.NameLength;
        header.Iov = _sendVectors + slot;
        header.IovLength = 1;
    }

    /// <summary>Sends every queued response; a datagram the kernel refuses (full buffer, unreachable) is skipped, as UDP allows.</summary>
    public int Send(int descriptor)
    {
        var sent = 0;
        while (sent < _pending)
        {
            var n = SendMMsg(descriptor, _sendHeaders + sent, (uint)(_pending - sent), 0);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR)
                {
                    continue;
                }

                sent++; // the first of the rest failed: drop it, go on with the others
                continue;
            }

            sent += n;
        }

        var count = _pending;
        _pending = 0;
        return count;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_receive);
        NativeMemory.AlignedFree(_send);
        NativeMemory.Free(_addresses);
        NativeMemory.Free(_receiveHeaders);
        NativeMemory.Free(_sendHeaders);
        NativeMemory.Free(_receiveVectors);
        NativeMemory.Free(_sendVectors);
    }

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, IntPtr timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c> (LP64).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary><c>struct mmsghdr</c>: a message and the octets received or sent.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }
}
