using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using MessagePack;

namespace Lashup.Plugins.Core.Wire;

/// <summary>Why a received frame was dropped; each reason is a metric label.</summary>
internal enum DropReason
{
    None = 0,
    Truncated,
    BadMagic,
    UnsupportedVersion,
    WrongCluster,
    TooLarge,
    LengthMismatch,
    NotEncrypted,
    UnexpectedEncryption,
    UnknownKey,
    AuthenticationFailed,
    Malformed,
    Invalid,
    Replayed,

    /// <summary>The protocol thread had <c>4096</c> received frames waiting already (a flood): dropped, as a full socket buffer would.</summary>
    Overloaded,
}

/// <summary>
/// Frames every message: a 14-byte header (magic "LX", version, flags, cluster-name hash, key id, length) and a
/// MessagePack <see cref="Envelope"/>, optionally sealed with AES-GCM (the header is the associated data, so it cannot
/// be altered either). Decoding never throws: anything wrong is a <see cref="DropReason"/>. The body is read with
/// <see cref="MessagePackSecurity.UntrustedData"/> and a depth limit, and only after the declared length has been
/// checked against the frame and the size limit, so a frame cannot make us allocate more than its own size allows.
/// </summary>
internal sealed class FrameCodec
{
    public const int HeaderSize = 14;
    public const byte Version = 1;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const byte FlagEncrypted = 1;
    private const int MaxPooled = 64 * 1024;

    private static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithSecurity(MessagePackSecurity.UntrustedData.WithMaximumObjectGraphDepth(12));

    private readonly uint _clusterHash;
    private volatile Keyring? _keyring;
    // Drawn only with a keyring: RandomNumberGenerator initializes OpenSSL, a few MiB of memory a plaintext node never needs.
    private readonly byte[] _noncePrefix;
    private long _nonceCounter;

    public FrameCodec(string clusterName, Keyring? keyring, int maxFrameSize)
    {
        _clusterHash = ClusterHash(clusterName);
        _keyring = keyring;
        _noncePrefix = keyring is null ? [] : RandomNumberGenerator.GetBytes(4);
        MaxFrameSize = maxFrameSize;
    }

    public int MaxFrameSize { get; }

    /// <summary>The keys in use (null: plaintext).</summary>
    public Keyring? Keyring => _keyring;

    /// <summary>
    /// Replaces the keys at run time (key rotation without restart). Encryption cannot be switched on or off this way:
    /// a plaintext node and an encrypting node cannot talk, so that takes a restart of every node.
    /// </summary>
    public void ReplaceKeyring(Keyring keyring)
    {
        if (_keyring is null)
        {
            throw new InvalidOperationException("this node runs without encryption; set core.keyring and restart to enable it");
        }

        // The old keys are not disposed: frames in flight on other threads may still use them; the GC frees them.
        _keyring = keyring;
    }

    public static uint ClusterHash(string clusterName)
    {
        // FNV-1a over UTF-8: cheap, stable across versions, enough to tell clusters apart (not a security boundary;
        // the keyring is).
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(clusterName))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return hash;
    }

    /// <summary>Serializes and frames <paramref name="envelope"/>.</summary>
    public byte[] Encode(Envelope envelope)
    {
        var body = MessagePackSerializer.Serialize(envelope, Options);
        var keyring = _keyring;
        var encrypted = keyring is not null;
        var bodyLength = encrypted ? NonceSize + body.Length + TagSize : body.Length;
        var frame = new byte[HeaderSize + bodyLength];
        frame[0] = (byte)'L';
        frame[1] = (byte)'X';
        frame[2] = Version;
        frame[3] = encrypted ? FlagEncrypted : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), _clusterHash);
        frame[8] = encrypted ? keyring!.PrimaryId : (byte)0;
        frame[9] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(10), (uint)bodyLength);
        if (!encrypted)
        {
            body.CopyTo(frame, HeaderSize);
            return frame;
        }

        var nonce = frame.AsSpan(HeaderSize, NonceSize);
        _noncePrefix.CopyTo(nonce);
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], Interlocked.Increment(ref _nonceCounter));
        var cipher = frame.AsSpan(HeaderSize + NonceSize, body.Length);
        var tag = frame.AsSpan(HeaderSize + NonceSize + body.Length, TagSize);
        var primary = keyring!.Primary;

        // An AesGcm instance is not thread-safe (on OpenSSL it keeps one cipher context), and the transport encodes
        // and decodes on several threads at once: one key, one caller at a time.
        lock (primary)
        {
            primary.Encrypt(nonce, body, cipher, tag, frame.AsSpan(0, HeaderSize));
        }

        return frame;
    }

    /// <summary>Reads the body length from a header (for stream framing); false if the header is not ours or too large.</summary>
    public DropReason TryReadLength(ReadOnlySpan<byte> header, out int bodyLength)
    {
        bodyLength = 0;
        var reason = CheckHeader(header);
        if (reason != DropReason.None)
        {
            return reason;
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header[10..]);
        if (length > (uint)(MaxFrameSize - HeaderSize))
        {
            return DropReason.TooLarge;
        }

        bodyLength = (int)length;
        return DropReason.None;
    }

    /// <summary>
    /// Checks a stream frame's header before its body is read: ours, not too large, sealed (or not) as this node's
    /// frames are, with a key this node holds. The transport refuses a frame that fails here before committing any
    /// memory to it.
    /// </summary>
    public DropReason TryReadStreamHeader(ReadOnlySpan<byte> header, out int bodyLength)
    {
        var reason = TryReadLength(header, out bodyLength);
        if (reason != DropReason.None)
        {
            return reason;
        }

        var encrypted = (header[3] & FlagEncrypted) != 0;
        var keyring = _keyring;
        if (keyring is null)
        {
            return encrypted ? DropReason.UnexpectedEncryption : DropReason.None;
        }

        if (!encrypted)
        {
            return DropReason.NotEncrypted;
        }

        if (bodyLength < NonceSize + TagSize)
        {
            return DropReason.Truncated;
        }

        foreach (var _ in keyring.Candidates(header[8]))
        {
            return DropReason.None;
        }

        return DropReason.UnknownKey;
    }

    /// <summary>Whether a frame with this header is sealed (its body must be opened in one piece).</summary>
    public static bool IsSealed(ReadOnlySpan<byte> header) => header.Length > 3 && (header[3] & FlagEncrypted) != 0;

    /// <summary>
    /// Decodes one whole stream frame held in pieces: a plain body is read from the pieces as they are, without a copy;
    /// a sealed one must be opened in one piece and is copied into one (<see cref="TryDecodeInPlace"/> avoids that).
    /// </summary>
    public DropReason TryDecode(in ReadOnlySequence<byte> frame, out Envelope? envelope)
    {
        envelope = null;
        if (frame.Length > MaxFrameSize)
        {
            return DropReason.TooLarge;
        }

        if (frame.Length < HeaderSize)
        {
            return DropReason.Truncated;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        frame.Slice(0, HeaderSize).CopyTo(header);
        var reason = CheckDecodable(header, frame.Length);
        if (reason != DropReason.None)
        {
            return reason;
        }

        if (IsSealed(header))
        {
            var whole = GC.AllocateUninitializedArray<byte>((int)frame.Length);
            frame.CopyTo(whole);
            return TryDecodeInPlace(whole, out envelope);
        }

        return Deserialize(frame.Slice(HeaderSize), out envelope);
    }

    /// <summary>
    /// Decodes one whole frame held in <paramref name="frame"/>, which it may overwrite: a sealed body is opened where
    /// it lies (AES-GCM decrypts in place), a plain one is read without a copy.
    /// </summary>
    public DropReason TryDecodeInPlace(Memory<byte> frame, out Envelope? envelope)
    {
        envelope = null;
        var span = frame.Span;
        if (span.Length > MaxFrameSize)
        {
            return DropReason.TooLarge;
        }

        var reason = CheckDecodable(span, span.Length);
        if (reason != DropReason.None)
        {
            return reason;
        }

        if (!IsSealed(span))
        {
            return Deserialize(new ReadOnlySequence<byte>(frame[HeaderSize..]), out envelope);
        }

        // Plaintext over ciphertext: AES-GCM allows exactly this overlap. A failed attempt wipes what it wrote, so when
        // two keys share the frame's key id the sealed body is kept aside for the next attempt.
        var plainLength = span.Length - HeaderSize - NonceSize - TagSize;
        var sealedBody = frame.Slice(HeaderSize + NonceSize, plainLength);
        byte[]? saved = null;
        try
        {
            AesGcm? previous = null;
            foreach (var key in _keyring!.Candidates(span[8])) // CheckDecodable found a keyring: it is replaced, never removed
            {
                if (previous is not null)
                {
                    if (saved is null)
                    {
                        saved = ArrayPool<byte>.Shared.Rent(Math.Max(1, plainLength));
                        sealedBody.Span.CopyTo(saved);
                    }

                    if (TryOpen(previous, frame.Span))
                    {
                        return Deserialize(new ReadOnlySequence<byte>(sealedBody), out envelope);
                    }

                    saved.AsSpan(0, plainLength).CopyTo(sealedBody.Span);
                }

                previous = key;
            }

            if (previous is null)
            {
                return DropReason.UnknownKey;
            }

            return TryOpen(previous, frame.Span)
                ? Deserialize(new ReadOnlySequence<byte>(sealedBody), out envelope)
                : DropReason.AuthenticationFailed;
        }
        finally
        {
            if (saved is not null)
            {
                ArrayPool<byte>.Shared.Return(saved);
            }
        }
    }

    /// <summary>Opens the sealed body of <paramref name="frame"/> where it lies; false (the body wiped) if the tag does not match.</summary>
    private static bool TryOpen(AesGcm key, Span<byte> frame)
    {
        var body = frame[HeaderSize..];
        var sealedBody = body.Slice(NonceSize, body.Length - NonceSize - TagSize);
        try
        {
            lock (key)
            {
                key.Decrypt(body[..NonceSize], sealedBody, body[^TagSize..], sealedBody, frame[..HeaderSize]);
            }

            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>Decodes one whole frame.</summary>
    public DropReason TryDecode(ReadOnlySpan<byte> frame, out Envelope? envelope)
    {
        envelope = null;
        if (frame.Length > MaxFrameSize)
        {
            return DropReason.TooLarge;
        }

        var reason = TryReadLength(frame, out var bodyLength);
        if (reason != DropReason.None)
        {
            return reason;
        }

        if (frame.Length - HeaderSize != bodyLength)
        {
            return DropReason.LengthMismatch;
        }

        var encrypted = (frame[3] & FlagEncrypted) != 0;
        var keyring = _keyring;
        if (keyring is null && encrypted)
        {
            return DropReason.UnexpectedEncryption;
        }

        if (keyring is not null && !encrypted)
        {
            return DropReason.NotEncrypted;
        }

        var body = frame[HeaderSize..];
        byte[]? rented = null;
        try
        {
            if (encrypted)
            {
                if (body.Length < NonceSize + TagSize)
                {
                    return DropReason.Truncated;
                }

                var plainLength = body.Length - NonceSize - TagSize;
                rented = Rent(plainLength);
                var plain = rented.AsSpan(0, plainLength);
                var opened = false;
                var anyKey = false;
                foreach (var key in keyring!.Candidates(frame[8]))
                {
                    anyKey = true;
                    try
                    {
                        lock (key)
                        {
                            key.Decrypt(body[..NonceSize], body.Slice(NonceSize, plainLength), body[^TagSize..], plain, frame[..HeaderSize]);
                        }

                        opened = true;
                        break;
                    }
                    catch (AuthenticationTagMismatchException)
                    {
                    }
                }

                if (!anyKey)
                {
                    return DropReason.UnknownKey;
                }

                if (!opened)
                {
                    return DropReason.AuthenticationFailed;
                }

                return Deserialize(rented.AsMemory(0, plainLength), out envelope);
            }

            rented = Rent(body.Length);
            body.CopyTo(rented);
            return Deserialize(rented.AsMemory(0, body.Length), out envelope);
        }
        finally
        {
            if (rented is not null && rented.Length <= MaxPooled)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    // Buffers above this are not pooled: the shared pool keeps what it is given (up to 1 GiB per array), so a few large
    // frames would stay resident long after they were decoded. Larger buffers are plain arrays the GC reclaims.
    private static byte[] Rent(int length) =>
        length <= MaxPooled ? ArrayPool<byte>.Shared.Rent(Math.Max(1, length)) : GC.AllocateUninitializedArray<byte>(length);

    private DropReason CheckHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < HeaderSize)
        {
            return DropReason.Truncated;
        }

        if (header[0] != (byte)'L' || header[1] != (byte)'X')
        {
            return DropReason.BadMagic;
        }

        if (header[2] != Version)
        {
            return DropReason.UnsupportedVersion;
        }

        return BinaryPrimitives.ReadUInt32BigEndian(header[4..]) != _clusterHash ? DropReason.WrongCluster : DropReason.None;
    }

    /// <summary>The checks of a whole frame before its body is read: ours, within the limit, as long as it says, sealed as ours are.</summary>
    private DropReason CheckDecodable(ReadOnlySpan<byte> header, long frameLength)
    {
        var reason = TryReadLength(header, out var bodyLength);
        if (reason != DropReason.None)
        {
            return reason;
        }

        if (frameLength - HeaderSize != bodyLength)
        {
            return DropReason.LengthMismatch;
        }

        var encrypted = IsSealed(header);
        var keyring = _keyring;
        if (keyring is null)
        {
            return encrypted ? DropReason.UnexpectedEncryption : DropReason.None;
        }

        if (!encrypted)
        {
            return DropReason.NotEncrypted;
        }

        return bodyLength < NonceSize + TagSize ? DropReason.Truncated : DropReason.None;
    }

    private static DropReason Deserialize(ReadOnlyMemory<byte> body, out Envelope? envelope) =>
        Deserialize(new ReadOnlySequence<byte>(body), out envelope);

    private static DropReason Deserialize(in ReadOnlySequence<byte> body, out Envelope? envelope)
    {
        envelope = null;
        try
        {
            var reader = new MessagePackReader(body);
            envelope = MessagePackSerializer.Deserialize<Envelope>(ref reader, Options);
            if (!reader.End)
            {
                envelope = null;
                return DropReason.Malformed;
            }
        }
        catch (MessagePackSerializationException)
        {
            return DropReason.Malformed;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or OverflowException or FormatException or IndexOutOfRangeException or InsufficientExecutionStackException or NullReferenceException)
        {
            return DropReason.Malformed;
        }

        if (!MessageValidator.IsValid(envelope))
        {
            envelope = null;
            return DropReason.Invalid;
        }

        return DropReason.None;
    }
}
