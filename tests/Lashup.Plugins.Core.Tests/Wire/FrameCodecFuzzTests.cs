using System.Buffers;
using System.Buffers.Binary;
using CsCheck;
using Lashup.Plugins.Core.Wire;
using static Lashup.Plugins.Core.Tests.Wire.WireSamples;

namespace Lashup.Plugins.Core.Tests.Wire;

/// <summary>
/// Whatever arrives, <see cref="FrameCodec.TryDecode(ReadOnlySpan{byte}, out Envelope?)"/> returns a reason instead of
/// throwing, and what it accepts is valid; the stream reader's paths (in place, and from pieces) decide the same. Iterations are bounded so the class runs in seconds; CsCheck prints the seed of any failure to replay it.
/// </summary>
public class FrameCodecFuzzTests
{
    private const long Iterations = 4_000;

    private static readonly string Key = NewKey();
    private static readonly FrameCodec Plain = Codec();
    private static readonly FrameCodec Encrypting = Codec(Key);
    private static readonly Message[] Samples = [.. Messages.Values];

    private enum MutationKind
    {
        FlipBit,
        Truncate,
        Insert,
        Delete,
        Overwrite,
        RewriteLength,
        RewriteLengthNearActual,
    }

    private readonly record struct Mutation(MutationKind Kind, int Position, int Value);

    private static readonly Gen<Mutation> GenMutation =
        Gen.Select(Gen.Enum<MutationKind>(), Gen.Int[0, int.MaxValue], Gen.Int, (kind, position, value) => new Mutation(kind, position, value));

    private static readonly Gen<Mutation[]> GenMutations = GenMutation.Array[1, 6];

    private static readonly Gen<Envelope> GenEnvelope =
        Gen.Select(Gen.Int[0, Samples.Length - 1], Gen.ULong, Gen.Long[0, long.MaxValue], (i, seq, epoch) => Envelope(Samples[i], seq) with { Epoch = epoch });

    [Fact]
    public void TryDecode_RandomBytes_NeverThrows()
    {
        Gen.Byte.Array[0, 2000].Sample(bytes =>
        {
            AssertDecodesSafely(Plain, bytes);
            AssertDecodesSafely(Encrypting, bytes);
        }, iter: Iterations);
    }

    [Fact]
    public void TryDecode_RandomBodyBehindValidHeader_NeverThrows()
    {
        // A valid header (and, encrypted, a valid tag) lets random bytes reach the MessagePack reader.
        Gen.Byte.Array[0, 2000].Sample(body =>
        {
            AssertDecodesSafely(Plain, PlainFrame(body));
            AssertDecodesSafely(Encrypting, SealedFrame(body, Key));
        }, iter: Iterations);
    }

    [Fact]
    public void TryDecode_MutatedValidFrame_NeverThrows()
    {
        Gen.Select(GenEnvelope, Gen.Bool, GenMutations).Sample((envelope, encrypted, mutations) =>
        {
            var codec = encrypted ? Encrypting : Plain;
            var frame = Mutate(codec.Encode(envelope), mutations);

            AssertDecodesSafely(Plain, frame);
            AssertDecodesSafely(Encrypting, frame);
        }, iter: Iterations);
    }

    [Fact]
    public void TryDecode_MutatedBodyInValidFrame_NeverThrows()
    {
        // The mutation happens before framing, so it survives the length check and the AEAD and hits the deserializer.
        Gen.Select(GenEnvelope, GenMutations).Sample((envelope, mutations) =>
        {
            var body = Mutate(Body(envelope), mutations);

            AssertDecodesSafely(Plain, PlainFrame(body));
            AssertDecodesSafely(Encrypting, SealedFrame(body, Key));
        }, iter: Iterations);
    }

    [Fact]
    public void TryReadLength_AnyHeader_NeverThrowsNorExceedsLimit()
    {
        var genHeader = Gen.OneOf(
            Gen.Byte.Array[0, 32],
            Gen.Select(Gen.UInt, Gen.Byte, Gen.Byte, (length, flags, keyId) => With(Header(length, keyId: keyId), h => h[3] = flags)));
        genHeader.Sample(header =>
        {
            foreach (var codec in new[] { Plain, Encrypting })
            {
                var reason = codec.TryReadLength(header, out var length);

                Assert.True(Enum.IsDefined(reason));
                if (reason == DropReason.None)
                {
                    Assert.InRange(length, 0, codec.MaxFrameSize - FrameCodec.HeaderSize);
                    Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(10)), (uint)length);
                }
                else
                {
                    Assert.Equal(0, length);
                }
            }
        }, iter: Iterations);
    }

    public static TheoryData<string> HugeCollections() => [.. Bombs.Keys];

    // Each body declares far more data than the frame holds; none may make the decoder allocate for the claim.
    private static readonly Dictionary<string, byte[]> Bombs = new()
    {
        ["digest claiming 2^31-1 versions"] = RawEnvelope(b => { b.Array(2); b.Int(13); b.Array(2); b.Array(int.MaxValue); }),
        ["digest claiming 2^31 versions"] = RawEnvelope(b => { b.Array(2); b.Int(13); b.Array(2); b.Array(0x8000_0000); }),
        ["digest claiming 2^32-1 versions"] = RawEnvelope(b => { b.Array(2); b.Int(13); b.Array(2); b.Array(uint.MaxValue); }),
        ["records claiming 2^31-1 records"] = RawEnvelope(b => { b.Array(2); b.Int(14); b.Array(1); b.Array(int.MaxValue); }),
        ["shuffle claiming 2^31-1 nodes"] = RawEnvelope(b => { b.Array(2); b.Int(6); b.Array(4); b.Array(2); b.Str("a"); b.Str("10.0.0.1:1"); b.Int(1); b.Array(int.MaxValue); }),
        ["envelope claiming 2^31-1 fields"] = RawEnvelope(_ => { }) is var e ? [0xdd, 0x7f, 0xff, 0xff, 0xff, .. e[1..]] : [],
        ["neighbors claiming 2^31-1 names"] = RecordBomb(b => { b.Array(int.MaxValue); }),
        ["metadata claiming 2^31-1 entries"] = RecordBomb(b => { b.Array(0); b.Map(int.MaxValue); }),
        ["metadata claiming 2^30+1 entries"] = RecordBomb(b => { b.Array(0); b.Map((1u << 30) + 1); }),
        ["string claiming 2 GB"] = RawEnvelope(b => { b.Array(2); b.Int(11); b.Array(2); b.Int(1); b.Raw(0xdb, 0x7f, 0xff, 0xff, 0xff); }),
        ["payload claiming 2 GB"] = RawEnvelope(b => { b.Array(2); b.Int(15); b.Array(5); b.Str("o"); b.Int(0); b.Int(0); b.Str("t"); b.Raw(0xc6, 0x7f, 0xff, 0xff, 0xff); }),
        ["extension claiming 2 GB"] = RawEnvelope(b => b.Raw(0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01)),
        ["nested arrays 10k deep"] = RawEnvelope(b => { b.Array(2); b.Int(13); b.Array(2); b.Raw([.. Enumerable.Repeat((byte)0x91, 10_000), 0xc0]); }),
    };

    private static byte[] RecordBomb(Action<MessagePackBuilder> afterCounter) => RawEnvelope(b =>
    {
        b.Array(2);
        b.Int(12);
        b.Array(1);
        b.Array(7);
        b.Str("n");
        b.Str("10.0.0.1:1");
        b.Int(0);
        b.Int(0);
        afterCounter(b);
    });

    [Theory]
    [MemberData(nameof(HugeCollections))]
    public void TryDecode_HugeDeclaredCollection_RejectedWithoutAllocating(string name)
    {
        var body = Bombs[name];
        var plainFrame = PlainFrame(body);
        var sealedFrame = SealedFrame(body, Key);
        var plain = Codec();
        var encrypting = Codec(Key);

        // Warm up: the first decode builds MessagePack's formatters and JITs the path.
        plain.TryDecode(plainFrame, out _);
        encrypting.TryDecode(sealedFrame, out _);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var plainReason = plain.TryDecode(plainFrame, out var fromPlain);
        var sealedReason = encrypting.TryDecode(sealedFrame, out var fromSealed);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.NotEqual(DropReason.None, plainReason);
        Assert.Equal(plainReason, sealedReason);
        Assert.Null(fromPlain);
        Assert.Null(fromSealed);
        Assert.True(allocated < 1024 * 1024, $"{name}: allocated {allocated} bytes for a {plainFrame.Length}-byte frame");
    }

    [Fact]
    public void TryDecode_HeaderClaiming4GB_RejectedWithoutAllocating()
    {
        var frame = Header(uint.MaxValue);
        Plain.TryDecode(frame, out _);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var reason = Plain.TryDecode(frame, out _);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(DropReason.TooLarge, reason);
        Assert.True(allocated < 1024, $"allocated {allocated} bytes");
    }

    private static void AssertDecodesSafely(FrameCodec codec, byte[] frame)
    {
        // An exception here fails the sample; CsCheck shrinks it and prints the frame.
        var reason = codec.TryDecode(frame, out var envelope);

        Assert.True(Enum.IsDefined(reason), $"undefined reason {reason}");
        if (reason == DropReason.None)
        {
            Assert.True(MessageValidator.IsValid(envelope), "decoded an envelope the validator refuses");
        }
        else
        {
            Assert.Null(envelope);
        }

        // The stream reader decodes in place (one piece) or from pieces: the same verdict, the same envelope.
        var inPlace = codec.TryDecodeInPlace(frame.ToArray(), out var fromInPlace);
        var pieces = codec.TryDecode(Pieces(frame, 1 + (frame.Length % 97)), out var fromPieces);
        Assert.Equal(reason, inPlace);
        Assert.Equal(reason, pieces);
        Assert.Equal(envelope is null ? null : Encoded(envelope), fromInPlace is null ? null : Encoded(fromInPlace));
        Assert.Equal(envelope is null ? null : Encoded(envelope), fromPieces is null ? null : Encoded(fromPieces));
    }

    private static byte[] Encoded(Envelope envelope) => Plain.Encode(envelope);

    /// <summary><paramref name="frame"/> as a sequence of pieces of <paramref name="size"/> bytes.</summary>
    private static ReadOnlySequence<byte> Pieces(byte[] frame, int size)
    {
        if (frame.Length <= size)
        {
            return new ReadOnlySequence<byte>(frame);
        }

        var first = new Piece(frame.AsMemory(0, size), 0);
        var last = first;
        for (var offset = size; offset < frame.Length; offset += size)
        {
            last = last.Append(frame.AsMemory(offset, Math.Min(size, frame.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Piece : ReadOnlySequenceSegment<byte>
    {
        public Piece(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Piece Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Piece(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    private static byte[] Mutate(byte[] input, Mutation[] mutations)
    {
        var bytes = new List<byte>(input);
        foreach (var (kind, position, value) in mutations)
        {
            var at = bytes.Count == 0 ? 0 : position % bytes.Count;
            switch (kind)
            {
                case MutationKind.FlipBit when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << (value & 7));
                    break;
                case MutationKind.Truncate:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case MutationKind.Insert:
                    bytes.InsertRange(at, BitConverter.GetBytes(value).AsSpan(0, 1 + (position % 4)).ToArray());
                    break;
                case MutationKind.Delete when bytes.Count > 0:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + (value & 15)));
                    break;
                case MutationKind.Overwrite when bytes.Count > 0:
                    bytes[at] = (byte)value;
                    break;
                case MutationKind.RewriteLength when bytes.Count >= FrameCodec.HeaderSize:
                    SetLength(bytes, (uint)value);
                    break;
                case MutationKind.RewriteLengthNearActual when bytes.Count >= FrameCodec.HeaderSize:
                    SetLength(bytes, (uint)(bytes.Count - FrameCodec.HeaderSize + (value % 3)));
                    break;
            }
        }

        return [.. bytes];
    }

    private static void SetLength(List<byte> bytes, uint length)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, length);
        for (var i = 0; i < 4; i++)
        {
            bytes[10 + i] = b[i];
        }
    }

    private static byte[] With(byte[] bytes, Action<byte[]> change)
    {
        change(bytes);
        return bytes;
    }
}
