using System.Buffers.Binary;
using System.Reflection;
using System.Text;
using Lashup.Plugins.Core.Wire;
using MessagePack;
using static Lashup.Plugins.Core.Tests.Wire.WireSamples;

namespace Lashup.Plugins.Core.Tests.Wire;

public class FrameCodecTests
{
    private static readonly Message Probe = new Ping(7);

    public static TheoryData<string, int> EveryMessageAndKeySize()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in Messages.Keys)
        {
            foreach (var keyBytes in new[] { 0, 16, 24, 32 })
            {
                data.Add(name, keyBytes);
            }
        }

        return data;
    }

    [Fact]
    public void Samples_EveryUnionCase_HasOneSample()
    {
        var unionTypes = typeof(Message).GetCustomAttributes<UnionAttribute>().Select(u => u.SubType.Name).Order(StringComparer.Ordinal);

        Assert.Equal(unionTypes, Messages.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(EveryMessageAndKeySize))]
    public void TryDecode_EncodedMessage_RoundTrips(string messageType, int keyBytes)
    {
        var codec = keyBytes == 0 ? Codec() : Codec(NewKey(keyBytes));
        var envelope = Envelope(Messages[messageType], seq: 12345);

        var frame = codec.Encode(envelope);
        var reason = codec.TryDecode(frame, out var decoded);

        Assert.Equal(DropReason.None, reason);
        WireAssert.Equal(envelope, decoded);
        Assert.Equal(keyBytes != 0, (frame[3] & 1) != 0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    public void TryDecode_ExtremeButValidValues_RoundTrip(int keyBytes)
    {
        // Every limit at once (64 metadata values of 1 KiB) needs more than the tests' usual 64 KiB frames.
        var codec = new FrameCodec(Cluster, keyBytes == 0 ? null : Keyring.Parse([NewKey(keyBytes)]), 1024 * 1024);
        var longName = new string('n', MessageValidator.MaxNameLength);
        var envelopes = new[]
        {
            new Envelope(longName, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", long.MaxValue, ulong.MaxValue, new Ping(0)),
            new Envelope("ü", "0.0.0.0:1", 0, 0, new JoinReply(true, null, [], false)),
            new Envelope("a", "1.2.3.4:5", 1, 1, new Shuffle(Node(1), 0, [.. Enumerable.Range(0, MessageValidator.MaxSampleSize).Select(Node)], 0)),
            new Envelope("a", "1.2.3.4:5", 1, 1, new GmRecords([])),
            new Envelope("a", "1.2.3.4:5", 1, 1, new MulticastData("o", 0, ulong.MaxValue, new string('t', MessageValidator.MaxTopicLength), [])),
            new Envelope("a", "1.2.3.4:5", 1, 1, new AdjacencyUpdate(new AdjacencyRecord(
                "n", "1.2.3.4:5", 0, 0, [.. Enumerable.Range(0, MessageValidator.MaxNeighbors).Select(i => $"n{i}")],
                Enumerable.Range(0, MessageValidator.MaxMetadataEntries).ToDictionary(i => new string('k', MessageValidator.MaxMetadataKeyLength - 2) + i.ToString("x2"), _ => new string('v', MessageValidator.MaxMetadataValueLength)),
                false))),
        };

        foreach (var envelope in envelopes)
        {
            Assert.Equal(DropReason.None, codec.TryDecode(codec.Encode(envelope), out var decoded));
            WireAssert.Equal(envelope, decoded);
        }
    }

    [Fact]
    public void Encode_Plaintext_WritesDocumentedHeader()
    {
        var envelope = Envelope(Probe);

        var frame = Codec().Encode(envelope);

        Assert.Equal(Header((uint)(frame.Length - FrameCodec.HeaderSize)), frame[..FrameCodec.HeaderSize]);
        Assert.Equal(Body(envelope), frame[FrameCodec.HeaderSize..]);
    }

    [Fact]
    public void Encode_Encrypted_NamesPrimaryKeyAndHidesBody()
    {
        var (primary, secondary) = DistinctKeys();
        var envelope = new Envelope("secret-node-name", "127.0.0.1:7470", 1, 1, new IndirectAck(1, "another-secret"));

        var frame = Codec(primary, secondary).Encode(envelope);

        Assert.Equal(Header((uint)(frame.Length - FrameCodec.HeaderSize), encrypted: true, keyId: KeyId(primary)), frame[..FrameCodec.HeaderSize]);
        Assert.Equal(Body(envelope).Length + 12 + 16, frame.Length - FrameCodec.HeaderSize);
        var text = Encoding.Latin1.GetString(frame);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_SameEnvelopeTwice_UsesDistinctNonces()
    {
        var codec = Codec(NewKey());
        var envelope = Envelope(Probe);

        var first = codec.Encode(envelope);
        var second = codec.Encode(envelope);

        Assert.NotEqual(first.AsSpan(FrameCodec.HeaderSize, 12).ToArray(), second.AsSpan(FrameCodec.HeaderSize, 12).ToArray());
        Assert.NotEqual(first[(FrameCodec.HeaderSize + 12)..], second[(FrameCodec.HeaderSize + 12)..]);
    }

    [Fact]
    public void Encode_ConcurrentEncodeAndDecodeOnOneCodec_EveryFrameOpens()
    {
        // The transport encodes on senders' threads and decodes on the UDP loop and every TCP reader at once.
        var key = NewKey();
        var codec = Codec(key);
        var failures = 0;
        var nonces = new System.Collections.Concurrent.ConcurrentDictionary<string, byte>();

        Parallel.For(0, Math.Max(4, Environment.ProcessorCount) * 2, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(4, Environment.ProcessorCount) * 2 }, thread =>
        {
            for (var i = 0; i < 500; i++)
            {
                var envelope = Envelope(new Ping((ulong)i), (ulong)thread);
                var frame = codec.Encode(envelope);
                nonces.TryAdd(Convert.ToHexString(frame, FrameCodec.HeaderSize, 12), 0);
                if (codec.TryDecode(frame, out var decoded) != DropReason.None || decoded?.Body != envelope.Body)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        Assert.Equal(0, failures);
        Assert.Equal(Math.Max(4, Environment.ProcessorCount) * 2 * 500, nonces.Count);
    }

    [Fact]
    public void TryDecode_KeyRotation_OldAndNewKeysOverlap()
    {
        var (k1, k2) = DistinctKeys();
        var a = Codec(k1);
        var b = Codec(k2, k1);
        var c = Codec(k2);
        var envelope = Envelope(Probe);

        // B already knows K2 but still accepts K1 frames; C, which only has K2, cannot read them.
        Assert.Equal(DropReason.None, b.TryDecode(a.Encode(envelope), out var viaB));
        WireAssert.Equal(envelope, viaB);
        Assert.Equal(DropReason.UnknownKey, c.TryDecode(a.Encode(envelope), out _));

        // A and B both read C's frames once A adds K2 (B's primary frames too).
        var aRotated = Codec(k2, k1);
        Assert.Equal(DropReason.None, c.TryDecode(aRotated.Encode(envelope), out var viaC));
        WireAssert.Equal(envelope, viaC);
        Assert.Equal(DropReason.None, aRotated.TryDecode(c.Encode(envelope), out _));
        Assert.Equal(DropReason.None, aRotated.TryDecode(b.Encode(envelope), out _));
        Assert.Equal(DropReason.None, aRotated.TryDecode(a.Encode(envelope), out _));
    }

    [Fact]
    public void TryDecode_KeyIdCollidesButKeyDiffers_AuthenticationFailed()
    {
        var k1 = NewKey();
        string k2;
        do
        {
            k2 = NewKey();
        }
        while (KeyId(k2) != KeyId(k1));

        Assert.Equal(DropReason.AuthenticationFailed, Codec(k2).TryDecode(Codec(k1).Encode(Envelope(Probe)), out _));

        // With both keys under one id, the receiver tries each.
        Assert.Equal(DropReason.None, Codec(k2, k1).TryDecode(Codec(k1).Encode(Envelope(Probe)), out _));

        // Also when the frame is opened where it lies (the stream reader): a failed attempt wipes its output, which is
        // the sealed body itself, so the body is kept aside for the next key.
        var frame = Codec(k1).Encode(Envelope(Probe));
        Assert.Equal(DropReason.None, Codec(k2, k1).TryDecodeInPlace(frame, out var opened));
        WireAssert.Equal(Envelope(Probe), opened);
    }

    private sealed record Rejection(Func<FrameCodec> Codec, Func<byte[]> Frame, DropReason Expected);

    private static readonly string Key1 = NewKey();
    private static readonly string Key2 = DistinctFrom(Key1);

    private static string DistinctFrom(string key)
    {
        while (true)
        {
            var other = NewKey();
            if (KeyId(other) != KeyId(key))
            {
                return other;
            }
        }
    }

    private static byte[] ValidPlain() => Codec().Encode(Envelope(Probe));

    private static byte[] ValidSealed() => Codec(Key1).Encode(Envelope(Probe));

    private static byte[] With(byte[] frame, Action<byte[]> change)
    {
        change(frame);
        return frame;
    }

    private static byte[] WithLength(byte[] frame, uint length) =>
        With(frame, f => BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(10), length));

    private static readonly Dictionary<string, Rejection> Rejections = new()
    {
        ["empty frame"] = new(() => Codec(), () => [], DropReason.Truncated),
        ["one byte"] = new(() => Codec(), () => [(byte)'L'], DropReason.Truncated),
        ["header minus one byte"] = new(() => Codec(), () => ValidPlain()[..(FrameCodec.HeaderSize - 1)], DropReason.Truncated),
        ["encrypted body shorter than nonce and tag"] = new(() => Codec(Key1), () => [.. Header(27, encrypted: true, keyId: KeyId(Key1)), .. new byte[27]], DropReason.Truncated),
        ["bad magic first byte"] = new(() => Codec(), () => With(ValidPlain(), f => f[0] = (byte)'M'), DropReason.BadMagic),
        ["bad magic second byte"] = new(() => Codec(), () => With(ValidPlain(), f => f[1] = (byte)'Y'), DropReason.BadMagic),
        ["http request"] = new(() => Codec(), () => Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), DropReason.BadMagic),
        ["version 2"] = new(() => Codec(), () => With(ValidPlain(), f => f[2] = 2), DropReason.UnsupportedVersion),
        ["version 0"] = new(() => Codec(), () => With(ValidPlain(), f => f[2] = 0), DropReason.UnsupportedVersion),
        ["other cluster"] = new(() => Codec(), () => new FrameCodec("other-cluster", null, MaxFrameSize).Encode(Envelope(Probe)), DropReason.WrongCluster),
        ["other cluster encrypted"] = new(() => Codec(Key1), () => new FrameCodec("other-cluster", Keyring.Parse([Key1]), MaxFrameSize).Encode(Envelope(Probe)), DropReason.WrongCluster),
        ["declared length larger than frame"] = new(() => Codec(), () => { var f = ValidPlain(); return WithLength(f, (uint)(f.Length - FrameCodec.HeaderSize + 1)); }, DropReason.LengthMismatch),
        ["declared length smaller than frame"] = new(() => Codec(), () => { var f = ValidPlain(); return WithLength(f, (uint)(f.Length - FrameCodec.HeaderSize - 1)); }, DropReason.LengthMismatch),
        ["declared length zero"] = new(() => Codec(), () => WithLength(ValidPlain(), 0), DropReason.LengthMismatch),
        ["frame cut short"] = new(() => Codec(), () => ValidPlain()[..^1], DropReason.LengthMismatch),
        ["header only"] = new(() => Codec(), () => ValidPlain()[..FrameCodec.HeaderSize], DropReason.LengthMismatch),
        ["declared length one over limit"] = new(() => Codec(), () => WithLength(ValidPlain(), (uint)(MaxFrameSize - FrameCodec.HeaderSize + 1)), DropReason.TooLarge),
        ["declared length 2 GB"] = new(() => Codec(), () => WithLength(ValidPlain(), 0x8000_0000), DropReason.TooLarge),
        ["declared length 4 GB"] = new(() => Codec(), () => WithLength(ValidPlain(), uint.MaxValue), DropReason.TooLarge),
        ["header claiming 4 GB alone"] = new(() => Codec(), () => Header(uint.MaxValue), DropReason.TooLarge),
        ["frame longer than limit"] = new(() => Codec(), () => [.. Header(MaxFrameSize - FrameCodec.HeaderSize + 1), .. new byte[MaxFrameSize - FrameCodec.HeaderSize + 1]], DropReason.TooLarge),
        ["plaintext to encrypting codec"] = new(() => Codec(Key1), ValidPlain, DropReason.NotEncrypted),
        ["encrypted to plaintext codec"] = new(() => Codec(), ValidSealed, DropReason.UnexpectedEncryption),
        ["key id no key matches"] = new(() => Codec(Key2), ValidSealed, DropReason.UnknownKey),
        ["key id rewritten"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[8] = KeyId(Key2)), DropReason.UnknownKey),
        ["flipped ciphertext bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[FrameCodec.HeaderSize + 12 + 3] ^= 0x10), DropReason.AuthenticationFailed),
        ["flipped last ciphertext bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[^17] ^= 0x80), DropReason.AuthenticationFailed),
        ["flipped tag bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[^1] ^= 0x01), DropReason.AuthenticationFailed),
        ["flipped first tag bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[^16] ^= 0x80), DropReason.AuthenticationFailed),
        ["flipped nonce bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[FrameCodec.HeaderSize] ^= 0x01), DropReason.AuthenticationFailed),
        ["flipped reserved header bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[9] ^= 0x01), DropReason.AuthenticationFailed),
        ["flipped unused flag bit"] = new(() => Codec(Key1), () => With(ValidSealed(), f => f[3] ^= 0x02), DropReason.AuthenticationFailed),
        ["sealed by the right key id with another key"] = new(() => Codec(Key1), () => With(SealedFrame(Body(Envelope(Probe)), Key2), f => f[8] = KeyId(Key1)), DropReason.AuthenticationFailed),
        ["garbage body"] = new(() => Codec(), () => PlainFrame([0xc1, 0x00, 0xff]), DropReason.Malformed),
        ["garbage body encrypted"] = new(() => Codec(Key1), () => SealedFrame([0xc1, 0x00, 0xff], Key1), DropReason.Malformed),
        ["empty body"] = new(() => Codec(), () => PlainFrame([]), DropReason.Malformed),
        ["empty body encrypted"] = new(() => Codec(Key1), () => SealedFrame([], Key1), DropReason.Malformed),
        ["body cut short"] = new(() => Codec(), () => PlainFrame(Body(Envelope(Probe))[..^1]), DropReason.Malformed),
        ["envelope is a map"] = new(() => Codec(), () => PlainFrame([0x81, 0xa1, (byte)'a', 0x01]), DropReason.Malformed),
        ["envelope is a string"] = new(() => Codec(), () => PlainFrame([0xa3, (byte)'a', (byte)'b', (byte)'c']), DropReason.Malformed),
        ["field of the wrong type"] = new(() => Codec(), () => PlainFrame(RawEnvelope(b => { b.Array(2); b.Int(8); b.Array(1); b.Str("not a number"); })), DropReason.Malformed),
        ["union tag not an integer"] = new(() => Codec(), () => PlainFrame(RawEnvelope(b => { b.Array(2); b.Str("8"); b.Array(1); b.Int(1); })), DropReason.Malformed),
        ["trailing byte"] = new(() => Codec(), () => PlainFrame([.. Body(Envelope(Probe)), 0xc0]), DropReason.Malformed),
        ["second envelope appended"] = new(() => Codec(), () => PlainFrame([.. Body(Envelope(Probe)), .. Body(Envelope(Probe))]), DropReason.Malformed),
        ["trailing byte encrypted"] = new(() => Codec(Key1), () => SealedFrame([.. Body(Envelope(Probe)), 0x00], Key1), DropReason.Malformed),
        ["string longer than the frame"] = new(() => Codec(), () => PlainFrame(RawEnvelope(b => { b.Array(2); b.Int(11); b.Array(2); b.Int(1); b.Raw(0xdb, 0x7f, 0xff, 0xff, 0xff); })), DropReason.Malformed),
        ["array claiming 2^31 elements"] = new(() => Codec(), () => PlainFrame(RawEnvelope(b => { b.Array(2); b.Int(13); b.Array(2); b.Array(0x8000_0000); })), DropReason.Malformed),
    };

    public static TheoryData<string> RejectionCases() => [.. Rejections.Keys];

    [Theory]
    [MemberData(nameof(RejectionCases))]
    public void TryDecode_BrokenFrame_DropsWithExactReason(string name)
    {
        var (codec, frame, expected) = Rejections[name];

        var reason = codec().TryDecode(frame(), out var envelope);

        Assert.Equal(expected, reason);
        Assert.Null(envelope);
    }

    // Valid MessagePack, valid framing, but outside what the protocol allows: the codec must say Invalid.
    private static readonly Dictionary<string, Func<byte[]>> InvalidBodies = new()
    {
        ["empty sender name"] = () => Body(Envelope(Probe) with { From = "" }),
        ["control character in sender name"] = () => Body(Envelope(Probe) with { From = "node\n1" }),
        ["sender name too long"] = () => Body(Envelope(Probe) with { From = new string('x', MessageValidator.MaxNameLength + 1) }),
        ["null sender name"] = () => Body(Envelope(Probe) with { From = null! }),
        ["sender address without port"] = () => Body(Envelope(Probe) with { FromAddress = "10.0.0.1" }),
        ["sender address port zero"] = () => Body(Envelope(Probe) with { FromAddress = "10.0.0.1:0" }),
        ["sender address host name"] = () => Body(Envelope(Probe) with { FromAddress = "localhost:7470" }),
        ["sender address port out of range"] = () => Body(Envelope(Probe) with { FromAddress = "10.0.0.1:65536" }),
        ["negative epoch"] = () => Body(Envelope(Probe) with { Epoch = -1 }),
        ["null body"] = () => Body(Envelope(Probe) with { Body = null! }),
        ["unknown union tag"] = () => RawEnvelope(b => { b.Array(2); b.Int(99); b.Array(1); b.Int(1); }),
        ["negative union tag"] = () => RawEnvelope(b => { b.Array(2); b.Int(-1); b.Array(1); b.Int(1); }),
        ["joiner with empty name"] = () => Body(Envelope(new Join(new NodeRef("", "10.0.0.1:7470")))),
        ["joiner with bad address"] = () => Body(Envelope(new Join(new NodeRef("n", "10.0.0.1:x")))),
        ["null joiner"] = () => Body(Envelope(new Join(null!))),
        ["too many shuffle nodes"] = () => Body(Envelope(new Shuffle(Node(1), 1, [.. Enumerable.Range(0, MessageValidator.MaxSampleSize + 1).Select(Node)], 1))),
        ["null shuffle node"] = () => Body(Envelope(new Shuffle(Node(1), 1, [Node(2), null!], 1))),
        ["too many metadata entries"] = () => Body(Envelope(new AdjacencyUpdate(Record(1) with { Metadata = Enumerable.Range(0, MessageValidator.MaxMetadataEntries + 1).ToDictionary(i => $"k{i}", _ => "v") }))),
        ["forward join ttl 65"] = () => Body(Envelope(new ForwardJoin(Node(1), MessageValidator.MaxTimeToLive + 1))),
        ["forward join ttl -1"] = () => Body(Envelope(new ForwardJoin(Node(1), -1))),
        ["shuffle ttl int.MaxValue"] = () => Body(Envelope(new Shuffle(Node(1), int.MaxValue, [], 1))),
        ["multicast without topic"] = () => Body(Envelope(new MulticastData("o", 1, 1, "", [1]))),
    };

    public static TheoryData<string> InvalidBodyCases() => [.. InvalidBodies.Keys];

    [Theory]
    [MemberData(nameof(InvalidBodyCases))]
    public void TryDecode_SemanticallyInvalidEnvelope_DropsInvalid(string name)
    {
        var body = InvalidBodies[name]();

        Assert.Equal(DropReason.Invalid, Codec().TryDecode(PlainFrame(body), out var plain));
        Assert.Null(plain);
        Assert.Equal(DropReason.Invalid, Codec(Key1).TryDecode(SealedFrame(body, Key1), out var sealedEnvelope));
        Assert.Null(sealedEnvelope);
    }

    /// <summary>Nodes of a version before the departure record send digests of two fields: they decode, with no record.</summary>
    [Fact]
    public void Deserialize_GmDigestOfAnOlderNode_DecodesWithNoDepartureRecord()
    {
        var bytes = MessagePack.MessagePackSerializer.Serialize(new OlderGmDigest([new GmVersion("node-1", 1, 2)], true));

        var digest = MessagePack.MessagePackSerializer.Deserialize<GmDigest>(bytes, MessagePack.MessagePackSerializerOptions.Standard.WithSecurity(MessagePack.MessagePackSecurity.UntrustedData));

        Assert.Equal([new GmVersion("node-1", 1, 2)], digest.Versions);
        Assert.True(digest.WantReply);
        Assert.Equal((0, 0UL), (digest.DeparturesCount, digest.DeparturesHash));
    }

    [MessagePack.MessagePackObject]
    public sealed record OlderGmDigest([property: MessagePack.Key(0)] GmVersion[] Versions, [property: MessagePack.Key(1)] bool WantReply);

    [Fact]
    public void TryDecode_UnknownTrailingFieldInEnvelope_IsSkipped()
    {
        // Keys are append-only, so a newer peer's extra field must not break older ones.
        var body = Body(Envelope(Probe));
        byte[] extended = [0x96, .. body[1..], 0xa3, (byte)'n', (byte)'e', (byte)'w'];

        Assert.Equal(DropReason.None, Codec().TryDecode(PlainFrame(extended), out var envelope));
        WireAssert.Equal(Envelope(Probe), envelope);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(MaxFrameSize - FrameCodec.HeaderSize)]
    public void TryReadLength_LengthWithinLimit_ReturnsIt(int length)
    {
        Assert.Equal(DropReason.None, Codec().TryReadLength(Header((uint)length), out var bodyLength));
        Assert.Equal(length, bodyLength);
    }

    [Theory]
    [InlineData(MaxFrameSize - FrameCodec.HeaderSize + 1)]
    [InlineData(int.MaxValue)]
    [InlineData(uint.MaxValue)]
    public void TryReadLength_LengthOverLimit_TooLarge(uint length)
    {
        Assert.Equal(DropReason.TooLarge, Codec().TryReadLength(Header(length), out var bodyLength));
        Assert.Equal(0, bodyLength);
    }

    [Fact]
    public void TryReadLength_HeaderProblems_SameReasonsAsTryDecode()
    {
        var codec = Codec();

        Assert.Equal(DropReason.Truncated, codec.TryReadLength(Header(10)[..^1], out _));
        Assert.Equal(DropReason.BadMagic, codec.TryReadLength(With(Header(10), h => h[0] = 0), out _));
        Assert.Equal(DropReason.UnsupportedVersion, codec.TryReadLength(Header(10, version: 2), out _));
        Assert.Equal(DropReason.WrongCluster, codec.TryReadLength(Header(10, cluster: "other"), out _));
    }

    [Fact]
    public void ClusterHash_DifferentNames_Differ()
    {
        Assert.Equal(FrameCodec.ClusterHash("prod"), FrameCodec.ClusterHash("prod"));
        Assert.NotEqual(FrameCodec.ClusterHash("prod"), FrameCodec.ClusterHash("prod2"));
        Assert.NotEqual(FrameCodec.ClusterHash(""), FrameCodec.ClusterHash("a"));
    }
}
