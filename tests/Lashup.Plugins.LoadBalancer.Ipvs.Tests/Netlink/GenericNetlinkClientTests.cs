using System.Buffers.Binary;
using Lashup.Netlink;
using Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Tests.Netlink;

/// <summary>
/// Replies the kernel should never send, or that arrive broken: every one is a clear <see cref="NetlinkException"/>,
/// none reads past what was received or allocates by a length it was told.
/// </summary>
public sealed class GenericNetlinkClientTests
{
    private const ushort Family = 0x2a;

    [Fact]
    public void Execute_Ack_Returns()
    {
        using var client = Client(Ack(1));

        client.Execute("TEST", Request(), Family);
    }

    [Fact]
    public void Execute_DatagramLargerThanBuffer_ClearError()
    {
        var huge = new byte[GenericNetlinkClient.ReceiveBufferSize + 100];
        BinaryPrimitives.WriteUInt32LittleEndian(huge, (uint)huge.Length);
        using var client = Client(huge);

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal($"TEST: a reply of {huge.Length} bytes does not fit the 65536-byte receive buffer", e.Message);
    }

    [Fact]
    public void Execute_MessageLengthPastDatagram_ClearError()
    {
        var ack = Ack(1);
        BinaryPrimitives.WriteUInt32LittleEndian(ack, uint.MaxValue); // a length that would overflow any int arithmetic
        using var client = Client(ack);

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal($"TEST: a netlink message says {uint.MaxValue} bytes, {ack.Length} were received", e.Message);
    }

    [Fact]
    public void Execute_ShorterThanHeader_ClearError()
    {
        using var client = Client([1, 2, 3, 4, 5, 6, 7, 8]);

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal("TEST: a truncated netlink message (8 bytes, less than a header)", e.Message);
    }

    [Fact]
    public void Dump_TruncatedAttribute_ClearError()
    {
        // One dump message whose only attribute says 200 bytes where 8 follow.
        var message = Message(Family, 2, 1, [1, 1, 0, 0, 200, 0, 1, 0, 0, 0, 0, 0]);
        using var client = Client(message, Done(1));

        var e = Assert.Throws<NetlinkException>(() => client.Dump("TEST", Request(dump: true), Family));

        Assert.Equal("malformed netlink reply: attribute 1 of TEST says 200 bytes, 8 are left", e.Message);
    }

    [Fact]
    public void Execute_LateReplyToEarlierRequest_Skipped()
    {
        // Sequence 1 timed out; its answer arrives while request 2 waits.
        using var client = Client(Error(1, -17), Ack(2));

        client.Execute("TEST", Request(), Family, sequenceOffset: true);
    }

    [Fact]
    public void Execute_ReplyAheadOfRequest_ClearError()
    {
        using var client = Client(Ack(9));

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal("TEST: a reply numbered 9, ahead of the request's 1", e.Message);
    }

    [Fact]
    public void Execute_NegativeErrno_ThrownWithName()
    {
        using var client = Client(Error(1, -1));

        var e = Assert.Throws<NetlinkException>(() => client.Execute("IPVS_CMD_NEW_SERVICE tcp/10.0.0.1:80", Request(), Family));

        Assert.Equal("IPVS_CMD_NEW_SERVICE tcp/10.0.0.1:80: EPERM (Operation not permitted)", e.Message);
        Assert.Equal(1, e.Errno);
    }

    [Fact]
    public void Execute_ExtendedAck_KernelTextIncluded()
    {
        // NLMSG_ERROR with NLM_F_CAPPED | NLM_F_ACK_TLVS: error, the request's header, then NLMSGERR_ATTR_MSG.
        byte[] text = [.. "bad attr"u8, 0];
        var attribute = new byte[(4 + text.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(attribute, (ushort)(4 + text.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(attribute.AsSpan(2), 1);
        text.CopyTo(attribute, 4);
        var echo = Request().Finish(1).AsSpan(0, 16).ToArray();
        using var client = Client(Message(2, 0x300, 1, [.. BitConverter.GetBytes(-22), .. echo, .. attribute]));

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal("TEST: EINVAL (Invalid argument): \"bad attr\"", e.Message);
    }

    [Fact]
    public void Dump_DoneWithError_Thrown()
    {
        using var client = Client(Message(3, 2, 1, BitConverter.GetBytes(-16)));

        var e = Assert.Throws<NetlinkException>(() => client.Dump("TEST", Request(dump: true), Family));

        Assert.Equal("TEST: the dump failed: EBUSY (Device or resource busy)", e.Message);
    }

    [Fact]
    public void Dump_MessageOfAnotherFamily_ClearError()
    {
        using var client = Client(Message(0x33, 2, 1, [1, 1, 0, 0]), Done(1));

        var e = Assert.Throws<NetlinkException>(() => client.Dump("TEST", Request(dump: true), Family));

        Assert.Equal("TEST: a reply of netlink type 51, expected family 42", e.Message);
    }

    [Fact]
    public void Execute_NoAnswer_TimeoutFromSocket()
    {
        using var client = Client();

        var e = Assert.Throws<NetlinkException>(() => client.Execute("TEST", Request(), Family));

        Assert.Equal(Errno.ETIMEDOUT, e.Errno);
    }

    private static NetlinkMessageWriter Request(bool dump = false) =>
        GenericNetlinkClient.Request(Family, (ushort)(NetlinkWire.NLM_F_REQUEST | (dump ? NetlinkWire.NLM_F_DUMP : NetlinkWire.NLM_F_ACK)), 1, 1);

    private static ScriptedClient Client(params byte[][] datagrams) => new(datagrams);

    private static byte[] Ack(uint sequence) => Error(sequence, 0);

    private static byte[] Error(uint sequence, int error) => Message(2, 0x100, sequence, [.. BitConverter.GetBytes(error), .. new byte[16]]);

    private static byte[] Done(uint sequence) => Message(3, 2, sequence, BitConverter.GetBytes(0));

    private static byte[] Message(ushort type, ushort flags, uint sequence, byte[] payload)
    {
        var message = new byte[16 + ((payload.Length + 3) & ~3)];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(16 + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        payload.CopyTo(message, 16);
        return message;
    }

    /// <summary>A client over a socket that answers every request with the next scripted datagrams.</summary>
    private sealed class ScriptedClient(byte[][] datagrams) : IDisposable
    {
        private readonly Socket _socket = new(datagrams);
        private GenericNetlinkClient? _client;

        public void Execute(string what, NetlinkMessageWriter request, ushort family, bool sequenceOffset = false)
        {
            _client ??= new GenericNetlinkClient(_socket, firstSequence: sequenceOffset ? 1u : 0u);
            _client.Execute(what, request, family);
        }

        public List<GenericNetlinkMessage> Dump(string what, NetlinkMessageWriter request, ushort family)
        {
            _client ??= new GenericNetlinkClient(_socket);
            return _client.Dump(what, request, family);
        }

        public void Dispose() => _socket.Dispose();

        private sealed class Socket(byte[][] datagrams) : INetlinkSocket
        {
            private readonly Queue<byte[]> _datagrams = new(datagrams);

            public void Send(ReadOnlySpan<byte> request) => Assert.True(request.Length >= 20);

            public int Receive(Span<byte> buffer)
            {
                if (!_datagrams.TryDequeue(out var datagram))
                {
                    throw new NetlinkException("the kernel did not answer in time (netlink receive timed out)", Errno.ETIMEDOUT);
                }

                datagram.AsSpan(0, Math.Min(datagram.Length, buffer.Length)).CopyTo(buffer);
                return datagram.Length;
            }

            public void Dispose()
            {
            }
        }
    }
}
