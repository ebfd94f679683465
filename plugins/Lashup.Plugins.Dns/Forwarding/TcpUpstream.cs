using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// One query over a new TCP connection (RFC 1035 §4.2.2, RFC 7766): two-octet length prefix each way, the response read
/// whole (at most 65535 octets, as the prefix allows) within the timeout. Used only after a truncated UDP answer, so a
/// connection per query is cheap enough and leaves nothing to manage.
/// </summary>
internal static class TcpUpstream
{
    /// <summary>The response, or null on timeout, connection failure, or a stream that ends early.</summary>
    public static async Task<byte[]?> ExchangeAsync(IPEndPoint upstream, ReadOnlyMemory<byte> query, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var token = linked.Token;
        using var socket = new Socket(upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(upstream, token);
            var frame = new byte[2 + query.Length];
            BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)query.Length);
            query.CopyTo(frame.AsMemory(2));
            await SendAllAsync(socket, frame, token);

            var prefix = new byte[2];
            if (!await ReceiveExactlyAsync(socket, prefix, token))
            {
                return null;
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
            if (length == 0)
            {
                return null;
            }

            var response = new byte[length];
            return await ReceiveExactlyAsync(socket, response, token) ? response : null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, token);
            data = data[sent..];
        }
    }

    private static async Task<bool> ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            if (read == 0)
            {
                return false;
            }

            buffer = buffer[read..];
        }

        return true;
    }
}
