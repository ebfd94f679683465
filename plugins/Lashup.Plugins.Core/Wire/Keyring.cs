using System.Security.Cryptography;

namespace Lashup.Plugins.Core.Wire;

/// <summary>
/// AES-GCM keys: the first (primary) encrypts, every key decrypts, so keys rotate without downtime. Each frame names
/// its key by a one-byte id (the first byte of the key's SHA-256) so receivers try only matching keys. For people and
/// for the member graph each key also has a longer public id (<see cref="KeyIds"/>).
/// </summary>
internal sealed class Keyring : IDisposable
{
    private static readonly byte[] KeyIdLabel = "lashup key id"u8.ToArray();
    private readonly (byte Id, AesGcm Aes)[] _keys;
    private readonly string[] _keyIds;

    private Keyring((byte, AesGcm)[] keys, string[] keyIds)
    {
        _keys = keys;
        _keyIds = keyIds;
    }

    /// <summary>
    /// The keys' public ids, primary first: 16 hex digits, the first 8 bytes of HMAC-SHA256(key, "lashup key id").
    /// Safe to show and to publish: without the key they reveal nothing of it, and they tell keys apart (the one-byte
    /// frame id would collide once in 256 pairs).
    /// </summary>
    public IReadOnlyList<string> KeyIds => _keyIds;

    /// <summary>The primary key's id.</summary>
    public byte PrimaryId => _keys[0].Id;

    /// <summary>The primary key.</summary>
    public AesGcm Primary => _keys[0].Aes;

    /// <summary>Parses base64 keys (16, 24 or 32 bytes each). Returns null for an empty list.</summary>
    /// <exception cref="FormatException">A key is not base64 or has the wrong length; the message names its position.</exception>
    public static Keyring? Parse(IReadOnlyList<string> keys)
    {
        if (keys.Count == 0)
        {
            return null;
        }

        var parsed = new (byte, AesGcm)[keys.Count];
        var ids = new string[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            byte[] raw;
            try
            {
                // A null (e.g. {"keys": [null]} on the admin API) is as bad as any other non-base64 text.
                raw = Convert.FromBase64String(keys[i]?.Trim() ?? "?");
            }
            catch (FormatException)
            {
                throw new FormatException($"core.keyring[{i}]: not base64");
            }

            if (raw.Length is not (16 or 24 or 32))
            {
                throw new FormatException($"core.keyring[{i}]: an AES key must be 16, 24 or 32 bytes, this one is {raw.Length}");
            }

            parsed[i] = (SHA256.HashData(raw)[0], new AesGcm(raw, AesGcm.TagByteSizes.MaxSize));
            ids[i] = KeyId(raw);
        }

        return new Keyring(parsed, ids);
    }

    /// <summary>The public id of a raw key (see <see cref="KeyIds"/>).</summary>
    public static string KeyId(ReadOnlySpan<byte> key)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(key, KeyIdLabel, mac);
        return Convert.ToHexStringLower(mac[..8]);
    }

    /// <summary>Keys whose id is <paramref name="id"/>.</summary>
    public IEnumerable<AesGcm> Candidates(byte id)
    {
        foreach (var (keyId, aes) in _keys)
        {
            if (keyId == id)
            {
                yield return aes;
            }
        }
    }

    public void Dispose()
    {
        foreach (var (_, aes) in _keys)
        {
            aes.Dispose();
        }
    }
}
