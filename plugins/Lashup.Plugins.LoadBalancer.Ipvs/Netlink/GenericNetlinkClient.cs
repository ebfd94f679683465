using System.Buffers.Binary;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

/// <summary>One message of a generic netlink reply: the family's command and its top-level attributes.</summary>
internal sealed record GenericNetlinkMessage(byte Command, byte Version, NetlinkAttributes Attributes);

/// <summary>
/// Generic netlink requests over one <see cref="IGenericNetlinkSocket"/>: resolves a family's id through the controller
/// (nlctrl), sends a request and reads its acknowledgement (<see cref="Execute"/>) or its dump (<see cref="Dump"/>).
/// Every request gets the next sequence number; replies to earlier requests (one that timed out) are skipped, a reply
/// numbered ahead of the request is an error. Receives use one fixed buffer: a datagram larger than it, a message or
/// attribute whose length runs past the bytes received, or a dump longer than <see cref="MaxDumpMessages"/> is a
/// <see cref="NetlinkException"/>, never a larger allocation. Not thread-safe (the backend's calls never overlap).
/// </summary>
internal sealed class GenericNetlinkClient : IDisposable
{
    /// <summary>The receive buffer: the kernel's dump datagrams are at most 32 KiB (netlink_dump), its acks far less.</summary>
    public const int ReceiveBufferSize = 64 * 1024;

    /// <summary>A dump longer than this many messages is refused (each IPVS service or destination is one).</summary>
    public const int MaxDumpMessages = 1 << 20;

    private readonly IGenericNetlinkSocket _socket;
    private readonly byte[] _buffer = new byte[ReceiveBufferSize];
    private uint _sequence;

    public GenericNetlinkClient(IGenericNetlinkSocket socket, uint firstSequence = 0)
    {
        _socket = socket;
        _sequence = firstSequence;
    }

    /// <summary>The family id of generic netlink family <paramref name="name"/> (CTRL_CMD_GETFAMILY).</summary>
    /// <exception cref="NetlinkException">Unknown family (errno ENOENT), or the call failed.</exception>
    public ushort ResolveFamily(string name)
    {
        var request = new NetlinkMessageWriter(NetlinkWire.GENL_ID_CTRL, NetlinkWire.NLM_F_REQUEST | NetlinkWire.NLM_F_ACK, NetlinkWire.CTRL_CMD_GETFAMILY, NetlinkWire.CTRL_VERSION)
            .PutString(NetlinkWire.CTRL_ATTR_FAMILY_NAME, name);
        var replies = Call($"CTRL_CMD_GETFAMILY {name}", request, dump: false, NetlinkWire.GENL_ID_CTRL);
        foreach (var reply in replies)
        {
            if (reply.Attributes.U16(NetlinkWire.CTRL_ATTR_FAMILY_ID) is { } id)
            {
                return id;
            }
        }

        throw new NetlinkException($"CTRL_CMD_GETFAMILY {name}: the reply has no CTRL_ATTR_FAMILY_ID");
    }

    /// <summary>Sends a request with NLM_F_ACK and waits for its acknowledgement.</summary>
    /// <param name="what">The command, for errors (<c>IPVS_CMD_NEW_SERVICE tcp/10.0.0.1:80</c>).</param>
    /// <param name="request">The request (its flags must include NLM_F_REQUEST | NLM_F_ACK).</param>
    /// <param name="family">The family the replies come from.</param>
    /// <exception cref="NetlinkException">The kernel refused it (errno set), or the reply could not be read.</exception>
    public void Execute(string what, NetlinkMessageWriter request, ushort family) => Call(what, request, dump: false, family);

    /// <summary>Sends a dump request (NLM_F_DUMP) and returns every message until NLMSG_DONE.</summary>
    public List<GenericNetlinkMessage> Dump(string what, NetlinkMessageWriter request, ushort family) => Call(what, request, dump: true, family);

    public void Dispose() => _socket.Dispose();

    private List<GenericNetlinkMessage> Call(string what, NetlinkMessageWriter request, bool dump, ushort family)
    {
        var sequence = ++_sequence;
        if (sequence == 0)
        {
            sequence = _sequence = 1;
        }

        _socket.Send(request.Finish(sequence));
        var messages = new List<GenericNetlinkMessage>();
        while (true)
        {
            var length = _socket.Receive(_buffer);
            if (length > _buffer.Length)
            {
                throw new NetlinkException($"{what}: a reply of {length} bytes does not fit the {_buffer.Length}-byte receive buffer");
            }

            var offset = 0;
            while (offset < length)
            {
                var span = _buffer.AsSpan(offset, length - offset);
                if (span.Length < NetlinkWire.MessageHeaderLength)
                {
                    throw new NetlinkException($"{what}: a truncated netlink message ({span.Length} bytes, less than a header)");
                }

                var messageLength = BinaryPrimitives.ReadUInt32LittleEndian(span);
                if (messageLength < NetlinkWire.MessageHeaderLength || messageLength > (uint)span.Length)
                {
                    throw new NetlinkException($"{what}: a netlink message says {messageLength} bytes, {span.Length} were received");
                }

                var type = BinaryPrimitives.ReadUInt16LittleEndian(span[4..]);
                var flags = BinaryPrimitives.ReadUInt16LittleEndian(span[6..]);
                var messageSequence = BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
                var payload = _buffer.AsMemory(offset + NetlinkWire.MessageHeaderLength, (int)messageLength - NetlinkWire.MessageHeaderLength);
                offset += Math.Min(NetlinkWire.Align((int)messageLength), length - offset);

                if (messageSequence != sequence)
                {
                    if (unchecked((int)(messageSequence - sequence)) < 0)
                    {
                        // A late answer to an earlier request (one that timed out): not ours.
                        continue;
                    }

                    throw new NetlinkException($"{what}: a reply numbered {messageSequence}, ahead of the request's {sequence}");
                }

                switch (type)
                {
                    case NetlinkWire.NLMSG_NOOP:
                        continue;
                    case NetlinkWire.NLMSG_ERROR:
                        var error = ReadError(what, payload.Span);
                        if (error != 0)
                        {
                            throw new NetlinkException($"{what}: {Errno.Describe(error)}{ExtendedAck(payload.Span, flags)}", error);
                        }

                        // An acknowledgement ends a request; a dump ends with NLMSG_DONE.
                        if (!dump)
                        {
                            return messages;
                        }

                        continue;
                    case NetlinkWire.NLMSG_DONE:
                        if (payload.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(payload.Span) is < 0 and var failed)
                        {
                            throw new NetlinkException($"{what}: the dump failed: {Errno.Describe(-failed)}", -failed);
                        }

                        return messages;
                    case NetlinkWire.NLMSG_OVERRUN:
                        throw new NetlinkException($"{what}: the kernel reports a netlink overrun (replies were lost)");
                }

                if (type != family)
                {
                    throw new NetlinkException($"{what}: a reply of netlink type {type}, expected family {family}");
                }

                if (payload.Length < NetlinkWire.GenericHeaderLength)
                {
                    throw new NetlinkException($"{what}: a reply without its generic netlink header");
                }

                if (messages.Count >= MaxDumpMessages)
                {
                    throw new NetlinkException($"{what}: more than {MaxDumpMessages} messages in one reply");
                }

                messages.Add(new GenericNetlinkMessage(
                    payload.Span[0],
                    payload.Span[1],
                    NetlinkAttributes.Parse(payload[NetlinkWire.GenericHeaderLength..].ToArray(), what)));
            }
        }
    }

    /// <summary>The error of an NLMSG_ERROR (0 for an ack) as a positive errno.</summary>
    private static int ReadError(string what, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 4)
        {
            throw new NetlinkException($"{what}: a truncated netlink error message");
        }

        var error = BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (error > 0 || error == int.MinValue)
        {
            throw new NetlinkException($"{what}: a netlink error message with error {error}");
        }

        return -error;
    }

    /// <summary>The kernel's own text for an error (NLMSGERR_ATTR_MSG), when it sent one: <c>: "..."</c>, else empty.</summary>
    private static string ExtendedAck(ReadOnlySpan<byte> payload, ushort flags)
    {
        if ((flags & NetlinkWire.NLM_F_ACK_TLVS) == 0 || payload.Length < 4 + NetlinkWire.MessageHeaderLength)
        {
            return "";
        }

        // The echoed request: its header only when capped, else the whole of it.
        var echoed = (flags & NetlinkWire.NLM_F_CAPPED) != 0
            ? NetlinkWire.MessageHeaderLength
            : NetlinkWire.Align((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]), int.MaxValue));
        if (echoed < NetlinkWire.MessageHeaderLength || echoed > payload.Length - 4)
        {
            return "";
        }

        try
        {
            var attributes = NetlinkAttributes.Parse(payload[(4 + echoed)..].ToArray(), "the extended ack");
            return attributes.String(NetlinkWire.NLMSGERR_ATTR_MSG) is { Length: > 0 } text ? $": \"{text}\"" : "";
        }
        catch (NetlinkException)
        {
            return "";
        }
    }
}
