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
using Lashup.TestSupport;

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
    public async Task Bind_PortZeroWhoseNumberIsTakenForTcp_AnotherPortIsPicked()
    {
        // With port 0 the system picks a free UDP port, and TCP takes the same number, which another process may hold:
        // on a busy host tests failed with "127.0.0.1:0 is already in use". The first try is given such a port here.
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var taken = ((IPEndPoint)holder.LocalEndPoint!).Port;
        var stats = new NodeStats();
        await using var transport = new SocketTransport(new FrameCodec(Cluster, null, MiB), 60_000, stats, NullLogger.Instance);

        transport.Bind(new IPEndPoint(IPAddress.Loopback, 0), firstPort: taken);

        var bound = transport.LocalEndPoint!;
        Assert.NotEqual(taken, bound.Port);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(bound).WaitAsync(Timeout);
    }

    [Fact]
    public void Bind_GivenPortTakenByAnotherProcess_ClearErrorAndNoOtherPort()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var taken = (IPEndPoint)holder.LocalEndPoint!;
        var transport = new SocketTransport(new FrameCodec(Cluster, null, MiB), 60_000, new NodeStats(), NullLogger.Instance);

        var e = Assert.Throws<InvalidOperationException>(() => transport.Bind(taken));

        Assert.Equal($"core.listen: {taken} is already in use by another process", e.Message);
        Assert.Null(transport.LocalEndPoint);
    }

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
                // Each from an address of its own: the budget all sources share is what this is about.
                var peer = await node.ConnectAsync(Source(1, i));
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

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadStream_HundredsOfConnectionsSendOnlyAHeader_HoldNothingAndARealPeersFirstFrameIsDelivered(bool keyring)
    {
        // Default limits. Each header announcing 16 MiB used to take and charge a 64 KiB segment until the frame's
        // deadline (21 s): 520 of them (7,280 bytes of traffic) held the whole 32 MiB budget, and a real peer's first
        // frame on a new connection was refused. The headers come from 40 addresses (13 each), under every per-source cap.
        var keys = keyring ? Keyring.Parse([WireSamples.NewKey()]) : null;
        var codec = new FrameCodec(Cluster, keys, 16 * MiB);
        await using var node = Node.Start(codec);
        var strangers = new List<Socket>();
        try
        {
            var header = Header(Cluster, (16 * MiB) - FrameCodec.HeaderSize);
            if (keyring)
            {
                header[3] = 1;
                header[8] = keys!.PrimaryId;
            }

            for (var i = 0; i < 520; i++)
            {
                var stranger = await node.ConnectAsync(Source(1, i % 40));
                strangers.Add(stranger);
                await stranger.SendAsync(header);
            }

            using var real = await node.ConnectAsync();
            await real.SendAsync(codec.Encode(new Envelope("node-1", "127.0.0.1:7470", 1, 1, new DirectData("kv.sync", new byte[2000]))));

            Assert.True(await WaitAsync(() => node.Delivered.Count == 1), "the real peer's frame was not delivered");

            // The headers hold nothing (at most the smallest piece each, had a socket woken without data); once the
            // real frame's buffers are back, nothing is held.
            var held = node.Transport.Charged(authenticated: false);
            output.WriteLine($"520 headers: {held} bytes held; closed {Closes(node)}");
            Assert.InRange(held, 0, 520 * StreamLimits.MinPieceSize);
            Assert.True(await WaitAsync(() => node.Transport.Charged(authenticated: false) + node.Transport.Charged(authenticated: true) == 0), $"{node.Transport.Charged(authenticated: false)} bytes held");
            Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.OverBudget]);
        }
        finally
        {
            foreach (var stranger in strangers)
            {
                stranger.Dispose();
            }
        }

        Assert.True(await WaitAsync(() => node.Transport.Sources == 0), "sources not forgotten after their connections closed");
    }

    [Fact]
    public async Task ReadStream_PlaintextStrangersAuthenticateAndSendFromOneAddress_TheyHoldAtMostItsShareAndAMembersFrameGetsIn()
    {
        // Plaintext: any well-formed frame authenticates a connection. 40 connections from one address each send a
        // made-up Ping, then 128 KiB of a 1 MiB frame, and stop. They used to hold the whole authenticated budget
        // (4 MiB here), and a member's next 300 KiB frame closed its connection; one address now holds at most half.
        var codec = new FrameCodec(Cluster, null, MiB);
        await using var node = Node.Start(codec);
        using var member = await node.ConnectAsync();
        await member.SendAsync(codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 1, new Ping(1))));
        Assert.True(await WaitAsync(() => node.Delivered.Count == 1), "the member's first frame was not delivered");
        var strangers = new List<Socket>();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                var stranger = await node.ConnectAsync(Source(2, 0));
                strangers.Add(stranger);
                await SendQuietlyAsync(stranger, codec.Encode(new Envelope($"made-up-{i}", "10.9.9.9:1", 1, 1, new Ping(1))));
                Assert.True(await WaitAsync(() => node.Delivered.Count == i + 2), $"stranger {i}'s ping not delivered");
                await SendQuietlyAsync(stranger, Header(Cluster, MiB - FrameCodec.HeaderSize));
                await SendQuietlyAsync(stranger, new byte[128 * KiB]);
            }

            await Task.Delay(500);
            var held = Volatile.Read(ref node.Stats.StreamBufferedAuthenticated);

            await SendQuietlyAsync(member, codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 2, new DirectData("kv.sync", new byte[300 * KiB]))));

            Assert.True(await WaitAsync(() => node.Delivered.Count == 42), "the member's 300 KiB frame was not delivered");
            output.WriteLine($"strangers held {held / KiB} KiB of the authenticated budget; closed {Closes(node)}");
            Assert.InRange(held, 1, 2 * MiB);
        }
        finally
        {
            foreach (var stranger in strangers)
            {
                stranger.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReadStream_OneAddressAtItsConnectionCaps_AStuckConnectionMakesRoomANewcomerWaitsElseRefused()
    {
        var limits = StreamLimits.For(MiB) with { MaxUnauthenticatedPerSource = 4, MaxConnectionsPerSource = 6, EvictAfter = TimeSpan.FromMilliseconds(300) };
        var codec = new FrameCodec(Cluster, null, MiB);
        await using var node = Node.Start(codec, limits);
        var source = Source(3, 0);
        var c = new List<Socket>();
        try
        {
            async Task<Socket> Open()
            {
                var socket = await node.ConnectAsync(source);
                c.Add(socket);
                return socket;
            }

            async Task Authenticate(int i)
            {
                var before = node.Delivered.Count;
                await c[i].SendAsync(codec.Encode(new Envelope($"node-{i}", "127.0.0.1:1", 1, 1, new Ping(1))));
                Assert.True(await WaitAsync(() => node.Delivered.Count == before + 1), $"connection {i}'s frame not delivered; closed {Closes(node)}");
            }

            // Four connections that say nothing, then a fifth: it waits until one of them has been silent for 300 ms,
            // and the one silent longest is closed to make room.
            for (var i = 0; i < 5; i++)
            {
                await Open();
            }

            await ClosedByNodeAsync(c[0]);
            Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit]);
            for (var i = 1; i < 5; i++)
            {
                await Authenticate(i);
            }

            // Authenticated connections are never closed to make room, and count against the cap of all connections:
            // at six, all of them authenticated, a new one is refused at once.
            await Open();
            await Open();
            await Authenticate(5);
            await Authenticate(6);
            await ClosedByNodeAsync(await Open());
            Assert.Equal(2, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit]);

            using var other = await node.ConnectAsync();
            await other.SendAsync(codec.Encode(new Envelope("node-x", "127.0.0.1:2", 1, 1, new Ping(1))));
            Assert.True(await WaitAsync(() => node.Delivered.Count == 7), "another address was not served");
        }
        finally
        {
            foreach (var socket in c)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReadStream_SixteenPeersOfOneHostInTheMiddleOfTheirFirstFrames_ANewcomerWaitsAndNoneIsCut()
    {
        // Sixteen connections from one address (the cap of those not authenticated yet), each in the middle of a 64 KiB
        // first frame arriving in 2 KiB pieces, and a seventeenth with a small frame. The newcomer used to close the
        // oldest of them mid-frame (source_limit); now it waits for one of them to authenticate.
        var codec = new FrameCodec(Cluster, null, 4 * MiB);
        await using var node = Node.Start(codec);
        var frames = Enumerable.Range(0, 16)
            .Select(i => codec.Encode(new Envelope($"node-{i}", "127.0.0.1:7470", 1, 1, new DirectData("kv.sync", new byte[64 * KiB]))))
            .ToList();
        var peers = new List<Socket>();
        try
        {
            for (var i = 0; i < 16; i++)
            {
                peers.Add(await node.ConnectAsync());
            }

            var started = new TaskCompletionSource();
            var sending = Task.WhenAll(peers.Select(async (peer, i) =>
            {
                for (var offset = 0; offset < frames[i].Length; offset += 2 * KiB)
                {
                    await SendQuietlyAsync(peer, frames[i][offset..Math.Min(frames[i].Length, offset + (2 * KiB))]);
                    if (offset >= 8 * KiB)
                    {
                        started.TrySetResult();
                    }

                    await Task.Delay(50);
                }
            }));
            await started.Task.WaitAsync(Timeout);
            using var newcomer = await node.ConnectAsync();
            await SendQuietlyAsync(newcomer, codec.Encode(new Envelope("node-x", "127.0.0.1:7470", 1, 1, new Ping(1))));
            await sending.WaitAsync(Timeout);

            Assert.True(await WaitAsync(() => node.Delivered.Count == 17), $"{node.Delivered.Count} of 17 delivered; closed {Closes(node)}");
            Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit]);
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
    public async Task Send_TwentyPeersOnOneHostConnectAtOnce_EveryFrameDelivered()
    {
        // Twenty real transports on 127.0.0.1 send one small reliable frame each to a node they have no connection to,
        // at once, three rounds. The connections over the cap of those not authenticated yet (16) used to close
        // others that had just connected: 16 of 20 frames got through in the first two rounds.
        var codec = new FrameCodec(Cluster, null, 16 * MiB);
        await using var node = Node.Start(codec);
        var senders = new List<Node>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var name = $"peer-{i}";
                senders.Add(Node.Start(codec, hello: () => new Envelope(name, "127.0.0.1:7470", 1, 1, ConnectionHello.Message)));
            }

            for (var round = 1; round <= 3; round++)
            {
                for (var i = 0; i < senders.Count; i++)
                {
                    senders[i].Transport.Send(node.EndPoint.ToString(), new Envelope($"peer-{i}", senders[i].EndPoint.ToString(), 1, (ulong)round + 1, new GmDigest([], false)), reliable: true);
                }

                Assert.True(await WaitAsync(() => node.Delivered.Count == round * senders.Count), $"round {round}: {node.Delivered.Count} of {round * senders.Count} delivered; closed {Closes(node)}");
            }

            Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit]);
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ReadStream_HundredsOfHeadersFromThePeersOwnAddress_ThePeersFrameStillGetsIn()
    {
        // The same attack from the real peer's own address (a shared host, a NAT): connections that sent a header and
        // nothing more are stuck once silent for a second, and make room; the peer's frame gets in, at the latest when
        // it connects again (as a node's writer does after its connection is refused).
        var codec = new FrameCodec(Cluster, null, 16 * MiB);
        await using var node = Node.Start(codec);
        var strangers = new List<Socket>();
        var attempts = 0;
        try
        {
            for (var i = 0; i < 520; i++)
            {
                var stranger = await node.ConnectAsync();
                strangers.Add(stranger);
                await SendQuietlyAsync(stranger, Header(Cluster, (16 * MiB) - FrameCodec.HeaderSize));
            }

            var frame = codec.Encode(new Envelope("node-1", "127.0.0.1:7470", 1, 1, new DirectData("kv.sync", new byte[2000])));
            var until = DateTime.UtcNow + Timeout;
            while (node.Delivered.IsEmpty && DateTime.UtcNow < until)
            {
                attempts++;
                using var real = await node.ConnectAsync();
                await SendQuietlyAsync(real, frame);
                var attempt = DateTime.UtcNow + TimeSpan.FromSeconds(3);
                while (node.Delivered.IsEmpty && DateTime.UtcNow < attempt && !(real.Poll(0, SelectMode.SelectRead) && real.Available == 0))
                {
                    await Task.Delay(20);
                }

                await Task.Delay(100); // a writer connects again for its next frame, not at once
            }

            output.WriteLine($"delivered after {attempts} connection(s); closed {Closes(node)}");
            Assert.NotEmpty(node.Delivered);
            Assert.True(node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit] > 0, "no connection was closed or refused for its source");
        }
        finally
        {
            foreach (var stranger in strangers)
            {
                stranger.Dispose();
            }
        }
    }

    [Fact]
    public async Task ReadStream_SixtyHalfFramesFromOneAddress_ConnectionsEvictedQueuedOrClosedGiveEverythingBack()
    {
        // 60 connections from one address each send part of a 700 KiB first frame and stop: 16 read, the others wait
        // for a turn, stuck ones are closed to make room; after all close, nothing is held and the source is forgotten.
        var codec = new FrameCodec(Cluster, null, 4 * MiB);
        await using var node = Node.Start(codec, StreamLimits.For(4 * MiB) with { EvictAfter = TimeSpan.FromMilliseconds(200) });
        var frame = codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 1, new DirectData("kv.sync", new byte[700 * KiB])));
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 60; i++)
            {
                var socket = await node.ConnectAsync(Source(5, 0));
                sockets.Add(socket);
                await SendQuietlyAsync(socket, frame[..((i * 7919 % frame.Length) + 1)]);
            }

            Assert.True(await WaitAsync(() => node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit] > 0), "no stuck connection made room");
            output.WriteLine($"held {node.Transport.Charged(authenticated: false) / KiB} KiB; closed {Closes(node)}");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        Assert.True(
            await WaitAsync(() => node.Stats.StreamBufferedAuthenticated + node.Stats.StreamBufferedUnauthenticated == 0
                && node.Transport.Charged(authenticated: true) + node.Transport.Charged(authenticated: false) == 0
                && node.Transport.Sources == 0),
            $"gauges {node.Stats.StreamBufferedUnauthenticated}, charged {node.Transport.Charged(false)}, sources {node.Transport.Sources}");
    }

    [Theory]
    [InlineData("stranger")]
    [InlineData("member")]
    [InlineData("keyring")]
    [InlineData("keyring-member")]
    public async Task ReadStream_SeventyTwoPeersBehindOneAddress_OnlyAPlaintextMembersAddressIsNotHeldToItsCap(string who)
    {
        // 72 peers behind one address (a loopback or container cluster, a NAT) each keep a connection to the node and
        // send on it. A stranger's address holds at most 64 connections; in plaintext a member's address (the node sees
        // a member alive there) is held only to the limits all share. With a keyring nobody is exempt: neither the
        // address (a NAT neighbour, another process on a member's host) nor a frame that opens (a captured sealed frame
        // replayed on every connection, as these peers could be doing) proves a key holder.
        var keys = who.StartsWith("keyring", StringComparison.Ordinal) ? Keyring.Parse([WireSamples.NewKey()]) : null;
        var codec = new FrameCodec(Cluster, keys, MiB);
        await using var node = Node.Start(codec);
        var source = Source(6, 0);
        if (who.EndsWith("member", StringComparison.Ordinal))
        {
            node.Transport.SetMembers([source]);
        }

        long Closed() => node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit];
        var peers = new List<Socket>();
        try
        {
            for (var i = 0; i < 72; i++)
            {
                var peer = await node.ConnectAsync(source);
                peers.Add(peer);
                await SendQuietlyAsync(peer, codec.Encode(new Envelope($"peer-{i}", "127.0.0.1:7470", 1, 1, new Ping(1))));
                var seen = i + 1;
                Assert.True(await WaitAsync(() => node.Delivered.Count + Closed() >= seen), $"peer {i}: {node.Delivered.Count} delivered; closed {Closes(node)}");
            }

            for (var i = 0; i < 72; i++)
            {
                await SendQuietlyAsync(peers[i], codec.Encode(new Envelope($"peer-{i}", "127.0.0.1:7470", 1, 2, new GmDigest([], false))));
            }

            var exempt = who == "member";
            var expected = exempt ? 2 * 72 : 2 * 64;
            Assert.True(await WaitAsync(() => node.Delivered.Count >= expected), $"{node.Delivered.Count} of {expected} delivered; closed {Closes(node)}");
            output.WriteLine($"{who}: delivered {node.Delivered.Count} from {node.Delivered.Select(e => e.From).Distinct().Count()} peers; closed {Closes(node)}");
            Assert.Equal(exempt ? 0 : 8, Closed());
        }
        finally
        {
            foreach (var peer in peers)
            {
                peer.Dispose();
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadStream_PeersBehindOneAddressSendLargeFramesTogether_AMembersAddressIsNotHeldToItsShare(bool member)
    {
        // Frames of up to 1 MiB: one address may hold half the authenticated budget (2 MiB). Three authenticated peers
        // behind it are each 800 KiB into a 960 KiB frame at once: from a stranger's address one is cut; from a
        // member's address all three arrive (the budget all connections share, 4 MiB, still bounds them).
        var codec = new FrameCodec(Cluster, null, MiB);
        await using var node = Node.Start(codec);
        var source = Source(7, 0);
        if (member)
        {
            node.Transport.SetMembers([source]);
        }

        var frames = Enumerable.Range(0, 3)
            .Select(i => codec.Encode(new Envelope($"peer-{i}", "127.0.0.1:7470", 1, 2, new DirectData("kv.sync", new byte[960 * KiB]))))
            .ToList();
        var peers = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var peer = await node.ConnectAsync(source);
                peers.Add(peer);
                await SendQuietlyAsync(peer, codec.Encode(new Envelope($"peer-{i}", "127.0.0.1:7470", 1, 1, new Ping(1))));
            }

            Assert.True(await WaitAsync(() => node.Delivered.Count == 3), "the peers' first frames were not delivered");
            for (var i = 0; i < 3; i++)
            {
                await SendQuietlyAsync(peers[i], frames[i][..(800 * KiB)]);
            }

            long Closed() => node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit];
            await WaitAsync(() => Closed() > 0 || node.Transport.Charged(authenticated: true) >= 3 * 800 * KiB);
            for (var i = 0; i < 3; i++)
            {
                await SendQuietlyAsync(peers[i], frames[i][(800 * KiB)..]);
            }

            Assert.True(await WaitAsync(() => node.Delivered.Count + Closed() >= 6), $"{node.Delivered.Count - 3} of 3 delivered; closed {Closes(node)}");
            output.WriteLine($"member {member}: {node.Delivered.Count - 3} of 3 delivered; closed {Closes(node)}");
            Assert.Equal(member ? 0 : 1, Closed());
            Assert.Equal(member ? 6 : 5, node.Delivered.Count);
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
    public async Task ReadStream_AuthenticatedPeerOnASlowLink_ItsLargeFrameIsDelivered()
    {
        // The minimum rate meant for strangers used to apply to members too: 2 MiB at 256 KiB/s was cut at 8.5 s, and
        // an 8 MiB anti-entropy message never got through a link under ~5 Mbit/s. Scaled down: 256 KiB at 160 KiB/s
        // against a 200 ms grace and 1 MiB/s (the old deadline: 0.45 s; the transfer takes 1.6 s).
        var limits = StreamLimits.For(16 * MiB) with { FrameGrace = TimeSpan.FromMilliseconds(200) };
        var codec = new FrameCodec(Cluster, null, 16 * MiB);
        await using var node = Node.Start(codec, limits);
        using var member = await node.ConnectAsync();
        await member.SendAsync(codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 1, new Ping(1))));
        var frame = codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 2, new DirectData("kv.sync", new byte[256 * KiB])));

        for (var offset = 0; offset < frame.Length; offset += 16 * KiB)
        {
            await SendQuietlyAsync(member, frame[offset..Math.Min(frame.Length, offset + (16 * KiB))]);
            await Task.Delay(100);
        }

        Assert.True(await WaitAsync(() => node.Delivered.Count == 2), $"not delivered; closed {Closes(node)}");
        Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Stalled]);
    }

    [Fact]
    public async Task ReadStream_AuthenticatedPeerStopsInTheMiddleOfAFrame_ClosedAfterTheStallTimeoutAndBuffersComeBack()
    {
        var limits = StreamLimits.For(MiB) with { StallTimeout = TimeSpan.FromMilliseconds(500) };
        var codec = new FrameCodec(Cluster, null, MiB);
        await using var node = Node.Start(codec, limits);
        using var member = await node.ConnectAsync();
        await member.SendAsync(codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 1, new Ping(1))));
        await member.SendAsync(Header(Cluster, 512 * KiB));
        await member.SendAsync(new byte[100 * KiB]);

        var took = await ClosedByNodeAsync(member);

        output.WriteLine($"closed {took.TotalSeconds:F1} s after stalling");
        Assert.Equal(1, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Stalled]);
        Assert.True(await WaitAsync(() => Volatile.Read(ref node.Stats.StreamBufferedAuthenticated) == 0 && node.Transport.Charged(authenticated: true) == 0), "buffers not returned");
    }

    [Fact]
    public async Task ReadStream_AuthenticatedPeerSendsAFrameSealedWithAKeyThisNodeDoesNotHold_FrameDroppedConnectionKept()
    {
        // A key rotation under way: a peer already encrypts with a key this node does not hold yet. Such a frame used to
        // close even an authenticated connection (tearing down working links); now only the frame is lost.
        var key = WireSamples.NewKey();
        var codec = new FrameCodec(Cluster, Keyring.Parse([key]), MiB);

        // Frames name their key by a one-byte id: a new key whose id happens to be this node's key's (1 in 256) is tried
        // and fails to open (dropped as forged, not as unknown), so the test picks one with another id.
        Keyring next;
        do
        {
            next = Keyring.Parse([WireSamples.NewKey(), key])!;
        }
        while (next.PrimaryId == codec.Keyring!.PrimaryId);

        var ahead = new FrameCodec(Cluster, next, MiB);
        await using var node = Node.Start(codec);
        using var peer = await node.ConnectAsync();

        await peer.SendAsync(codec.Encode(new Envelope("node-1", "127.0.0.1:1", 1, 1, new Ping(1))));
        await peer.SendAsync(ahead.Encode(new Envelope("node-1", "127.0.0.1:1", 1, 2, new DirectData("kv.sync", new byte[100 * KiB]))));
        await peer.SendAsync(codec.Encode(new Envelope("node-1", "127.0.0.1:1", 1, 3, new Ping(3))));

        Assert.True(await WaitAsync(() => node.Delivered.Count == 2), $"{node.Delivered.Count} of 2 frames delivered; closed {Closes(node)}");
        Assert.Equal(1, node.Stats.Dropped[(int)DropReason.UnknownKey]);
        Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.Rejected]);
    }

    [Fact]
    public async Task ReadStream_ManyConnectionsFramesAndAbruptCloses_BudgetsAndGaugesComeBackToZero()
    {
        var codec = new FrameCodec(Cluster, null, 4 * MiB);
        await using var node = Node.Start(codec);
        var frame = codec.Encode(new Envelope("member", "127.0.0.1:1", 1, 2, new DirectData("kv.sync", new byte[700 * KiB])));
        var random = new Random(7);
        var cuts = Enumerable.Range(0, 64 * 5).Select(_ => random.Next(1, frame.Length)).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            for (var r = 0; r < 5; r++)
            {
                using var socket = await node.ConnectAsync(Source(4, i));
                await SendQuietlyAsync(socket, frame);
                await SendQuietlyAsync(socket, frame);
                await SendQuietlyAsync(socket, frame[..cuts[(i * 5) + r]]);
                if (r % 2 == 0)
                {
                    socket.LingerState = new LingerOption(true, 0); // closed with a reset
                }
            }
        }));

        Assert.True(
            await WaitAsync(() => node.Stats.StreamBufferedAuthenticated + node.Stats.StreamBufferedUnauthenticated == 0
                && node.Transport.Charged(authenticated: true) + node.Transport.Charged(authenticated: false) == 0
                && node.Transport.Sources == 0),
            $"gauges {node.Stats.StreamBufferedAuthenticated}/{node.Stats.StreamBufferedUnauthenticated}, charged {node.Transport.Charged(true)}/{node.Transport.Charged(false)}, sources {node.Transport.Sources}");
        output.WriteLine($"delivered {node.Delivered.Count}; closed {Closes(node)}");
    }

    [Fact]
    public async Task Send_NewStreamConnection_TheHelloGoesFirstThenTheQueuedFrames()
    {
        // The writer's first frame on every connection it opens is the node's hello, so the receiver authenticates the
        // connection before a large frame travels on it; the first frame used to be whatever was queued (a multi-MiB
        // anti-entropy message, charged to the source's small unauthenticated share and held to the minimum rate).
        var codec = new FrameCodec(Cluster, null, 16 * MiB);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        await using var sender = Node.Start(codec, hello: () => new Envelope("node-a", "127.0.0.1:7470", 3, 41, ConnectionHello.Message));
        var payload = new byte[3 * MiB];
        Random.Shared.NextBytes(payload);

        sender.Transport.Send(listener.LocalEndPoint!.ToString()!, new Envelope("node-a", "127.0.0.1:7470", 3, 42, new DirectData("kv.sync", payload)), reliable: true);
        using var connection = await listener.AcceptAsync().WaitAsync(Timeout);
        var first = await ReadFrameAsync(connection, codec);
        var second = await ReadFrameAsync(connection, codec);

        Assert.True(ConnectionHello.Is(first), $"the first frame is a {first.Body.GetType().Name}");
        Assert.Equal(("node-a", 3L, 41UL), (first.From, first.Epoch, first.Seq));
        Assert.Equal(payload, Assert.IsType<DirectData>(second.Body).Payload);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadStream_PeersOnOneHostSendLargeFramesOnNewConnections_AfterAHelloNoneIsCut(bool hello)
    {
        // Three peers on one host (a loopback cluster, a NAT) each open a connection and send 3 MiB of a 5 MiB frame at
        // once. As first frames they share the source's unauthenticated share (8 MiB + 64 KiB here): at least one is cut
        // and its frame lost. After a hello they are authenticated and share the source's part of the larger budget
        // (16 MiB). The hellos are not delivered.
        var codec = new FrameCodec(Cluster, null, 8 * MiB);
        await using var node = Node.Start(codec);
        var frame = codec.Encode(new Envelope("node-1", "127.0.0.1:7470", 1, 2, new DirectData("kv.sync", new byte[5 * MiB])));
        var peers = new List<Socket>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var peer = await node.ConnectAsync();
                peers.Add(peer);
                if (hello)
                {
                    await peer.SendAsync(codec.Encode(new Envelope($"node-{i}", "127.0.0.1:7470", 1, 1, ConnectionHello.Message)));
                }

                await SendQuietlyAsync(peer, frame[..(3 * MiB)]);
            }

            await Task.Delay(500);
            foreach (var peer in peers)
            {
                await SendQuietlyAsync(peer, frame[(3 * MiB)..]);
            }

            await WaitAsync(() => node.Delivered.Count + node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit] >= 3);
            await Task.Delay(200);
            output.WriteLine($"hello {hello}: delivered {node.Delivered.Count}; closed {Closes(node)}");
            Assert.All(node.Delivered, e => Assert.False(ConnectionHello.Is(e)));
            if (hello)
            {
                Assert.Equal(3, node.Delivered.Count);
                Assert.Equal(0, node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit]);
            }
            else
            {
                Assert.InRange(node.Delivered.Count, 0, 2);
                Assert.InRange(node.Stats.ConnectionsClosed[(int)ConnectionCloseReason.SourceLimit], 1, 3);
            }
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
    public async Task Send_PeersOnOneHostSendLargeFramesOnNewConnectionsAtOnce_AllDelivered()
    {
        // Real transports on 127.0.0.1, each sending a 6 MiB anti-entropy message to a node it has no connection to
        // yet, at once. As first frames they shared the source's unauthenticated share (16 MiB + 64 KiB): 2 of 3 (and
        // of 8 at 8 MiB) got through when they overlapped, the others were closed (source_limit) and not resent.
        var codec = new FrameCodec(Cluster, null, 16 * MiB);
        await using var node = Node.Start(codec);
        var senders = new List<Node>();
        try
        {
            for (var i = 0; i < 4; i++)
            {
                var name = $"peer-{i}";
                senders.Add(Node.Start(codec, hello: () => new Envelope(name, "127.0.0.1:7470", 1, 1, ConnectionHello.Message)));
            }

            var payload = new byte[6 * MiB];
            for (var i = 0; i < senders.Count; i++)
            {
                senders[i].Transport.Send(node.EndPoint.ToString(), new Envelope($"peer-{i}", senders[i].EndPoint.ToString(), 1, 2, new DirectData("kv.sync", payload)), reliable: true);
            }

            Assert.True(await WaitAsync(() => node.Delivered.Count == senders.Count), $"{node.Delivered.Count} of {senders.Count} delivered; closed {Closes(node)}");
            Assert.True(await WaitAsync(() => node.Transport.Charged(authenticated: true) + node.Transport.Charged(authenticated: false) == 0), "budgets not back to 0");
        }
        finally
        {
            foreach (var sender in senders)
            {
                await sender.DisposeAsync();
            }
        }
    }

    private static async Task<Envelope> ReadFrameAsync(Socket socket, FrameCodec codec)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var header = new byte[FrameCodec.HeaderSize];
        await ReadExactlyAsync(socket, header, cts.Token);
        var frame = new byte[FrameCodec.HeaderSize + (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(10))];
        header.CopyTo(frame, 0);
        await ReadExactlyAsync(socket, frame.AsMemory(FrameCodec.HeaderSize), cts.Token);
        Assert.Equal(DropReason.None, codec.TryDecode(frame, out var envelope));
        return envelope!;
    }

    private static async Task ReadExactlyAsync(Socket socket, Memory<byte> target, CancellationToken token)
    {
        while (target.Length > 0)
        {
            var read = await socket.ReceiveAsync(target, SocketFlags.None, token);
            Assert.True(read > 0, "the connection closed");
            target = target[read..];
        }
    }

    /// <summary>A loopback address other than 127.0.0.1 (Linux answers the whole of 127/8): another source to the node.</summary>
    private static IPAddress Source(int group, int index) => new([127, (byte)(10 + group), (byte)(index / 250), (byte)(1 + (index % 250))]);

    private static string Closes(Node node) =>
        string.Join(", ", Enum.GetValues<ConnectionCloseReason>().Where(r => r != ConnectionCloseReason.None).Select(r => $"{r} {node.Stats.ConnectionsClosed[(int)r]}"));

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

    private static Task<bool> WaitAsync(Func<bool> condition) => Poll.UntilAsync(condition, Timeout);

    /// <summary>A transport on a loopback port that records what it delivers.</summary>
    private sealed class Node : IAsyncDisposable
    {
        private readonly SocketTransport _transport;

        private Node(FrameCodec codec, StreamLimits? limits) =>
            _transport = new SocketTransport(codec, 60_000, Stats, NullLogger.Instance, TimeProvider.System, limits);

        public NodeStats Stats { get; } = new();

        public SocketTransport Transport => _transport;

        public ConcurrentQueue<Envelope> Delivered { get; } = new();

        public IPEndPoint EndPoint => _transport.LocalEndPoint!;

        public static Node Start(FrameCodec codec, StreamLimits? limits = null, Func<Envelope>? hello = null)
        {
            var node = new Node(codec, limits);
            node._transport.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            node._transport.Start(node.Delivered.Enqueue, hello);
            return node;
        }

        /// <summary>A connection to the node, from <paramref name="from"/> (127.0.0.1 if not given).</summary>
        public async Task<Socket> ConnectAsync(IPAddress? from = null)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }

            await socket.ConnectAsync(EndPoint).WaitAsync(Timeout);
            return socket;
        }

        public ValueTask DisposeAsync() => _transport.DisposeAsync();
    }
}
