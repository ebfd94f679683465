using System.Security.Cryptography;

namespace Lashup.Plugins.Core.Wire;

/// <summary>
/// AES-GCM keys: the first (primary) encrypts, every key decrypts, so keys rotate without downtime. Each frame names
/// its key by a one-byte id (the first byte of the key's SHA-256) so receivers try only matching keys.
/// </summary>
internal sealed class Keyring : IDisposable
{
    private readonly (byte Id, AesGcm Aes)[] _keys;

    private Keyring((byte, AesGcm)[] keys) => _keys = keys;

    /// <summary>The key ids, primary first (hex): safe to show, unlike the keys.</summary>
    public IReadOnlyList<string> Ids => [.. _keys.Select(k => k.Id.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))];

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
        for (var i = 0; i < keys.Count; i++)
        {
            byte[] raw;
            try
            {
                raw = Convert.FromBase64String(keys[i].Trim());
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
        }

        return new Keyring(parsed);
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
