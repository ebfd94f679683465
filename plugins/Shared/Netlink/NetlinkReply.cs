using System.Buffers.Binary;

namespace Lashup.Netlink;

/// <summary>One netlink message of a received datagram: its header's fields and its payload (a view of the buffer).</summary>
/// <param name="Type">nlmsg_type.</param>
/// <param name="Flags">nlmsg_flags.</param>
/// <param name="Sequence">nlmsg_seq.</param>
/// <param name="Payload">What follows the header, without padding.</param>
internal readonly record struct NetlinkMessage(ushort Type, ushort Flags, uint Sequence, ReadOnlyMemory<byte> Payload);

/// <summary>
/// Reading what the kernel sends back, with every length checked against the bytes received: a datagram is split
/// into messages (<see cref="TryRead"/>), an NLMSG_ERROR into its errno and, with extended acks, the kernel's text
/// (<see cref="ErrorOf"/>, <see cref="Failure"/>). A length that runs past what is there is a
/// <see cref="NetlinkException"/>, never a read past the end or an allocation by a length read from the wire.
/// </summary>
internal static class NetlinkReply
{
    /// <summary>The error a datagram larger than the receive buffer is reported with.</summary>
    public static NetlinkException TooLarge(string what, int length, int bufferLength) =>
        new($"{what}: a reply of {length} bytes does not fit the {bufferLength}-byte receive buffer");

    /// <summary>
    /// Reads the message at <paramref name="offset"/> of <paramref name="datagram"/> and moves the offset past it (and
    /// its padding); false at the end.
    /// </summary>
    /// <exception cref="NetlinkException">A message shorter than its header, or one whose length runs past the datagram.</exception>
    public static bool TryRead(ReadOnlyMemory<byte> datagram, ref int offset, string what, out NetlinkMessage message)
    {
        message = default;
        if (offset >= datagram.Length)
        {
            return false;
        }

        var span = datagram.Span[offset..];
        if (span.Length < NetlinkWire.MessageHeaderLength)
        {
            throw new NetlinkException($"{what}: a truncated netlink message ({span.Length} bytes, less than a header)");
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(span);
        if (length < NetlinkWire.MessageHeaderLength || length > (uint)span.Length)
        {
            throw new NetlinkException($"{what}: a netlink message says {length} bytes, {span.Length} were received");
        }

        message = new NetlinkMessage(
            BinaryPrimitives.ReadUInt16LittleEndian(span[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(span[6..]),
            BinaryPrimitives.ReadUInt32LittleEndian(span[8..]),
            datagram.Slice(offset + NetlinkWire.MessageHeaderLength, (int)length - NetlinkWire.MessageHeaderLength));
        offset += Math.Min(NetlinkWire.Align((int)length), span.Length);
        return true;
    }

    /// <summary>The error of an NLMSG_ERROR (0 for an ack) as a positive errno.</summary>
    /// <exception cref="NetlinkException">The payload is too short for its error, or the error is not an errno.</exception>
    public static int ErrorOf(string what, ReadOnlySpan<byte> payload)
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

    /// <summary>
    /// The exception for a failed request: <c>WHAT: ENODEV (No such device): "the kernel's text"</c> (the text when the
    /// kernel sent an extended ack).
    /// </summary>
    public static NetlinkException Failure(string what, int errno, ReadOnlySpan<byte> payload, ushort flags) =>
        new($"{what}: {Errno.Describe(errno)}{FormatText(ExtendedAckText(payload, flags))}", errno);

    /// <summary>
    /// The kernel's own text for an error (NLMSGERR_ATTR_MSG) in the payload of an NLMSG_ERROR or NLMSG_DONE, or null
    /// when it sent none (no NLM_F_ACK_TLVS, or the attributes cannot be read).
    /// </summary>
    public static string? ExtendedAckText(ReadOnlySpan<byte> payload, ushort flags, bool done = false)
    {
        if ((flags & NetlinkWire.NLM_F_ACK_TLVS) == 0)
        {
            return null;
        }

        int attributesAt;
        if (done)
        {
            // NLMSG_DONE: the int error, then the attributes.
            attributesAt = 4;
        }
        else
        {
            // NLMSG_ERROR: the int error, the echoed request (its header only when capped, else the whole of it).
            if (payload.Length < 4 + NetlinkWire.MessageHeaderLength)
            {
                return null;
            }

            var echoed = (flags & NetlinkWire.NLM_F_CAPPED) != 0
                ? NetlinkWire.MessageHeaderLength
                : NetlinkWire.Align((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]), int.MaxValue - 3));
            if (echoed < NetlinkWire.MessageHeaderLength || echoed > payload.Length - 4)
            {
                return null;
            }

            attributesAt = 4 + echoed;
        }

        if (attributesAt > payload.Length)
        {
            return null;
        }

        try
        {
            var attributes = NetlinkAttributes.Parse(payload[attributesAt..].ToArray(), "the extended ack");
            return attributes.String(NetlinkWire.NLMSGERR_ATTR_MSG) is { Length: > 0 } text ? text : null;
        }
        catch (NetlinkException)
        {
            return null;
        }
    }

    private static string FormatText(string? text) => text is null ? "" : $": \"{text}\"";
}
