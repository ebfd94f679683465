using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

/// <summary>A query as a fake upstream received it.</summary>
internal sealed record UpstreamRequest(byte[] Packet, DnsQuery Query, bool OverTcp)
{
    public string Name => Query.GetNameText();
}

/// <summary>What a fake upstream does with a query: datagrams from another port first (forgeries), then its own, or nothing.</summary>
internal sealed record UpstreamReply(IReadOnlyList<byte[]> Datagrams, IReadOnlyList<byte[]>? FromOtherPort = null)
{
    public static UpstreamReply Silent { get; } = new([]);

    public static implicit operator UpstreamReply(byte[] datagram) => new([datagram]);
}

/// <summary>
/// A tiny DNS server on 127.0.0.1 or ::1 (UDP, and TCP on the same port) built from the codec: every query is parsed,
/// counted and recorded, and the handler decides what to send back. Disposing stops both loops and waits for them.
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly UdpClient _udp;
    private readonly UdpClient _otherPort;
    private readonly TcpListener? _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly ConcurrentBag<Task> _connections = [];
    private int _udpQueries;
    private int _tcpQueries;

    public FakeUpstream(Func<UpstreamRequest, UpstreamReply> handler, bool tcp = false, IPAddress? address = null)
    {
        Handler = handler;
        address ??= IPAddress.Loopback;
        _otherPort = new UdpClient(new IPEndPoint(address, 0));
        _udp = new UdpClient(new IPEndPoint(address, 0));
        EndPoint = (IPEndPoint)_udp.Client.LocalEndPoint!;
        if (tcp)
        {
            _tcp = new TcpListener(EndPoint);
            _tcp.Start();
            _loops.Add(Task.Run(AcceptAsync));
        }

        _loops.Add(Task.Run(ReceiveAsync));
    }

    private int _disposed;

    public IPEndPoint EndPoint { get; }

    /// <summary>Replaceable at any time (an upstream that recovers).</summary>
    public Func<UpstreamRequest, UpstreamReply> Handler { get; set; }

    /// <summary>When set, each UDP query is answered only once this completes (an upstream that is slow on purpose).</summary>
    public Task? HoldUntil { get; set; }

    public int UdpQueries => Volatile.Read(ref _udpQueries);

    public int TcpQueries => Volatile.Read(ref _tcpQueries);

    public ConcurrentQueue<UpstreamRequest> Requests { get; } = new();

    /// <summary>A port on 127.0.0.1 where nothing listens (bound then released).</summary>
    public static IPEndPoint UnusedEndPoint()
    {
        using var socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)socket.Client.LocalEndPoint!;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        _udp.Dispose();
        _otherPort.Dispose();
        _tcp?.Stop();
        await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }

    private async Task ReceiveAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try
            {
                received = await _udp.ReceiveAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            if (!DnsQueryParser.TryParse(received.Buffer, out var query, out _))
            {
                continue;
            }

            Interlocked.Increment(ref _udpQueries);
            var request = new UpstreamRequest(received.Buffer, query, OverTcp: false);
            Requests.Enqueue(request);
            try
            {
                if (HoldUntil is { } hold)
                {
                    await hold.WaitAsync(_stop.Token);
                }

                var reply = Handler(request);
                foreach (var forged in reply.FromOtherPort ?? [])
                {
                    await _otherPort.SendAsync(forged, received.RemoteEndPoint, _stop.Token);
                }

                foreach (var datagram in reply.Datagrams)
                {
                    await _udp.SendAsync(datagram, received.RemoteEndPoint, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _tcp!.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var connection = client;
        try
        {
            var prefix = new byte[2];
            await client.ReceiveAsync(prefix, _stop.Token);
            var packet = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
            for (var read = 0; read < packet.Length;)
            {
                var n = await client.ReceiveAsync(packet.AsMemory(read), _stop.Token);
                if (n == 0)
                {
                    return;
                }

                read += n;
            }

            if (!DnsQueryParser.TryParse(packet, out var query, out _))
            {
                return;
            }

            Interlocked.Increment(ref _tcpQueries);
            var request = new UpstreamRequest(packet, query, OverTcp: true);
            Requests.Enqueue(request);
            foreach (var message in Handler(request).Datagrams)
            {
                var frame = new byte[2 + message.Length];
                BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)message.Length);
                message.CopyTo(frame, 2);
                await client.SendAsync(frame, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }
}

/// <summary>Responses a fake upstream sends, written with the codec.</summary>
internal static class Answers
{
    public static readonly byte[] Zone = DnsName.FromText("example.org");
    public static readonly byte[] NameServer = DnsName.FromText("ns.example.org");
    public static readonly byte[] Mailbox = DnsName.FromText("hostmaster.example.org");

    /// <summary>A records for the question, each with <paramref name="ttl"/>.</summary>
    public static byte[] A(UpstreamRequest request, uint ttl = 300, params string[] addresses)
    {
        return Write(request, DnsResponseCode.NoError, (ref DnsResponseWriter writer, ReadOnlySpan<byte> name) =>
        {
            foreach (var address in addresses.Length == 0 ? ["192.0.2.1"] : addresses)
            {
                writer.AddAddress(DnsSection.Answer, name, ttl, IPAddress.Parse(address));
            }
        });
    }

    /// <summary>A CNAME (TTL <paramref name="cnameTtl"/>) then an A record (TTL <paramref name="aTtl"/>).</summary>
    public static byte[] CnameThenA(UpstreamRequest request, uint cnameTtl, uint aTtl)
    {
        var target = DnsName.FromText("target.example.org");
        return Write(request, DnsResponseCode.NoError, (ref DnsResponseWriter writer, ReadOnlySpan<byte> name) =>
        {
            writer.AddCname(DnsSection.Answer, name, cnameTtl, target);
            writer.AddAddress(DnsSection.Answer, target, aTtl, IPAddress.Parse("192.0.2.7"));
        });
    }

    /// <summary>NXDOMAIN (or NODATA) with the zone's SOA in authority.</summary>
    public static byte[] Negative(UpstreamRequest request, uint soaTtl, uint minimum, bool nxDomain = true)
    {
        return Write(request, nxDomain ? DnsResponseCode.NxDomain : DnsResponseCode.NoError, (ref DnsResponseWriter writer, ReadOnlySpan<byte> _) =>
            writer.AddSoa(DnsSection.Authority, Zone, soaTtl, NameServer, Mailbox, 2024010101, 3600, 600, 86400, minimum));
    }

    /// <summary>An NXDOMAIN without SOA (not cacheable, RFC 2308 §5).</summary>
    public static byte[] NxWithoutSoa(UpstreamRequest request) => Write(request, DnsResponseCode.NxDomain, null);

    /// <summary>An error response (SERVFAIL, REFUSED...).</summary>
    public static byte[] Error(UpstreamRequest request, DnsResponseCode code) => Write(request, code, null);

    /// <summary>A UDP answer cut short: TC set, no records.</summary>
    public static byte[] Truncated(UpstreamRequest request)
    {
        var message = Write(request, DnsResponseCode.NoError, null);
        message[2] |= 0x02;
        return message;
    }

    /// <summary>An answer of <paramref name="count"/> A records (about 16 octets each), too large for 1232-octet UDP when count is 100.</summary>
    public static byte[] Many(UpstreamRequest request, int count) =>
        A(request, 300, [.. Enumerable.Range(0, count).Select(i => $"10.0.{i / 250}.{(i % 250) + 1}")]);

    public static byte[] WithId(byte[] message, ushort id)
    {
        var copy = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(copy, id);
        return copy;
    }

    public static ushort IdOf(UpstreamRequest request) => request.Query.Header.Id;

    private delegate void Records(ref DnsResponseWriter writer, ReadOnlySpan<byte> name);

    private static byte[] Write(UpstreamRequest request, DnsResponseCode code, Records? records)
    {
        var buffer = new byte[65535];
        var writer = new DnsResponseWriter(buffer, 65535);
        Assert.True(writer.BeginResponse(request.Query, request.Packet));
        var header = writer.Header;
        header.RecursionAvailable = true;
        writer.Header = header;
        writer.ResponseCode = code;
        var name = request.Query.Name.ToArray();
        records?.Invoke(ref writer, name);
        return buffer.AsSpan(0, writer.Finish()).ToArray();
    }
}
