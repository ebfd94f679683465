// rtnetlink written by hand from the kernel's uapi headers (no .NET library speaks it; the Go world has
// vishvananda/netlink, C has libnl and iproute2): requests are batched many to a sendmsg and each is acked on its
// own; dumps are read until NLMSG_DONE and redone when the kernel flags them interrupted. The socket is an
// INetlinkSocket, so the tests put a scripted kernel behind it and check every byte.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using static Lashup.Netlink.NetlinkWire;
using static Lashup.Netlink.Route.RtnlWire;

namespace Lashup.Netlink.Route;

/// <summary>
/// An rtnetlink (NETLINK_ROUTE) client: VXLAN links, addresses, neighbours, bridge FDB entries and routes. Changes go
/// in an <see cref="RtnlBatch"/> (<see cref="Execute"/>: many messages per <c>sendmsg</c>, each acked, every refusal
/// reported with the operation, the errno's name and the kernel's extended-ack text), or one at a time through the
/// methods that throw. Dumps return records. Receives use one fixed buffer: a datagram larger than it, a message or
/// attribute whose length runs past the bytes received, or a dump longer than <see cref="MaxDumpMessages"/> is a
/// <see cref="NetlinkException"/>, never a larger allocation; every receive waits a bounded time (the socket's).
/// Not thread-safe: one caller at a time.
/// </summary>
internal sealed class RtnlClient : IDisposable
{
    /// <summary>
    /// The receive buffer: the kernel's dump datagrams are at most 32 KiB unless a single message needs more (a link
    /// with many attributes), its acks far less.
    /// </summary>
    public const int ReceiveBufferSize = 64 * 1024;

    /// <summary>A dump longer than this many messages is refused.</summary>
    public const int MaxDumpMessages = 1 << 20;

    /// <summary>
    /// The most messages in one <c>sendmsg</c>: the kernel queues all their acks before the first is read, and they
    /// must fit the socket's receive buffer (an ack lost to a full buffer is an ENOBUFS on the next receive).
    /// </summary>
    public const int MaxMessagesPerSend = 128;

    /// <summary>The most bytes in one <c>sendmsg</c>.</summary>
    public const int MaxBytesPerSend = 32 * 1024;

    /// <summary>How often a dump the kernel flags interrupted (NLM_F_DUMP_INTR: the table changed under it) is redone.</summary>
    public const int DumpAttempts = 5;

    private readonly INetlinkSocket _socket;
    private readonly byte[] _buffer = new byte[ReceiveBufferSize];
    private uint _sequence;

    /// <param name="socket">An rtnetlink socket; owned by the client from then on.</param>
    /// <param name="firstSequence">The sequence number before the first request's.</param>
    public RtnlClient(INetlinkSocket socket, uint firstSequence = 0)
    {
        _socket = socket;
        _sequence = firstSequence;
    }

    /// <summary>Opens a client on a real NETLINK_ROUTE socket, optionally in a named network namespace.</summary>
    /// <param name="receiveTimeout">How long a receive waits for the kernel.</param>
    /// <param name="networkNamespace">A network namespace's name (<c>ip netns</c>), or null for the process's own.</param>
    /// <exception cref="NetlinkException">The socket could not be opened.</exception>
    public static RtnlClient Open(TimeSpan receiveTimeout, string? networkNamespace = null) =>
        new(NetlinkSocket.Open(NetlinkSocket.NETLINK_ROUTE, receiveTimeout, networkNamespace));

    /// <summary>
    /// Sends the batch (at most <see cref="MaxMessagesPerSend"/> messages per <c>sendmsg</c>) and reads every ack. The
    /// kernel applies each message on its own, so the others are applied when one is refused.
    /// </summary>
    /// <returns>The refused operations, in batch order; empty when all were applied.</returns>
    /// <exception cref="NetlinkException">
    /// The exchange itself failed (a timeout, a malformed reply): then which of the batch's operations were applied is
    /// unknown, and a dump tells.
    /// </exception>
    public List<RtnlFailure> Execute(RtnlBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var failures = new List<RtnlFailure>();
        if (batch.Count == 0)
        {
            return failures;
        }

        var first = Reserve(batch.Count);
        var bytes = batch.Writer.Finish(first);
        var starts = batch.Writer.MessageStarts;
        var index = 0;
        while (index < batch.Count)
        {
            var end = index + 1;
            while (end < batch.Count && end - index < MaxMessagesPerSend && starts[end] + Length(starts, end, bytes.Length) - starts[index] <= MaxBytesPerSend)
            {
                end++;
            }

            var stop = end < batch.Count ? starts[end] : bytes.Length;
            Exchange(bytes.AsSpan(starts[index], stop - starts[index]), unchecked(first + (uint)index), index, end - index, batch.Operations, failures, onData: null);
            index = end;
        }

        return failures;
    }

    /// <summary>Like <see cref="Execute"/>, but the first refusal is thrown (its message says how many more there were).</summary>
    /// <exception cref="NetlinkException">An operation was refused, or the exchange failed.</exception>
    public void ExecuteOrThrow(RtnlBatch batch)
    {
        var failures = Execute(batch);
        if (failures.Count == 0)
        {
            return;
        }

        var first = failures[0].Error;
        throw failures.Count == 1
            ? first
            : new NetlinkException($"{first.Message} (and {failures.Count - 1} more of {batch.Count} operations refused)", first.Errno, first);
    }

    /// <summary>Creates a VXLAN device (EEXIST when the name is taken).</summary>
    public void CreateVxlan(VxlanLinkSpec spec) => ExecuteOrThrow(new RtnlBatch().CreateVxlan(spec));

    /// <summary>Sets the alias of a link by name.</summary>
    public void SetAlias(string name, string alias) => ExecuteOrThrow(new RtnlBatch().SetAlias(name, alias));

    /// <summary>Sets a link up or down.</summary>
    public void SetLinkUp(int interfaceIndex, bool up) => ExecuteOrThrow(new RtnlBatch().SetLinkUp(interfaceIndex, up));

    /// <summary>Deletes a link (ENODEV when absent).</summary>
    public void DeleteLink(int interfaceIndex) => ExecuteOrThrow(new RtnlBatch().DeleteLink(interfaceIndex));

    /// <summary>Adds an address (EEXIST when present).</summary>
    public void AddAddress(RtnlAddress address) => ExecuteOrThrow(new RtnlBatch().AddAddress(address));

    /// <summary>Adds an address or updates it.</summary>
    public void ReplaceAddress(RtnlAddress address) => ExecuteOrThrow(new RtnlBatch().ReplaceAddress(address));

    /// <summary>Deletes an address (EADDRNOTAVAIL when absent).</summary>
    public void DeleteAddress(RtnlAddress address) => ExecuteOrThrow(new RtnlBatch().DeleteAddress(address));

    /// <summary>Adds a neighbour entry (EEXIST when present).</summary>
    public void AddNeighbour(RtnlNeighbour neighbour) => ExecuteOrThrow(new RtnlBatch().AddNeighbour(neighbour));

    /// <summary>Adds or overwrites a neighbour entry.</summary>
    public void ReplaceNeighbour(RtnlNeighbour neighbour) => ExecuteOrThrow(new RtnlBatch().ReplaceNeighbour(neighbour));

    /// <summary>Deletes a neighbour entry (ENOENT when absent).</summary>
    public void DeleteNeighbour(RtnlNeighbour neighbour) => ExecuteOrThrow(new RtnlBatch().DeleteNeighbour(neighbour));

    /// <summary>Adds an FDB entry or a further remote of it.</summary>
    public void AppendFdb(RtnlFdbEntry entry) => ExecuteOrThrow(new RtnlBatch().AppendFdb(entry));

    /// <summary>Adds or overwrites an FDB entry.</summary>
    public void ReplaceFdb(RtnlFdbEntry entry) => ExecuteOrThrow(new RtnlBatch().ReplaceFdb(entry));

    /// <summary>Deletes an FDB entry's remote (ENOENT when absent).</summary>
    public void DeleteFdb(RtnlFdbEntry entry) => ExecuteOrThrow(new RtnlBatch().DeleteFdb(entry));

    /// <summary>Adds a route (EEXIST when present).</summary>
    public void AddRoute(RtnlRoute route) => ExecuteOrThrow(new RtnlBatch().AddRoute(route));

    /// <summary>Adds or replaces a route.</summary>
    public void ReplaceRoute(RtnlRoute route) => ExecuteOrThrow(new RtnlBatch().ReplaceRoute(route));

    /// <summary>Deletes a route of its protocol (ESRCH when absent).</summary>
    public void DeleteRoute(RtnlRoute route) => ExecuteOrThrow(new RtnlBatch().DeleteRoute(route));

    /// <summary>The link named <paramref name="name"/> (RTM_GETLINK by IFLA_IFNAME), or null when there is none.</summary>
    public RtnlLink? GetLink(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > MaxInterfaceNameLength)
        {
            return null;
        }

        var writer = new NetlinkMessageWriter(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, stackalloc byte[IfInfoLength]).PutString(IFLA_IFNAME, name);
        var what = $"RTM_GETLINK {name}";
        var sequence = Reserve(1);
        RtnlLink? link = null;
        var failures = new List<RtnlFailure>();
        Exchange(writer.Finish(sequence), sequence, 0, 1, [what], failures, message =>
        {
            if (message.Type == RTM_NEWLINK)
            {
                link = RtnlDecoder.DecodeLink(message);
            }
        });
        if (failures.Count > 0)
        {
            return failures[0].Error.Errno == Errno.ENODEV ? null : throw failures[0].Error;
        }

        return link;
    }

    /// <summary>Every link of the namespace (RTM_GETLINK dump).</summary>
    public List<RtnlLink> DumpLinks() =>
        Dump("RTM_GETLINK dump", RTM_GETLINK, RTM_NEWLINK, stackalloc byte[IfInfoLength], RtnlDecoder.DecodeLink);

    /// <summary>Every IPv4 and IPv6 address, or those of one link.</summary>
    /// <param name="interfaceIndex">A link's index, or 0 for all.</param>
    public List<RtnlAddress> DumpAddresses(int interfaceIndex = 0) =>
        [.. DumpFamilies("RTM_GETADDR dump", RTM_GETADDR, RTM_NEWADDR, IfAddrLength, RtnlDecoder.DecodeAddress)
            .Where(a => interfaceIndex == 0 || a.InterfaceIndex == interfaceIndex)];

    /// <summary>Every IPv4 and IPv6 neighbour entry (of any state), or those of one link.</summary>
    /// <param name="interfaceIndex">A link's index, or 0 for all.</param>
    public List<RtnlNeighbour> DumpNeighbours(int interfaceIndex = 0) =>
        [.. DumpFamilies("RTM_GETNEIGH dump", RTM_GETNEIGH, RTM_NEWNEIGH, NdLength, RtnlDecoder.DecodeNeighbour)
            .Where(n => interfaceIndex == 0 || n.InterfaceIndex == interfaceIndex)];

    /// <summary>The bridge FDB entries of one link (AF_BRIDGE RTM_GETNEIGH dump), one per remote.</summary>
    /// <param name="interfaceIndex">The link's index (a VXLAN device's).</param>
    public List<RtnlFdbEntry> DumpFdb(int interfaceIndex)
    {
        Span<byte> header = stackalloc byte[NdLength];
        header[0] = AF_BRIDGE;
        return [.. Dump("RTM_GETNEIGH bridge dump", RTM_GETNEIGH, RTM_NEWNEIGH, header, RtnlDecoder.DecodeFdb)
            .Where(e => e.InterfaceIndex == interfaceIndex)];
    }

    /// <summary>
    /// The IPv4 and IPv6 unicast routes of one protocol in one table: ours, and nothing installed by anyone else.
    /// </summary>
    /// <param name="protocol">The rtm_protocol to keep.</param>
    /// <param name="table">The table (254: main).</param>
    public List<RtnlRoute> DumpRoutes(byte protocol, uint table = RT_TABLE_MAIN) =>
        [.. DumpFamilies("RTM_GETROUTE dump", RTM_GETROUTE, RTM_NEWROUTE, RtLength, RtnlDecoder.DecodeRoute)
            .Where(r => r.Protocol == protocol && r.Table == table)];

    /// <summary>
    /// How the kernel reaches <paramref name="destination"/> (RTM_GETROUTE with RTA_DST, as <c>ip route get</c>): the
    /// route's type, next hop and output link; null when it has no route (ENETUNREACH, EHOSTUNREACH).
    /// </summary>
    /// <param name="destination">An IPv4 or IPv6 address.</param>
    /// <exception cref="NetlinkException">The kernel refused the question otherwise, or the exchange failed.</exception>
    public RtnlRouteLookup? RouteTo(IPAddress destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"{destination} is neither IPv4 nor IPv6", nameof(destination));
        }

        var bytes = destination.GetAddressBytes();
        Span<byte> header = stackalloc byte[RtLength];
        header[0] = bytes.Length == 4 ? AF_INET : AF_INET6;
        header[1] = (byte)(bytes.Length * 8);
        var writer = new NetlinkMessageWriter(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, header).PutBytes(RTA_DST, bytes);
        var what = $"RTM_GETROUTE {destination}";
        var sequence = Reserve(1);
        RtnlRouteLookup? route = null;
        var failures = new List<RtnlFailure>();
        Exchange(writer.Finish(sequence), sequence, 0, 1, [what], failures, message =>
        {
            if (message.Type == RTM_NEWROUTE)
            {
                route = RtnlDecoder.DecodeRouteLookup(message, destination);
            }
        });
        if (failures.Count > 0)
        {
            return failures[0].Error.Errno is Errno.ENETUNREACH or Errno.EHOSTUNREACH ? null : throw failures[0].Error;
        }

        return route;
    }

    public void Dispose() => _socket.Dispose();

    private static int Length(IReadOnlyList<int> starts, int index, int total) =>
        (index + 1 < starts.Count ? starts[index + 1] : total) - starts[index];

    /// <summary>Takes <paramref name="count"/> sequence numbers; the first is returned (0 is never used).</summary>
    private uint Reserve(int count)
    {
        var first = unchecked(_sequence + 1);
        if (first == 0 || unchecked(first + (uint)count) < first)
        {
            first = 1;
        }

        _sequence = unchecked(first + (uint)count - 1);
        return first;
    }

    private List<T> DumpFamilies<T>(string what, ushort type, ushort replyType, int headerLength, Func<NetlinkMessage, T?> decode)
        where T : class
    {
        Span<byte> header = stackalloc byte[headerLength];
        header[0] = AF_INET;
        var result = Dump($"{what} inet", type, replyType, header, decode);
        header[0] = AF_INET6;
        result.AddRange(Dump($"{what} inet6", type, replyType, header, decode));
        return result;
    }

    /// <summary>
    /// Sends one dump request and decodes every message until NLMSG_DONE; redone (at most <see cref="DumpAttempts"/>
    /// times) when a message carries NLM_F_DUMP_INTR.
    /// </summary>
    private List<T> Dump<T>(string what, ushort type, ushort replyType, ReadOnlySpan<byte> header, Func<NetlinkMessage, T?> decode)
        where T : class
    {
        var request = new NetlinkMessageWriter(type, NLM_F_REQUEST | NLM_F_DUMP, header);
        for (var attempt = 1; ; attempt++)
        {
            var sequence = Reserve(1);
            var (items, interrupted) = ReadDump(what, request.Finish(sequence), sequence, replyType, decode);
            if (!interrupted)
            {
                return items;
            }

            if (attempt == DumpAttempts)
            {
                throw new NetlinkException($"{what}: interrupted {DumpAttempts} times in a row (the table keeps changing under the dump)", Errno.EINTR);
            }
        }
    }

    private (List<T> Items, bool Interrupted) ReadDump<T>(string what, byte[] request, uint sequence, ushort replyType, Func<NetlinkMessage, T?> decode)
        where T : class
    {
        _socket.Send(request);
        var items = new List<T>();
        var interrupted = false;
        var count = 0;
        while (true)
        {
            var length = Receive(what);
            var offset = 0;
            while (NetlinkReply.TryRead(_buffer.AsMemory(0, length), ref offset, what, out var message))
            {
                if (!Ours(what, message, sequence, 1))
                {
                    continue;
                }

                interrupted |= (message.Flags & NLM_F_DUMP_INTR) != 0;
                switch (message.Type)
                {
                    case NLMSG_NOOP:
                        continue;
                    case NLMSG_ERROR:
                        var error = NetlinkReply.ErrorOf(what, message.Payload.Span);
                        if (error != 0)
                        {
                            throw NetlinkReply.Failure(what, error, message.Payload.Span, message.Flags);
                        }

                        continue;
                    case NLMSG_DONE:
                        if (message.Payload.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(message.Payload.Span) is < 0 and var failed)
                        {
                            var text = NetlinkReply.ExtendedAckText(message.Payload.Span, message.Flags, done: true);
                            throw new NetlinkException($"{what}: the dump failed: {Errno.Describe(-failed)}{(text is null ? "" : $": \"{text}\"")}", -failed);
                        }

                        return (items, interrupted);
                    case NLMSG_OVERRUN:
                        throw new NetlinkException($"{what}: the kernel reports a netlink overrun (replies were lost)");
                }

                if (message.Type != replyType)
                {
                    throw new NetlinkException($"{what}: a reply of netlink type {message.Type}, expected {TypeName(replyType)}");
                }

                if (++count > MaxDumpMessages)
                {
                    throw new NetlinkException($"{what}: more than {MaxDumpMessages} messages in one dump");
                }

                if (decode(message) is { } item)
                {
                    items.Add(item);
                }
            }
        }
    }

    /// <summary>
    /// Sends <paramref name="messages"/> (numbered <paramref name="first"/> onwards, <paramref name="count"/> of them)
    /// and reads until each is acked; refusals go to <paramref name="failures"/>, other replies to
    /// <paramref name="onData"/>.
    /// </summary>
    private void Exchange(ReadOnlySpan<byte> messages, uint first, int indexOffset, int count, IReadOnlyList<string> operations, List<RtnlFailure> failures, Action<NetlinkMessage>? onData)
    {
        var what = count == 1 ? operations[indexOffset] : $"a batch of {count} rtnetlink requests";
        _socket.Send(messages);
        var acked = new bool[count];
        var remaining = count;
        while (remaining > 0)
        {
            var length = Receive(what);
            var offset = 0;
            while (NetlinkReply.TryRead(_buffer.AsMemory(0, length), ref offset, what, out var message))
            {
                if (!Ours(what, message, first, count))
                {
                    continue;
                }

                var position = (int)unchecked(message.Sequence - first);
                var operation = operations[indexOffset + position];
                switch (message.Type)
                {
                    case NLMSG_NOOP:
                        continue;
                    case NLMSG_ERROR:
                        var error = NetlinkReply.ErrorOf(operation, message.Payload.Span);
                        if (acked[position])
                        {
                            continue;
                        }

                        acked[position] = true;
                        remaining--;
                        if (error != 0)
                        {
                            failures.Add(new RtnlFailure(indexOffset + position, operation, NetlinkReply.Failure(operation, error, message.Payload.Span, message.Flags)));
                        }

                        continue;
                    case NLMSG_DONE or NLMSG_OVERRUN:
                        throw new NetlinkException($"{operation}: an unexpected netlink {(message.Type == NLMSG_DONE ? "NLMSG_DONE" : "NLMSG_OVERRUN")}");
                }

                if (onData is null)
                {
                    throw new NetlinkException($"{operation}: an unexpected reply of netlink type {message.Type}");
                }

                onData(message);
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="message"/> answers one of the requests numbered <paramref name="first"/> onwards; a late
    /// answer to an earlier request (one that timed out) is not ours, one numbered ahead of them is an error.
    /// </summary>
    private static bool Ours(string what, NetlinkMessage message, uint first, int count)
    {
        var distance = unchecked((int)(message.Sequence - first));
        if (distance < 0)
        {
            return false;
        }

        return distance < count
            ? true
            : throw new NetlinkException($"{what}: a reply numbered {message.Sequence}, ahead of the requests' {first}-{unchecked(first + (uint)count - 1)}");
    }

    private int Receive(string what)
    {
        var length = _socket.Receive(_buffer);
        return length <= _buffer.Length ? length : throw NetlinkReply.TooLarge(what, length, _buffer.Length);
    }
}
