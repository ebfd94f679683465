using System.Buffers.Binary;
using System.Security.Cryptography;
using Lashup.Plugins.Core.Wire;
using MessagePack;

namespace Lashup.Plugins.Core.Tests.Wire;

/// <summary>Sample messages, keys and hand-made frames shared by the wire tests.</summary>
internal static class WireSamples
{
    public const string Cluster = "test-cluster";
    public const int MaxFrameSize = 64 * 1024;

    public static NodeRef Node(int i) => new($"node-{i}", $"10.0.{i / 256}.{i % 256}:7470");

    public static AdjacencyRecord Record(int i) => new(
        $"node-{i}",
        $"[fd00::{i:x}]:7470",
        Epoch: 1_700_000_000 + i,
        Counter: i * 7,
        Neighbors: [$"node-{i + 1}", $"node-{i + 2}", "ünïcødé-名前"],
        Metadata: new Dictionary<string, string> { ["zone"] = $"z{i}", ["rack"] = "r1", ["empty"] = "" },
        Left: i % 2 == 0);

    /// <summary>One valid instance of every message type, keyed by type name, with non-empty collections.</summary>
    public static IReadOnlyDictionary<string, Message> Messages { get; } = new Message[]
    {
        new Join(Node(1)),
        new JoinReply(false, "view full", [Node(2), Node(3)], Fatal: true),
        new ForwardJoin(Node(4), MessageValidator.MaxTimeToLive),
        new NeighborRequest(HighPriority: true),
        new NeighborReply(Accepted: true),
        new Disconnect(Leaving: true),
        new Shuffle(Node(5), 3, [Node(6), Node(7), Node(8)], uint.MaxValue),
        new ShuffleReply(42, [Node(9)]),
        new Ping(ulong.MaxValue),
        new Ack(1),
        new PingRequest(77, Node(10)),
        new IndirectAck(78, "node-10"),
        new AdjacencyUpdate(Record(11)),
        new GmDigest([new GmVersion("node-1", 1, 2), new GmVersion("node-2", long.MaxValue, 0)], WantReply: true, DeparturesCount: 3, DeparturesHash: ulong.MaxValue),
        new GmRecords([Record(12), Record(13)]),
        new MulticastData("node-14", 5, 9, "dns/records", [0, 1, 2, 0xff, 0x80]),
        new DirectData("kv.sync", [0, 1, 2, 0xff, 0x80]),
        new Departures([new DepartureEntry("node-15~0a1b2c3d4e5f", 1_700_000_000_000, 1, Retired: true), new DepartureEntry("ünïcødé-名前", 0, 0, false)], Complete: true, Roster: ["node-16~0a1b2c3d4e5f", "node-17"]),
    }.ToDictionary(m => m.GetType().Name);

    public static Envelope Envelope(Message body, ulong seq = 1) => new("node-0", "127.0.0.1:7470", 3, seq, body);

    public static string NewKey(int bytes = 32) => Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes));

    public static byte KeyId(string key) => SHA256.HashData(Convert.FromBase64String(key))[0];

    /// <summary>Two random keys whose one-byte ids differ (1 in 256 pairs collide).</summary>
    public static (string, string) DistinctKeys(int bytes = 32)
    {
        var first = NewKey(bytes);
        while (true)
        {
            var second = NewKey(bytes);
            if (KeyId(second) != KeyId(first))
            {
                return (first, second);
            }
        }
    }

    public static FrameCodec Codec(params string[] keys) =>
        new(Cluster, Keyring.Parse(keys), MaxFrameSize);

    /// <summary>A 14-byte header as the codec writes it, with everything overridable.</summary>
    public static byte[] Header(uint bodyLength, bool encrypted = false, byte keyId = 0, string cluster = Cluster, byte version = FrameCodec.Version)
    {
        var header = new byte[FrameCodec.HeaderSize];
        header[0] = (byte)'L';
        header[1] = (byte)'X';
        header[2] = version;
        header[3] = encrypted ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), FrameCodec.ClusterHash(cluster));
        header[8] = keyId;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(10), bodyLength);
        return header;
    }

    /// <summary>A plaintext frame around arbitrary body bytes.</summary>
    public static byte[] PlainFrame(ReadOnlySpan<byte> body) => [.. Header((uint)body.Length), .. body];

    /// <summary>An encrypted frame around arbitrary body bytes, sealed with <paramref name="key"/> exactly as the codec would.</summary>
    public static byte[] SealedFrame(ReadOnlySpan<byte> body, string key)
    {
        var header = Header((uint)(12 + body.Length + 16), encrypted: true, keyId: KeyId(key));
        var nonce = RandomNumberGenerator.GetBytes(12);
        var cipher = new byte[body.Length];
        var tag = new byte[16];
        using var aes = new AesGcm(Convert.FromBase64String(key), 16);
        aes.Encrypt(nonce, body, cipher, tag, header);
        return [.. header, .. nonce, .. cipher, .. tag];
    }

    /// <summary>The MessagePack body of an envelope, as the codec serializes it.</summary>
    public static byte[] Body(Envelope envelope) => MessagePackSerializer.Serialize(envelope, MessagePackSerializerOptions.Standard);

    /// <summary>
    /// An envelope written by hand: the fixed fields, then <paramref name="writeBody"/> writes the Body slot (a union
    /// is [tag, fields]).
    /// </summary>
    public static byte[] RawEnvelope(Action<MessagePackBuilder> writeBody)
    {
        var box = new MessagePackBuilder();
        box.Array(5);
        box.Str("node-0");
        box.Str("127.0.0.1:7470");
        box.Int(3);
        box.Int(1);
        writeBody(box);
        return box.ToArray();
    }

    /// <summary>Writes MessagePack by hand, lying headers included; a class so lambdas can capture it (MessagePackWriter is a ref struct).</summary>
    internal sealed class MessagePackBuilder
    {
        private readonly List<byte> _bytes = [];

        public void Raw(params byte[] bytes) => _bytes.AddRange(bytes);

        public void Array(uint count) => Header(0x90, 0xdc, 0xdd, count);

        public void Map(uint count) => Header(0x80, 0xde, 0xdf, count);

        public void Str(string s)
        {
            var utf8 = System.Text.Encoding.UTF8.GetBytes(s);
            if (utf8.Length < 32)
            {
                _bytes.Add((byte)(0xa0 | utf8.Length));
            }
            else
            {
                _bytes.Add(0xdb);
                Be32((uint)utf8.Length);
            }

            _bytes.AddRange(utf8);
        }

        public void Int(long value)
        {
            _bytes.Add(0xd3);
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(b, value);
            _bytes.AddRange(b.ToArray());
        }

        public void Be32(uint value)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(b, value);
            _bytes.AddRange(b.ToArray());
        }

        public void Nil() => _bytes.Add(0xc0);

        public void Bool(bool value) => _bytes.Add(value ? (byte)0xc3 : (byte)0xc2);

        public byte[] ToArray() => [.. _bytes];

        private void Header(byte fix, byte x16, byte x32, uint count)
        {
            if (count < 16)
            {
                _bytes.Add((byte)(fix | count));
            }
            else if (count <= ushort.MaxValue)
            {
                _bytes.Add(x16);
                _bytes.Add((byte)(count >> 8));
                _bytes.Add((byte)count);
            }
            else
            {
                _bytes.Add(x32);
                Be32(count);
            }
        }
    }
}
