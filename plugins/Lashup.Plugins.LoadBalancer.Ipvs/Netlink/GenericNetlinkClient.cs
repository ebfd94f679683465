using System.Buffers.Binary;
using Lashup.Netlink;

namespace Lashup.Plugins.LoadBalancer.Ipvs.Netlink;

/// <summary>One message of a generic netlink reply: the family's command and its top-level attributes.</summary>
internal sealed record GenericNetlinkMessage(byte Command, byte Version, NetlinkAttributes Attributes);

/// <summary>
/// Generic netlink requests over one <see cref="INetlinkSocket"/>: resolves a family's id through the controller
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

    /// <summary>sizeof(struct genlmsghdr): u8 cmd, u8 version, u16 reserved.</summary>
    public const int GenericHeaderLength = 4;

    /// <summary>The generic netlink controller's fixed family id (GENL_ID_CTRL = NLMSG_MIN_TYPE).</summary>
    public const ushort GENL_ID_CTRL = NetlinkWire.NLMSG_MIN_TYPE;

    public const byte CTRL_CMD_GETFAMILY = 3;
    public const byte CTRL_VERSION = 1;
    public const ushort CTRL_ATTR_FAMILY_ID = 1;
    public const ushort CTRL_ATTR_FAMILY_NAME = 2;

    private readonly INetlinkSocket _socket;
    private readonly byte[] _buffer = new byte[ReceiveBufferSize];
    private uint _sequence;

    public GenericNetlinkClient(INetlinkSocket socket, uint firstSequence = 0)
    {
        _socket = socket;
        _sequence = firstSequence;
    }

    /// <summary>The family id of generic netlink family <paramref name="name"/> (CTRL_CMD_GETFAMILY).</summary>
    /// <exception cref="NetlinkException">Unknown family (errno ENOENT), or the call failed.</exception>
    public ushort ResolveFamily(string name)
    {
        var request = Request(GENL_ID_CTRL, NetlinkWire.NLM_F_REQUEST | NetlinkWire.NLM_F_ACK, CTRL_CMD_GETFAMILY, CTRL_VERSION)
            .PutString(CTRL_ATTR_FAMILY_NAME, name);
        var replies = Call($"CTRL_CMD_GETFAMILY {name}", request, dump: false, GENL_ID_CTRL);
        foreach (var reply in replies)
        {
            if (reply.Attributes.U16(CTRL_ATTR_FAMILY_ID) is { } id)
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

    /// <summary>A generic netlink request: nlmsghdr, then genlmsghdr (<paramref name="command"/>, <paramref name="version"/>).</summary>
    /// <param name="family">The family id (the nlmsghdr type).</param>
    /// <param name="flags">NLM_F_* flags.</param>
    /// <param name="command">The family's command.</param>
    /// <param name="version">The family's interface version.</param>
    public static NetlinkMessageWriter Request(ushort family, ushort flags, byte command, byte version) =>
        new(family, flags, [command, version, 0, 0]);

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
                throw NetlinkReply.TooLarge(what, length, _buffer.Length);
            }

            var offset = 0;
            while (NetlinkReply.TryRead(_buffer.AsMemory(0, length), ref offset, what, out var message))
            {
                var (type, flags, messageSequence, payload) = (message.Type, message.Flags, message.Sequence, message.Payload);
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
                        var error = NetlinkReply.ErrorOf(what, payload.Span);
                        if (error != 0)
                        {
                            throw NetlinkReply.Failure(what, error, payload.Span, flags);
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

                if (payload.Length < GenericHeaderLength)
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
                    NetlinkAttributes.Parse(payload[GenericHeaderLength..].ToArray(), what)));
            }
        }
    }
}
