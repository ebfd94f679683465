using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Lashup.Plugins.Core.Protocol;
using Lashup.Plugins.Core.Runtime;
using Lashup.Plugins.Core.Tests.Wire;
using Lashup.Plugins.Core.Wire;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace Lashup.Plugins.Core.Tests.Runtime;

/// <summary>
/// The transport's inbound streams over real loopback sockets (issue 15): memory is committed only as bytes arrive and
/// within the budgets, stalled connections are closed, and every buffer goes back. Waits are bounded; durations are
/// measured and printed, never asserted.
/// </summary>
public sealed class SocketTransportTests(ITestOutputHelper output)
{
    private const int KiB = 1024;
    private const int MiB = 1024 * 1024;
    private const string Cluster = "transport-test";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadStream_PeerStallsMidFrame_ClosedAfterTheFrameDeadline()
    {
        // The default limits: a 64 KiB frame has 5 s + 64 KiB at 1 MiB/s; it used to wait for the 5-minute idle timeout.
        await using var node = Node.Start(new FrameCodec(Cluster, null, 16 * MiB));
        using var peer = await node.ConnectAsync();
        await peer.SendAsync(Header(Cluster, 64 * KiB));
        await peer.SendAsync(new byte[1000]);

        var took = await ClosedByNodeAsync(peer);

        output.WriteLine($"closed {took.TotalSeconds:F1} s after stalling");
        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Stalled]);
    }

    [Fact]
    public async Task ReadStream_HeaderWithAKeyThisNodeDoesNotHold_ClosedBeforeTheBody()
    {
        var keyring = Keyring.Parse([WireSamples.NewKey()]);
        await using var node = Node.Start(new FrameCodec(Cluster, keyring, 16 * MiB));
        using var peer = await node.ConnectAsync();
        var header = Header(Cluster, 16 * MiB - FrameCodec.HeaderSize);
        header[3] = 1; // sealed
        header[8] = (byte)(keyring!.PrimaryId + 1);

        await peer.SendAsync(header);
        await ClosedByNodeAsync(peer);

        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Rejected]);
        Assert.Equal(1, node.Stats.Dropped[(int)DropReason.UnknownKey]);
        Assert.Equal(0, node.Stats.StreamBufferedUnauthenticated);
    }

    [Fact]
    public async Task ReadStream_ManyPeersAnnounceLargeFramesAndStall_BufferedBytesStayWithinTheBudgetAndAllComeBack()
    {
        // Frames of up to 1 MiB: the unauthenticated budget is 2 MiB; 16 peers send 8 MiB between them.
        var limits = StreamLimits.For(MiB) with
        {
            HandshakeTimeout = TimeSpan.FromSeconds(1),
            FrameGrace = TimeSpan.FromSeconds(1),
        };
        await using var node = Node.Start(new FrameCodec(Cluster, null, MiB), limits);
        var peers = new List<Socket>();
        try
        {
            for (var i = 0; i < 16; i++)
            {
                var peer = await node.ConnectAsync();
                peers.Add(peer);
                await peer.SendAsync(Header(Cluster, MiB - FrameCodec.HeaderSize));

                // Half of the frame, then nothing; the node stops reading those it has no room for.
                _ = SendQuietlyAsync(peer, new byte[MiB / 2]);
            }

            long most = 0;
            var closed = Task.WhenAll(peers.Select(p => ClosedByNodeAsync(p)));
            while (!closed.IsCompleted)
            {
                most = Math.Max(most, Volatile.Read(ref node.Stats.StreamBufferedUnauthenticated));
                await Task.WhenAny(closed, Task.Delay(10));
            }

            await closed;
            output.WriteLine($"at most {most / KiB} KiB buffered; closed: {string.Join(", ", Enum.GetValues<ConnectionCloseReason>().Select(r => $"{r} {node.Stats.ConnectionsClosed[(int)r]}"))}");
            Assert.InRange(most, 1, limits.UnauthenticatedBudget);
            Assert.Equal(16, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Stalled] + node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.OverBudget]);
            Assert.True(node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.OverBudget] > 0, "every frame found room");
            Assert.True(await WaitAsync(() => Volatile.Read(ref node.Stats.StreamBufferedUnauthenticated) == 0), "buffers not returned");
        }
        finally
        {
            foreach (var peer in peers)
            {
                peer.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReadStream_PeerClosesMidFrame_BuffersComeBack()
    {
        await using var node = Node.Start(new FrameCodec(Cluster, null, 16 * MiB));
        var peer = await node.ConnectAsync();
        await peer.SendAsync(Header(Cluster, 4 * MiB));
        await peer.SendAsync(new byte[MiB]);
        Assert.True(await WaitAsync(() => Volatile.Read(ref node.Stats.StreamBufferedUnauthenticated) >= MiB), "the megabyte sent was not buffered");

        peer.Dispose();

        Assert.True(await WaitAsync(() => Volatile.Read(ref node.Stats.StreamBufferedUnauthenticated) == 0), "buffers not returned");
    }

    [Fact]
    public async Task ReadStream_ConnectionsOverTheCap_Refused()
    {
        await using var node = Node.Start(new FrameCodec(Cluster, null, MiB), StreamLimits.For(MiB) with { MaxInboundConnections = 2 });
        using var a = await node.ConnectAsync();
        using var b = await node.ConnectAsync();
        using var c = await node.ConnectAsync();

        await ClosedByNodeAsync(c);

        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Limit]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadStream_LargeFramesFromARealPeer_DeliveredEvenAsTheFirstFrameAndWhileStrangersStall(bool keyring)
    {
        // A real peer's first frame may be a multi-MiB anti-entropy transfer; a stranger that announced the largest
        // frame and sent nothing holds nothing, and once authenticated the peer's frames use the other budget.
        var keys = keyring ? Keyring.Parse([WireSamples.NewKey()]) : null;
        var codec = new FrameCodec(Cluster, keys, 4 * MiB);
        await using var node = Node.Start(codec);
        using var stranger = await node.ConnectAsync();
        var header = Header(Cluster, (4 * MiB) - FrameCodec.HeaderSize);
        if (keyring)
        {
            header[3] = 1;
            header[8] = keys!.PrimaryId;
        }

        await stranger.SendAsync(header);
        using var real = await node.ConnectAsync();
        var payload = new byte[3 * MiB];
        Random.Shared.NextBytes(payload);
        var frame = codec.Encode(new Envelope("node-1", "127.0.0.1:7470", 1, 1, new DirectData("kv.sync", payload)));
        await SendQuietlyAsync(real, frame);
        await SendQuietlyAsync(real, frame);

        Assert.True(await WaitAsync(() => node.Delivered.Count == 2), $"{node.Delivered.Count} of 2 frames delivered");
        Assert.All(node.Delivered, e => Assert.Equal(payload, ((DirectData)e.Body).Payload));
        Assert.True(await WaitAsync(() => Volatile.Read(ref node.Stats.StreamBufferedAuthenticated) == 0), "buffers not returned");
    }

    [Fact]
    public async Task ReadStream_FirstFrameDoesNotDecode_ConnectionClosed()
    {
        await using var node = Node.Start(new FrameCodec(Cluster, null, MiB));
        using var peer = await node.ConnectAsync();
        var frame = new byte[FrameCodec.HeaderSize + 100];
        Header(Cluster, 100).CopyTo(frame, 0);

        await peer.SendAsync(frame);
        await ClosedByNodeAsync(peer);

        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Rejected]);
        Assert.Equal(1, node.Stats.Dropped[(int)DropReason.Malformed]);
    }

    [Fact]
    public async Task ReadStream_NoHeaderWithinTheHandshakeTime_Closed()
    {
        await using var node = Node.Start(new FrameCodec(Cluster, null, MiB), StreamLimits.For(MiB) with { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        using var peer = await node.ConnectAsync();
        await peer.SendAsync(new byte[3]);

        await ClosedByNodeAsync(peer);

        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.HeaderTimeout]);
    }

    internal static byte[] Header(string cluster, int bodyLength)
    {
        var header = new byte[FrameCodec.HeaderSize];
        header[0] = (byte)'L';
        header[1] = (byte)'X';
        header[2] = FrameCodec.Version;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), FrameCodec.ClusterHash(cluster));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(10), (uint)bodyLength);
        return header;
    }

    /// <summary>Waits (bounded) until the node closes <paramref name="peer"/>; returns how long that took.</summary>
    private static async Task<TimeSpan> ClosedByNodeAsync(Socket peer)
    {
        var started = DateTime.UtcNow;
        var buffer = new byte[256];
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset: closed with unread data, as it should be.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the node did not close the connection within {Timeout}");
        }

        return DateTime.UtcNow - started;
    }

    private static async Task SendQuietlyAsync(Socket socket, byte[] bytes)
    {
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None, cts.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static async Task<bool> WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    /// <summary>A transport on a loopback port that records what it delivers.</summary>
    private sealed class Node : IAsyncDisposable
    {
        private readonly SocketTransport _transport;

        private Node(FrameCodec codec, StreamLimits? limits) =>
            _transport = new SocketTransport(codec, 60_000, Stats, NullLogger.Instance, TimeProvider.System, limits);

        public NodeStats Stats { get; } = new();

        public ConcurrentQueue<Envelope> Delivered { get; } = new();

        public IPEndPoint EndPoint => _transport.LocalEndPoint!;

        public static Node Start(FrameCodec codec, StreamLimits? limits = null)
        {
            var node = new Node(codec, limits);
            node._transport.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            node._transport.Start(node.Delivered.Enqueue);
            return node;
        }

        public async Task<Socket> ConnectAsync()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(EndPoint).WaitAsync(Timeout);
            return socket;
        }

        public ValueTask DisposeAsync() => _transport.DisposeAsync();
    }
}
