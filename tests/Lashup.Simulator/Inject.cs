using System.Net;
using System.Net.Sockets;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Simulator;

/// <summary>
/// Benchmark helper: hands a real daemon the member-graph records of <c>count</c> synthetic members over its TCP port
/// (as a member-graph sync would), so its memory can be measured with a large member list. Loopback only.
/// </summary>
internal static class Inject
{
    public static async Task RunAsync(string target, string cluster, int count)
    {
        var endpoint = IPEndPoint.Parse(target);
        if (!IPAddress.IsLoopback(endpoint.Address))
        {
            throw new ArgumentException("inject only talks to loopback addresses");
        }

        var codec = new FrameCodec(cluster, null, 16 * 1024 * 1024);
        var records = Enumerable.Range(0, count).Select(i => new AdjacencyRecord(
            $"synthetic-{i:D5}",
            $"127.{(i / 250 / 250) % 250}.{(i / 250) % 250}.{(i % 250) + 1}:7470",
            1,
            1,
            [.. Enumerable.Range(1, 7).Select(k => $"synthetic-{(i + k) % count:D5}")],
            new Dictionary<string, string> { ["zone"] = $"z{i % 3}", ["overlay.subnet"] = $"10.240.{i % 256}.0/24" },
            false)).ToArray();
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint);
        ulong seq = 0;
        foreach (var chunk in records.Chunk(500))
        {
            var frame = codec.Encode(new Envelope("synthetic-injector", "127.0.0.1:1", 1, ++seq, new GmRecords(chunk)));
            await socket.SendAsync(frame);
        }

        Console.WriteLine($"sent {count} member records to {target}");
    }
}
