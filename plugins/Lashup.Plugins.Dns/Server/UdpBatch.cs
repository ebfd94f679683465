// Why this is hand-written: .NET's Socket has no batched datagram I/O. One ReceiveFrom and one SendTo per query is two
// system calls per query, which is most of the cost of an answer from memory; nsd and knot read and write up to dozens
// of datagrams per call with recvmmsg(2)/sendmmsg(2). This calls them directly on the socket's descriptor, with
// buffers allocated once, pinned, per worker thread. Linux on 64-bit only (the struct layouts below are LP64);
// elsewhere the server uses plain ReceiveFrom/SendTo.
// Bound to a wildcard address (0.0.0.0 or ::), a UDP socket's replies would leave from whatever address the routing
// table picks, and a client that asked another of the host's addresses drops them ("reply from unexpected source").
// So on a wildcard socket each datagram's destination comes with it (IP_PKTINFO / IPV6_PKTINFO control messages), and
// the reply names it as its source: what nsd, knot and CoreDNS do. .NET's ReceiveMessageFrom reports the destination
// but no Socket API sends from a chosen source address; sendmsg with the control message does.
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

    /// <summary>Room for one control message of either family (<c>CMSG_SPACE</c> of in6_pktinfo is 40).</summary>
    public const int ControlSize = 64;

    private const int CmsgHeaderSize = 16; // struct cmsghdr (LP64): size_t len, int level, int type
    private const int IpProtocolIp = 0;
    private const int IpPktInfo = 8;
    private const int IpProtocolIpv6 = 41;
    private const int Ipv6PktInfo = 50;

    private readonly int _responseSize;
    private readonly byte* _receive;
    private readonly byte* _send;
    private readonly byte* _addresses;
    private readonly MMsgHdr* _receiveHeaders;
    private readonly MMsgHdr* _sendHeaders;
    private readonly IoVec* _receiveVectors;
    private readonly IoVec* _sendVectors;
    private readonly byte* _receiveControl;
    private readonly byte* _sendControl;
    private readonly bool _packetInfo;
    private int _pending;

    /// <param name="capacity">Datagrams per call.</param>
    /// <param name="responseSize">The largest response.</param>
    /// <param name="packetInfo">
    /// Whether the socket is bound to a wildcard address and has IP_PKTINFO (or IPV6_RECVPKTINFO) set: replies are then
    /// sent from the address each query was sent to.
    /// </param>
    public UdpBatch(int capacity, int responseSize, bool packetInfo = false)
    {
        Capacity = capacity;
        _responseSize = responseSize;
        _packetInfo = packetInfo;
        _receiveControl = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * ControlSize));
        _sendControl = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * ControlSize));
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
            header.Control = _packetInfo ? _receiveControl + (i * ControlSize) : null;
            header.ControlLength = _packetInfo ? (nuint)ControlSize : 0;
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
        var control = new Span<byte>(_sendControl + (slot * ControlSize), ControlSize);
        var controlLength = _packetInfo ? ReplyControl(ReceivedControl(index), control) : 0;
        header.Control = controlLength > 0 ? _sendControl + (slot * ControlSize) : null;
        header.ControlLength = (nuint)controlLength;
    }

    /// <summary>
    /// The control message that makes the reply to datagram <paramref name="index"/> leave from the address it was
    /// sent to, written into <paramref name="control"/> (at least <see cref="ControlSize"/> octets); its length, 0 when
    /// the socket does not report destinations.
    /// </summary>
    public int ReplyControl(int index, Span<byte> control) => _packetInfo ? ReplyControl(ReceivedControl(index), control) : 0;

    private ReadOnlySpan<byte> ReceivedControl(int index) =>
        new(_receiveControl + (index * ControlSize), (int)Math.Min(_receiveHeaders[index].Header.ControlLength, ControlSize));

    /// <summary>
    /// Turns the control messages received with a datagram into the one to send its reply with: IP_PKTINFO with the
    /// local address the kernel reports for it (<c>ipi_spec_dst</c>: the query's destination for unicast, the
    /// receiving interface's address for a broadcast, which is no valid source) and no interface (the routing table
    /// chooses), or IPV6_PKTINFO with the destination and the interface it came in on (which a link-local address
    /// needs). Returns its length, 0 when there is none or the destination was multicast (the kernel then picks the
    /// source).
    /// </summary>
    public static int ReplyControl(ReadOnlySpan<byte> received, Span<byte> reply)
    {
        var offset = 0;
        while (offset + CmsgHeaderSize <= received.Length)
        {
            var length = (int)Math.Min(MemoryMarshal.Read<ulong>(received[offset..]), int.MaxValue);
            if (length < CmsgHeaderSize || offset + length > received.Length)
            {
                return 0;
            }

            var level = MemoryMarshal.Read<int>(received[(offset + 8)..]);
            var type = MemoryMarshal.Read<int>(received[(offset + 12)..]);
            var data = received.Slice(offset + CmsgHeaderSize, length - CmsgHeaderSize);
            if (level == IpProtocolIp && type == IpPktInfo && data.Length >= 12)
            {
                // struct in_pktinfo { int ipi_ifindex; struct in_addr ipi_spec_dst; struct in_addr ipi_addr; }
                reply[..32].Clear();
                WriteHeader(reply, CmsgHeaderSize + 12, IpProtocolIp, IpPktInfo);
                data.Slice(4, 4).CopyTo(reply[(CmsgHeaderSize + 4)..]);
                return 32;
            }

            if (level == IpProtocolIpv6 && type == Ipv6PktInfo && data.Length >= 20)
            {
                if (data[0] == 0xFF)
                {
                    return 0; // a multicast destination is no source address
                }

                // struct in6_pktinfo { struct in6_addr ipi6_addr; unsigned int ipi6_ifindex; }
                reply[..40].Clear();
                WriteHeader(reply, CmsgHeaderSize + 20, IpProtocolIpv6, Ipv6PktInfo);
                data[..20].CopyTo(reply[CmsgHeaderSize..]);
                return 40;
            }

            offset += (length + 7) & ~7; // CMSG_ALIGN
        }

        return 0;
    }

    private static void WriteHeader(Span<byte> control, int length, int level, int type)
    {
        MemoryMarshal.Write(control, (ulong)length);
        MemoryMarshal.Write(control[8..], level);
        MemoryMarshal.Write(control[12..], type);
    }

    /// <summary>Sends one datagram to <paramref name="address"/> (a raw sockaddr) with a control message (see <see cref="ReplyControl(int, Span{byte})"/>).</summary>
    /// <returns>Whether the kernel took it; if not, <paramref name="errno"/> says why.</returns>
    public static bool SendTo(int descriptor, ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> address, ReadOnlySpan<byte> control, out int errno)
    {
        errno = 0;
        fixed (byte* data = datagram)
        fixed (byte* name = address)
        fixed (byte* cmsg = control)
        {
            var vector = new IoVec { Base = data, Length = (nuint)datagram.Length };
            var header = new MsgHdr
            {
                Name = name,
                NameLength = (uint)address.Length,
                Iov = &vector,
                IovLength = 1,
                Control = control.IsEmpty ? null : cmsg,
                ControlLength = (nuint)control.Length,
            };
            int sent;
            do
            {
                sent = SendMsg(descriptor, &header, 0);
            }
            while (sent < 0 && (errno = Marshal.GetLastPInvokeError()) == EINTR);
            return sent >= 0;
        }
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
        NativeMemory.Free(_receiveControl);
        NativeMemory.Free(_sendControl);
    }

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, IntPtr timeout);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial int SendMsg(int fd, MsgHdr* message, int flags);

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
